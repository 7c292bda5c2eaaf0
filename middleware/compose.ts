/**
 * {@linkcode compose}: stacks middleware around a handler.
 *
 * @module
 */

import type { Handler, Middleware } from "./types.ts";

/**
 * Stacks middleware into one: the first one given is the outermost, so it sees the request
 * first and the response last. `compose(a, b, c)(handler)` is `a(b(c(handler)))`.
 *
 * A usual order is `errorPage()` outermost (it also catches what the others throw), then
 * `gzip()`, then `session()`, then the app.
 *
 * @param middleware The middleware, outermost first.
 * @returns One middleware that applies them all.
 *
 * @example Stack two middleware around a handler
 * ```ts
 * import { compose } from "@flup/flup/middleware";
 * import type { Middleware } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * const tag = (name: string): Middleware => (next) => async (request, info) => {
 *   const response = await next(request, info);
 *   response.headers.append("x-order", name);
 *   return response;
 * };
 * const handler = compose(tag("outer"), tag("inner"))(() => new Response("ok"));
 * const info = {} as Parameters<typeof handler>[1];
 * const response = await handler(new Request("http://localhost/"), info);
 * assertEquals(response.headers.get("x-order"), "inner, outer");
 * ```
 */
export function compose(...middleware: Middleware[]): Middleware {
  for (const [index, item] of middleware.entries()) {
    if (typeof item !== "function") {
      throw new TypeError(`Cannot compose middleware: item ${index} is not a function`);
    }
  }
  return function composed(handler: Handler): Handler {
    let wrapped = handler;
    for (let i = middleware.length - 1; i >= 0; i--) {
      const item = middleware[i] as Middleware;
      wrapped = item(wrapped);
    }
    return wrapped;
  };
}
