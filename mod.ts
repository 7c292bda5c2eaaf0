/**
 * flup for Deno: serve any Fetch handler (`(request, info) => Response`, the `Deno.serve`
 * contract) behind nginx, Apache, lighttpd or any FastCGI front end.
 *
 * Protocol codecs are exported from their own subpaths (`@flup/flup/fastcgi`).
 *
 * @example Serve a handler over FastCGI
 * ```ts
 * import { serveFastCgi } from "@flup/flup";
 *
 * const server = serveFastCgi((request) => new Response(`Hello ${request.url}`), { port: 0 });
 * await server.ready;
 * await server.shutdown();
 * ```
 *
 * @module
 */

export * from "./server/mod.ts";
