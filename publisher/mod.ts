/**
 * The publisher (flup's `publisher`): maps URL paths to plain functions through a resolver,
 * passes them a {@linkcode Transaction} and their declared form fields, and turns what they
 * return into the response. It is a handler like any other, so it runs under `Deno.serve`
 * and every flup gateway, and takes middleware (sessions, gzip, error pages).
 *
 * Resolvers: {@linkcode moduleResolver} (a module's exports), {@linkcode objectPathResolver}
 * (nested objects), {@linkcode functionResolver} (one function for every path) and
 * {@linkcode importingModuleResolver} (a directory of modules). Names starting with `_` are
 * never published; `__all__` and `expose()` narrow what is.
 *
 * @example Log in and out with a session
 * ```ts
 * import { expose, moduleResolver, publisher, Redirect } from "@flup/flup/publisher";
 * import type { Transaction } from "@flup/flup/publisher";
 * import { MemoryStore, session } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * const pages = {
 *   index: (t: Transaction) => `Hello, ${t.session?.get("user") ?? "stranger"}`,
 *   login: expose({ params: { name: "required" }, methods: ["POST"] }, (t, { name }) => {
 *     t.session?.regenerate();
 *     t.session?.set("user", name);
 *     return new Redirect("/");
 *   }),
 * };
 * const store = new MemoryStore();
 * const app = session(store)(publisher(moduleResolver(pages)));
 * const info = {} as Parameters<typeof app>[1];
 * const login = await app(
 *   new Request("http://localhost/login", { method: "POST", body: new URLSearchParams({ name: "Ada" }) }),
 *   info,
 * );
 * assertEquals(login.status, 303);
 * const cookie = login.headers.get("set-cookie")?.split(";")[0] ?? "";
 * const home = await app(new Request("http://localhost/", { headers: { cookie } }), info);
 * assertEquals(await home.text(), "Hello, Ada");
 * await store.close();
 * ```
 *
 * @module
 */

export { publisher } from "./publisher.ts";
export type { PublisherOptions } from "./publisher.ts";
export type { Transaction, TransactionResponse } from "./transaction.ts";
export { expose } from "./expose.ts";
export type { ArgsOf, ExposeOptions, ParamKind } from "./expose.ts";
export { InternalRedirect, Redirect } from "./redirect.ts";
export type { RedirectOptions, RedirectStatus } from "./redirect.ts";
export type { Endpoint, EndpointArgs, Resolved, Resolver } from "./resolver.ts";
export { moduleResolver } from "./module_resolver.ts";
export type { ModuleResolverOptions } from "./module_resolver.ts";
export { objectPathResolver } from "./object_path_resolver.ts";
export type { ObjectPathResolverOptions } from "./object_path_resolver.ts";
export { functionResolver } from "./function_resolver.ts";
export { importingModuleResolver } from "./importing_module_resolver.ts";
export type { ImportingModuleResolverOptions } from "./importing_module_resolver.ts";
// Types this module's API mentions, so that its documentation is complete.
export type {
  GatewayInfo,
  GatewayLogger,
  GatewayRole,
  Handler,
  JsonValue,
  LogLevel,
  ProtocolName,
} from "../middleware/types.ts";
export type { CookieOptions } from "../middleware/cookie.ts";
export type { Session, SessionData } from "../middleware/session.ts";
