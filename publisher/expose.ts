/**
 * {@linkcode expose}: declares a published function's named arguments (form fields and query
 * parameters) and the HTTP methods it accepts.
 *
 * In Python, flup read a function's keyword parameters to pass it form fields. TypeScript
 * erases parameter names, so a function declares them instead:
 *
 * ```ts ignore
 * export const login = expose(
 *   { params: { username: "required", remember: "optional" }, methods: ["POST"] },
 *   (transaction, { username, remember }) => ...,   // username: string, remember: string | undefined
 * );
 * ```
 *
 * | Kind         | The argument's type   | When the field is missing    |
 * | ------------ | --------------------- | ---------------------------- |
 * | `"required"` | `string`              | 400 Bad Request              |
 * | `"optional"` | `string \| undefined` | `undefined`                  |
 * | `"list"`     | `string[]`            | `[]` (every value, in order) |
 * | `"file"`     | `File`                | 400 (multipart upload)       |
 *
 * A single-valued field given twice takes its first value (query before body). A text field
 * that receives a file upload, or a file field that receives text, is a 400.
 *
 * @example Declare and type the arguments
 * ```ts
 * import { expose } from "@flup/flup/publisher";
 *
 * export const greet = expose(
 *   { params: { name: "required", title: "optional" } },
 *   (_transaction, { name, title }) => `Hello, ${title ? `${title} ` : ""}${name}`,
 * );
 * ```
 *
 * @module
 */

import { DEFAULT_METHODS, EXPOSURE, type Exposure, type ParamKind } from "./_exposed.ts";
import type { Endpoint } from "./resolver.ts";
import type { Transaction } from "./transaction.ts";

export type { ParamKind };

/** The arguments object a function declared with these params receives. */
export type ArgsOf<P extends Readonly<Record<string, ParamKind>>> = {
  readonly [K in keyof P]: P[K] extends "required" ? string
    : P[K] extends "optional" ? string | undefined
    : P[K] extends "list" ? string[]
    : File;
};

/** What {@linkcode expose} declares. */
export interface ExposeOptions<P extends Readonly<Record<string, ParamKind>>> {
  /**
   * The named arguments and their kinds.
   *
   * @default {{}}
   */
  params?: P;
  /**
   * The HTTP methods accepted; others get 405 with an `Allow` header. HEAD is accepted with
   * GET (the gateway drops the body).
   *
   * @default {["GET", "HEAD", "POST"]}
   */
  methods?: readonly string[];
}

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PARAM_KINDS: readonly string[] = ["required", "optional", "list", "file"];

/**
 * Declares a published function: its named arguments, taken from the form and query string,
 * and the methods it accepts. The result is also what resolvers with `exposedOnly: true`
 * publish (flup's `exposed` attribute).
 *
 * @typeParam P The params, inferred from `options.params`.
 * @param options The params and methods.
 * @param fn The function; its second argument is typed from `params`.
 * @returns The function to export or put in an object tree.
 * @throws {TypeError} When a kind or method is not valid.
 *
 * @example Accept PUT and DELETE only
 * ```ts
 * import { expose } from "@flup/flup/publisher";
 *
 * export const entry = expose({ methods: ["GET", "PUT", "DELETE"] }, (transaction) =>
 *   `${transaction.request.method} ${transaction.pathInfo}`);
 * ```
 */
export function expose<const P extends Readonly<Record<string, ParamKind>> = Record<never, never>>(
  options: ExposeOptions<P>,
  fn: (transaction: Transaction, args: ArgsOf<P>) => unknown,
): Endpoint {
  if (typeof fn !== "function") throw new TypeError("Cannot expose: fn is not a function");
  const params: Record<string, ParamKind> = {};
  for (const [name, kind] of Object.entries(options.params ?? {})) {
    if (!PARAM_KINDS.includes(kind as string)) {
      throw new TypeError(
        `Cannot expose param "${name}": kind "${kind}" is not required, optional, list or file`,
      );
    }
    Object.defineProperty(params, name, { value: kind, enumerable: true });
  }
  const methods = (options.methods ?? DEFAULT_METHODS).map((method) => {
    if (!METHOD.test(method)) throw new TypeError(`Cannot expose: "${method}" is not a method`);
    return method.toUpperCase();
  });
  if (methods.includes("GET") && !methods.includes("HEAD")) methods.push("HEAD");
  const exposure: Exposure = { methods: Object.freeze(methods), params: Object.freeze(params) };
  const endpoint: Endpoint = (transaction, args) => fn(transaction, args as ArgsOf<P>);
  Object.defineProperty(endpoint, EXPOSURE, { value: Object.freeze(exposure) });
  Object.defineProperty(endpoint, "name", { value: fn.name || "exposed" });
  return endpoint;
}
