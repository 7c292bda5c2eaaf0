/**
 * Middleware for any flup handler: sessions ({@linkcode session} with a memory, file, SQLite
 * or Redis store), compression ({@linkcode gzip}) and error pages ({@linkcode errorPage}),
 * stacked with {@linkcode compose}. Each is a plain handler-in, handler-out wrapper, so it
 * works the same under `Deno.serve` and over FastCGI, SCGI, AJP and CGI, in every flavor.
 *
 * @example An app with error pages, compression and sessions
 * ```ts
 * import { compose, errorPage, getSession, gzip, MemoryStore, session } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * const store = new MemoryStore();
 * const app = compose(errorPage(), gzip(), session(store))((request) => {
 *   const visits = getSession<{ n: number }>(request);
 *   visits.set("n", (visits.get("n") ?? 0) + 1);
 *   return new Response(`You have been here ${visits.get("n")} times`);
 * });
 * const response = await app(new Request("http://localhost/"), {} as Parameters<typeof app>[1]);
 * assertEquals(await response.text(), "You have been here 1 times");
 * await store.close();
 * ```
 *
 * @module
 */

export * from "./types.ts";
export { compose } from "./compose.ts";
export { formatSetCookie, parseCookieHeader } from "./cookie.ts";
export type { CookieOptions } from "./cookie.ts";
export { findSession, getSession, session } from "./session.ts";
export type { Session, SessionCookieOptions, SessionData, SessionOptions } from "./session.ts";
export type { SessionChanges, SessionRecord, SessionStore } from "./session_store.ts";
export { MemoryStore } from "./memory_store.ts";
export type { MemoryStoreOptions } from "./memory_store.ts";
export { FileStore } from "./file_store.ts";
export type { FileStoreOptions } from "./file_store.ts";
export { SqliteStore } from "./sqlite_store.ts";
export type { SqliteStoreOptions } from "./sqlite_store.ts";
export { RedisStore } from "./redis_store.ts";
export type { RedisCommandClient, RedisStoreOptions } from "./redis_store.ts";
export { DEFAULT_COMPRESSIBLE_TYPES, gzip } from "./gzip.ts";
export type { ContentCoding, GzipOptions } from "./gzip.ts";
export { errorPage } from "./error_page.ts";
export type { ErrorPageOptions, ErrorReport } from "./error_page.ts";
