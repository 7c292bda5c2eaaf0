/**
 * {@linkcode moduleResolver}: publishes the exported functions of one module.
 *
 * @example Publish this module's functions
 * ```ts
 * import { moduleResolver, publisher } from "@flup/flup/publisher";
 *
 * const pages = {
 *   index: () => "<p>Home</p>",
 *   about: () => "<p>About</p>",
 *   _secret: () => "never reachable",
 * };
 * const handler = publisher(moduleResolver(pages));
 * ```
 *
 * @module
 */

import { asEndpoint, checkIndexName, publishedMember } from "./_traverse.ts";
import type { Resolver } from "./resolver.ts";

/** Options of {@linkcode moduleResolver} and {@linkcode objectPathResolver}. */
export interface ModuleResolverOptions {
  /**
   * The function that answers an empty name (`/`, or a trailing slash).
   *
   * @default {"index"}
   */
  index?: string;
  /**
   * Publish only functions declared with `expose()` (flup's `exposed` attribute).
   *
   * @default {false}
   */
  exposedOnly?: boolean;
}

/**
 * Publishes the functions of a module namespace (`import * as pages from "./pages.ts"`) or
 * any object: the first path segment names the function, `/` is `index`, and the rest of the
 * path is `transaction.pathInfo` (`/entry/42` calls `entry` with pathInfo `/42`).
 *
 * Never published: names starting with `_`, names that are not plain identifiers, inherited
 * properties, getters, classes, and values that are not functions. When the module exports
 * `__all__` (a string array, as in flup), only the names it lists are published.
 *
 * @param module The module namespace or object.
 * @param options The index name and `exposedOnly`.
 * @returns The resolver.
 * @throws {TypeError} When `index` is not a public identifier.
 *
 * @example Resolve a path
 * ```ts
 * import { moduleResolver } from "@flup/flup/publisher";
 * import { assertEquals } from "@std/assert";
 *
 * const resolver = moduleResolver({ index: () => "home", _hidden: () => "no" });
 * assertEquals((await resolver.resolve([]))?.consumed, 0);
 * assertEquals(await resolver.resolve(["_hidden"]), null);
 * ```
 */
export function moduleResolver(module: object, options: ModuleResolverOptions = {}): Resolver {
  const index = checkIndexName("index", options.index ?? "index");
  const exposedOnly = options.exposedOnly ?? false;
  return {
    resolve(segments) {
      const name = segments[0] ?? "";
      const endpoint = asEndpoint(
        publishedMember(module, name === "" ? index : name),
        exposedOnly,
      );
      return endpoint === null ? null : { endpoint, consumed: segments.length > 0 ? 1 : 0 };
    },
  };
}
