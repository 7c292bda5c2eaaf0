// Binds declared params to form values: the named arguments of an exposed function.

import type { ParamKind } from "./_exposed.ts";
import type { EndpointArgs } from "./resolver.ts";

/** The arguments, or the message of a 400. */
export type BindResult = { ok: true; args: EndpointArgs } | { ok: false; message: string };

/** Takes each declared param from `form` per its kind. */
export function bindArguments(
  params: Readonly<Record<string, ParamKind>>,
  form: FormData,
): BindResult {
  const args: Record<string, string | string[] | File | undefined> = {};
  for (const [name, kind] of Object.entries(params)) {
    const values = form.getAll(name);
    let value: string | string[] | File | undefined;
    if (kind === "list") {
      if (values.some((item) => typeof item !== "string")) {
        return { ok: false, message: `Field "${name}" must be text, not a file.` };
      }
      value = values as string[];
    } else if (kind === "file") {
      const first = values[0];
      if (!(first instanceof File)) {
        return { ok: false, message: `Missing file upload "${name}".` };
      }
      value = first;
    } else {
      const first = values[0];
      if (first instanceof File) {
        return { ok: false, message: `Field "${name}" must be text, not a file.` };
      }
      if (first === undefined && kind === "required") {
        return { ok: false, message: `Missing required field "${name}".` };
      }
      value = first;
    }
    Object.defineProperty(args, name, { value, enumerable: true });
  }
  return { ok: true, args };
}
