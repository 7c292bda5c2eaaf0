/**
 * {@linkcode importingModuleResolver}: publishes a directory of modules, imported on first
 * use.
 *
 * @example Publish `pages/*.ts`
 * ```ts ignore
 * import { importingModuleResolver, publisher } from "@flup/flup/publisher";
 *
 * // /           -> pages/index.ts, export index
 * // /blog       -> pages/blog.ts, export index
 * // /blog/entry -> pages/blog.ts, export entry
 * // /admin/user -> pages/admin/index.ts... or pages/admin/user.ts when admin/ is a directory
 * export default { fetch: publisher(importingModuleResolver(new URL("./pages/", import.meta.url))) };
 * ```
 *
 * @module
 */

import { resolve, toFileUrl } from "@std/path";
import { asEndpoint, checkIndexName, publishedMember } from "./_traverse.ts";
import type { Endpoint, Resolved, Resolver } from "./resolver.ts";

/** Options of {@linkcode importingModuleResolver}. */
export interface ImportingModuleResolverOptions {
  /**
   * The function called when the path names a module but no function.
   *
   * @default {"index"}
   */
  index?: string;
  /**
   * The module (file name without extension) used when the path names a directory.
   *
   * @default {"index"}
   */
  defaultModule?: string;
  /**
   * File extensions tried, in order, for a module name.
   *
   * @default {[".ts", ".js"]}
   */
  extensions?: readonly string[];
  /**
   * Publish only functions declared with `expose()`.
   *
   * @default {false}
   */
  exposedOnly?: boolean;
}

/**
 * A module or directory name a path may use: letters, digits, `-` and `_`, not starting with
 * `_`, `-` or a dot. No `/`, `\`, `.` or `%` can appear, so a path cannot leave the directory.
 */
const MODULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/**
 * Publishes the modules of a directory (flup's `ImportingModuleResolver`): `/module/function`
 * imports `DIR/module.ts` and calls its export `function`, `/module` its `index`, and `/` the
 * `index` of `DIR/index.ts`. A segment that names a subdirectory descends into it first
 * (`/admin/users/list` is `DIR/admin/users.ts`, export `list`). The rest of the path is
 * `transaction.pathInfo`.
 *
 * Path traversal cannot happen: module and directory names must match
 * `[A-Za-z0-9][A-Za-z0-9_-]*` (no dots, slashes or leading `_`), and the resolved URL is
 * checked to lie under the directory. Inside a module, {@linkcode moduleResolver}'s rules
 * apply (`_` names, `__all__`, `exposedOnly`). Modules whose names start with `_` can hold
 * private helpers.
 *
 * Permissions: `--allow-read` of the directory (to look for modules and import them).
 *
 * @param dir The directory: a path (relative to the working directory) or a `file:` URL.
 * @param options Index and default module names, extensions, `exposedOnly`.
 * @returns The resolver.
 * @throws {TypeError} When a name option is invalid or `dir` is not a `file:` URL.
 *
 * @example Resolve a path in a directory
 * ```ts
 * import { importingModuleResolver } from "@flup/flup/publisher";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/blog.ts`, "export const entry = () => 'entry';");
 * const resolver = importingModuleResolver(dir);
 * assertEquals((await resolver.resolve(["blog", "entry", "42"]))?.consumed, 2);
 * assertEquals(await resolver.resolve(["..", "etc"]), null);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function importingModuleResolver(
  dir: string | URL,
  options: ImportingModuleResolverOptions = {},
): Resolver {
  const index = checkIndexName("index", options.index ?? "index");
  const defaultModule = options.defaultModule ?? "index";
  if (!MODULE_NAME.test(defaultModule)) {
    throw new TypeError(`Cannot use defaultModule "${defaultModule}": not a plain module name`);
  }
  const extensions = options.extensions ?? [".ts", ".js"];
  for (const extension of extensions) {
    if (!/^\.[A-Za-z0-9]+$/.test(extension)) {
      throw new TypeError(`Cannot use extension "${extension}": give a dot and letters`);
    }
  }
  const exposedOnly = options.exposedOnly ?? false;
  let root = typeof dir === "string" ? toFileUrl(resolve(dir)) : new URL(dir.href);
  if (root.protocol !== "file:") {
    throw new TypeError(`Cannot publish modules from "${root.href}": not a file: URL`);
  }
  if (!root.pathname.endsWith("/")) root = new URL(`${root.href}/`);
  const base = root.href;

  const isDirectory = async (url: URL): Promise<boolean> => {
    try {
      return (await Deno.stat(url)).isDirectory;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  };
  const findModule = async (directory: URL, name: string): Promise<object | null> => {
    for (const extension of extensions) {
      const url = new URL(`${name}${extension}`, directory);
      if (!url.href.startsWith(base)) return null;
      let isFile: boolean;
      try {
        isFile = (await Deno.stat(url)).isFile;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        throw error;
      }
      if (isFile) return await import(url.href) as object;
    }
    return null;
  };
  const inModule = (module: object, name: string, consumed: number): Resolved | null => {
    const endpoint: Endpoint | null = asEndpoint(
      publishedMember(module, name === "" ? index : name),
      exposedOnly,
    );
    return endpoint === null ? null : { endpoint, consumed };
  };

  return {
    async resolve(segments) {
      let directory = root;
      for (let i = 0;; i++) {
        const name = segments[i] ?? "";
        if (name === "") {
          // The end of the path, or a trailing slash: the directory's default module.
          if (i < segments.length - 1) return null;
          const module = await findModule(directory, defaultModule);
          return module === null ? null : inModule(module, "", Math.min(i + 1, segments.length));
        }
        if (!MODULE_NAME.test(name)) return null;
        const sub = new URL(`${name}/`, directory);
        if (sub.href.startsWith(base) && await isDirectory(sub)) {
          directory = sub;
          continue;
        }
        const module = await findModule(directory, name);
        if (module === null) return null;
        const functionName = segments[i + 1] ?? "";
        const consumed = i + 1 + (i + 1 < segments.length ? 1 : 0);
        return inModule(module, functionName, consumed);
      }
    },
  };
}
