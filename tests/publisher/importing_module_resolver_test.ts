// importingModuleResolver(): a directory of modules, path-traversal-proof.

import { assertEquals, assertThrows } from "@std/assert";
import { importingModuleResolver } from "../../publisher/importing_module_resolver.ts";
import { publisher } from "../../publisher/publisher.ts";
import type { GatewayInfo } from "../../server/types.ts";

const PAGES = new URL("./fixtures/pages/", import.meta.url);
const info = {} as GatewayInfo;
const handler = publisher(importingModuleResolver(PAGES));

async function get(path: string): Promise<[number, string]> {
  const response = await handler(new Request(`http://localhost${path}`), info);
  return [response.status, await response.text()];
}

Deno.test("importingModuleResolver() maps /module/function, /module and / to files and exports", async () => {
  assertEquals(await get("/"), [200, "index.ts index |/"]);
  assertEquals((await get("/about"))[0], 404); // "about" is no module
  assertEquals(await get("/index/about"), [200, "index.ts about"]);
  assertEquals(await get("/blog"), [200, "blog.ts index"]);
  assertEquals(await get("/blog/"), [200, "blog.ts index"]);
  assertEquals(await get("/blog/entry"), [200, "blog.ts entry /blog/entry| (helped)"]);
  assertEquals(await get("/blog/entry/42/x"), [200, "blog.ts entry /blog/entry|/42/x (helped)"]);
  assertEquals(await get("/blog/exposed?n=7"), [200, "exposed 7"]);
  assertEquals((await get("/blog/exposed"))[0], 400);
});

Deno.test("importingModuleResolver() descends into subdirectories and their default module", async () => {
  assertEquals(await get("/admin"), [200, "admin/index.ts index"]);
  assertEquals(await get("/admin/"), [200, "admin/index.ts index"]);
  assertEquals(await get("/admin/users/list/7"), [200, "admin/users.ts list /admin/users/list|/7"]);
});

Deno.test("importingModuleResolver() never publishes private, unlisted or non-function names", async () => {
  for (
    const path of [
      "/blog/_private",
      "/blog/Widget",
      "/blog/settings",
      "/blog/version",
      "/blog/constructor",
      "/blog/__proto__",
      "/blog/toString",
      "/_helper",
      "/_helper/helper",
      "/_private_dir/secret",
      "/listed/unlisted",
      "/listed/__all__",
      "/nothing",
      "/blog/nothing",
    ]
  ) {
    assertEquals((await get(path))[0], 404, path);
  }
  assertEquals(await get("/listed/shown"), [200, "listed.ts shown"]);
});

Deno.test("importingModuleResolver() cannot be led out of its directory", async () => {
  for (
    const path of [
      "/../outside",
      "/%2e%2e/outside",
      "/%2E%2E/outside",
      "/..%2foutside",
      "/..%2Foutside",
      "/admin/%2e%2e/outside",
      "/%2e%2e%2foutside",
      "/.%2e/outside",
      "/..\\outside",
      "/%5c..%5coutside",
      "/v1.2",
      "/blog.ts",
      "/blog%00",
      "/%00",
      "/admin//users/list",
      "/-x",
      "/%252e%252e/outside",
    ]
  ) {
    assertEquals((await get(path))[0], 404, path);
  }
  // Asked directly, the resolver refuses dotted and odd names too.
  const resolver = importingModuleResolver(PAGES);
  for (const segments of [[".."], ["..", "outside"], ["."], ["v1.2"], ["a/b"], ["%2e"], [""]]) {
    const resolved = await resolver.resolve(segments);
    if (segments[0] === "") assertEquals(resolved?.consumed, 1); // "/" with a trailing slash
    else assertEquals(resolved, null, JSON.stringify(segments));
  }
});

Deno.test("importingModuleResolver() takes a path, index and default module names, and exposedOnly", async () => {
  const relative = publisher(
    importingModuleResolver("tests/publisher/fixtures/pages", {
      index: "about",
      exposedOnly: false,
    }),
  );
  const response = await relative(new Request("http://localhost/index"), info);
  assertEquals(await response.text(), "index.ts about");
  const exposedOnly = publisher(importingModuleResolver(PAGES, { exposedOnly: true }));
  assertEquals((await exposedOnly(new Request("http://localhost/blog/entry"), info)).status, 404);
  assertEquals(
    (await exposedOnly(new Request("http://localhost/blog/exposed?n=1"), info)).status,
    200,
  );
  const otherDefault = publisher(importingModuleResolver(PAGES, { defaultModule: "blog" }));
  assertEquals(
    await (await otherDefault(new Request("http://localhost/"), info)).text(),
    "blog.ts index",
  );
  assertThrows(() => importingModuleResolver(PAGES, { defaultModule: "../x" }), TypeError);
  assertThrows(() => importingModuleResolver(PAGES, { index: "_x" }), TypeError);
  assertThrows(() => importingModuleResolver(PAGES, { extensions: ["ts"] }), TypeError);
  assertThrows(() => importingModuleResolver(new URL("https://example.com/pages/")), TypeError);
});
