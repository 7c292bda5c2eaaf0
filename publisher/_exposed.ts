// Where expose() keeps a function's declaration, and how the publisher and resolvers read it.

/** The kinds of named argument a published function can declare. */
export type ParamKind = "required" | "optional" | "list" | "file";

/** What expose() recorded about a function. */
export interface Exposure {
  methods: readonly string[];
  params: Readonly<Record<string, ParamKind>>;
}

/** The property expose() sets; shared by every copy of this module. */
export const EXPOSURE = Symbol.for("flup.publisher.exposure");

/** The methods a function accepts when it declares none. */
export const DEFAULT_METHODS: readonly string[] = ["GET", "HEAD", "POST"];

/** The declaration of an exposed function, or `undefined` for a plain one. */
export function exposureOf(fn: unknown): Exposure | undefined {
  if (typeof fn !== "function") return undefined;
  const descriptor = Object.getOwnPropertyDescriptor(fn, EXPOSURE);
  return descriptor?.value as Exposure | undefined;
}
