/**
 * {@linkcode functionResolver}: publishes one function for every path.
 *
 * @example One function that reads the path itself
 * ```ts
 * import { functionResolver, publisher } from "@flup/flup/publisher";
 *
 * const handler = publisher(functionResolver((transaction) => `You asked for ${transaction.pathInfo}`));
 * ```
 *
 * @module
 */

import type { Endpoint, Resolver } from "./resolver.ts";

/**
 * Publishes `endpoint` at every path; it finds the whole path in `transaction.pathInfo` (and
 * `transaction.scriptName` is the publisher's prefix). Useful for REST-style apps that route
 * themselves.
 *
 * @param endpoint The function (plain or declared with `expose()`).
 * @returns The resolver.
 * @throws {TypeError} When `endpoint` is not a function.
 *
 * @example Every path resolves
 * ```ts
 * import { functionResolver } from "@flup/flup/publisher";
 * import { assertEquals } from "@std/assert";
 *
 * const resolver = functionResolver(() => "hi");
 * assertEquals((await resolver.resolve(["any", "path"]))?.consumed, 0);
 * ```
 */
export function functionResolver(endpoint: Endpoint): Resolver {
  if (typeof endpoint !== "function") {
    throw new TypeError("Cannot make a function resolver: endpoint is not a function");
  }
  return { resolve: () => ({ endpoint, consumed: 0 }) };
}
