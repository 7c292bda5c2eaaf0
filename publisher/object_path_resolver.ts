/**
 * {@linkcode objectPathResolver}: publishes a tree of objects, one path segment per level.
 *
 * @example A small site as nested objects
 * ```ts
 * import { objectPathResolver, publisher } from "@flup/flup/publisher";
 *
 * const site = {
 *   index: () => "<p>Home</p>",
 *   blog: { index: () => "<p>All posts</p>", latest: () => "<p>Latest</p>" },
 * };
 * const handler = publisher(objectPathResolver(site));
 * ```
 *
 * @module
 */

import { asEndpoint, checkIndexName, isTraversable, publishedMember } from "./_traverse.ts";
import type { ModuleResolverOptions } from "./module_resolver.ts";
import type { Resolver } from "./resolver.ts";

/** Options of {@linkcode objectPathResolver}. */
export type ObjectPathResolverOptions = ModuleResolverOptions;

/**
 * Publishes nested objects (flup's `ObjectPathResolver`, after CherryPy): each path segment
 * descends one property, until a function is found; the rest of the path is
 * `transaction.pathInfo`. A path that ends on an object (or with a slash) calls its `index`.
 * `/blog/latest` calls `root.blog.latest`; `/blog` and `/blog/` call `root.blog.index`.
 *
 * The name rules of {@linkcode moduleResolver} apply at every level: no `_` names, own data
 * properties only, each object's `__all__` respected, `exposedOnly` when asked.
 *
 * @param root The root object.
 * @param options The index name and `exposedOnly`.
 * @returns The resolver.
 * @throws {TypeError} When `index` is not a public identifier.
 *
 * @example Resolve nested paths
 * ```ts
 * import { objectPathResolver } from "@flup/flup/publisher";
 * import { assertEquals } from "@std/assert";
 *
 * const resolver = objectPathResolver({ a: { b: () => "b", index: () => "a" } });
 * assertEquals((await resolver.resolve(["a", "b", "42"]))?.consumed, 2);
 * assertEquals((await resolver.resolve(["a", ""]))?.consumed, 1);
 * ```
 */
export function objectPathResolver(
  root: object,
  options: ObjectPathResolverOptions = {},
): Resolver {
  const index = checkIndexName("index", options.index ?? "index");
  const exposedOnly = options.exposedOnly ?? false;
  return {
    resolve(segments) {
      let current: object = root;
      let depth = 0;
      for (; depth < segments.length; depth++) {
        const name = segments[depth] as string;
        if (name === "") {
          // A trailing slash names the object's index; an empty segment inside the path
          // (`/a//b`) names nothing.
          if (depth !== segments.length - 1) return null;
          break;
        }
        const value = publishedMember(current, name);
        const endpoint = asEndpoint(value, exposedOnly);
        if (endpoint !== null) return { endpoint, consumed: depth + 1 };
        if (!isTraversable(value)) return null;
        current = value;
      }
      const endpoint = asEndpoint(publishedMember(current, index), exposedOnly);
      return endpoint === null ? null : { endpoint, consumed: depth };
    },
  };
}
