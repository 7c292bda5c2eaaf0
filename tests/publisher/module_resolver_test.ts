// moduleResolver(): one module's exported functions.

import { assertEquals, assertThrows } from "@std/assert";
import { expose } from "../../publisher/expose.ts";
import { moduleResolver } from "../../publisher/module_resolver.ts";
import * as blog from "./fixtures/pages/blog.ts";
import * as listed from "./fixtures/pages/listed.ts";

Deno.test("moduleResolver() resolves the first segment to an exported function, / to index", async () => {
  const resolver = moduleResolver(blog);
  assertEquals(await resolver.resolve([]), { endpoint: blog.index, consumed: 0 });
  assertEquals(await resolver.resolve([""]), { endpoint: blog.index, consumed: 1 });
  assertEquals(await resolver.resolve(["entry"]), { endpoint: blog.entry, consumed: 1 });
  assertEquals(await resolver.resolve(["entry", "42"]), { endpoint: blog.entry, consumed: 1 });
});

Deno.test("moduleResolver() skips _ names, classes, objects, values, prototypes, getters and unlisted names", async () => {
  const resolver = moduleResolver(blog);
  for (
    const name of [
      "_private",
      "Widget",
      "settings",
      "version",
      "constructor",
      "toString",
      "__proto__",
      "default",
    ]
  ) {
    assertEquals(await resolver.resolve([name]), null, name);
  }
  const getter = moduleResolver({
    get computed() {
      throw new Error("getters are never run");
    },
  });
  assertEquals(await getter.resolve(["computed"]), null);
  const inherited = moduleResolver(Object.create({ hello: () => "from the prototype" }));
  assertEquals(await inherited.resolve(["hello"]), null);
  assertEquals(await moduleResolver(listed).resolve(["unlisted"]), null);
  assertEquals((await moduleResolver(listed).resolve(["shown"]))?.consumed, 1);
});

Deno.test("moduleResolver() with exposedOnly publishes expose()d functions only; index is configurable", async () => {
  const plain = () => "plain";
  const shown = expose({}, () => "shown");
  const resolver = moduleResolver({ plain, shown, home: shown }, {
    exposedOnly: true,
    index: "home",
  });
  assertEquals(await resolver.resolve(["plain"]), null);
  assertEquals((await resolver.resolve(["shown"]))?.endpoint, shown);
  assertEquals((await resolver.resolve([]))?.endpoint, shown);
  assertThrows(() => moduleResolver({}, { index: "_hidden" }), TypeError, "index");
});
