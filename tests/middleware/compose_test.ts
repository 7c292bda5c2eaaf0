// compose(): order, named wrappers, argument checks.

import { assertEquals, assertThrows } from "@std/assert";
import { compose } from "../../middleware/compose.ts";
import { errorPage } from "../../middleware/error_page.ts";
import { gzip } from "../../middleware/gzip.ts";
import { MemoryStore } from "../../middleware/memory_store.ts";
import { session } from "../../middleware/session.ts";
import type { Middleware } from "../../middleware/types.ts";
import type { GatewayInfo } from "../../server/types.ts";

const info = {} as GatewayInfo;

Deno.test("compose() runs the first middleware outermost", async () => {
  const order: string[] = [];
  const tag = (name: string): Middleware => (next) => async (request, gatewayInfo) => {
    order.push(`${name} in`);
    const response = await next(request, gatewayInfo);
    order.push(`${name} out`);
    return response;
  };
  const handler = compose(tag("a"), tag("b"), tag("c"))(() => {
    order.push("handler");
    return new Response("ok");
  });
  await handler(new Request("http://localhost/"), info);
  assertEquals(order, ["a in", "b in", "c in", "handler", "c out", "b out", "a out"]);
});

Deno.test("compose() with nothing returns the handler itself", () => {
  const handler = () => new Response("ok");
  assertEquals(compose()(handler), handler);
});

Deno.test("compose() refuses what is not a function, naming its position", () => {
  assertThrows(() => compose(gzip(), "x" as unknown as Middleware), TypeError, "item 1");
});

Deno.test("each middleware factory returns a named wrapper that returns a named handler", async () => {
  const store = new MemoryStore();
  const wrappers: [Middleware, string, string][] = [
    [session(store), "sessionMiddleware", "sessionHandler"],
    [gzip(), "gzipMiddleware", "gzipHandler"],
    [errorPage(), "errorPageMiddleware", "errorPageHandler"],
  ];
  for (const [middleware, name, handlerName] of wrappers) {
    assertEquals(middleware.name, name);
    assertEquals(middleware(() => new Response()).name, handlerName);
  }
  await store.close();
});
