// objectPathResolver(): nested objects, one level per segment.

import { assertEquals } from "@std/assert";
import { expose } from "../../publisher/expose.ts";
import { objectPathResolver } from "../../publisher/object_path_resolver.ts";

const root = {
  index: () => "root",
  blog: {
    index: () => "blog index",
    latest: () => "latest",
    archive: { year: () => "year" },
    __all__: ["index", "latest", "archive"],
    draft: () => "unlisted",
  },
  _admin: { index: () => "private" },
  list: [() => "arrays are not descended"],
  nothing: null,
};

Deno.test("objectPathResolver() descends objects until a function; the rest is pathInfo", async () => {
  const resolver = objectPathResolver(root);
  assertEquals(await resolver.resolve([]), { endpoint: root.index, consumed: 0 });
  assertEquals(await resolver.resolve(["blog"]), { endpoint: root.blog.index, consumed: 1 });
  assertEquals(await resolver.resolve(["blog", ""]), { endpoint: root.blog.index, consumed: 1 });
  assertEquals(await resolver.resolve(["blog", "latest", "x", "y"]), {
    endpoint: root.blog.latest,
    consumed: 2,
  });
  assertEquals(await resolver.resolve(["blog", "archive", "year", "2024"]), {
    endpoint: root.blog.archive.year,
    consumed: 3,
  });
});

Deno.test("objectPathResolver() refuses _ names, unlisted names, arrays, missing objects and inner empty segments", async () => {
  const resolver = objectPathResolver(root);
  for (
    const segments of [
      ["_admin"],
      ["_admin", "index"],
      ["blog", "draft"],
      ["list", "0"],
      ["nothing"],
      ["blog", "archive"], // no index there
      ["blog", "", "latest"],
      ["missing"],
      ["blog", "constructor"],
      ["blog", "__proto__", "x"],
    ]
  ) {
    assertEquals(await resolver.resolve(segments), null, segments.join("/"));
  }
});

Deno.test("objectPathResolver() with exposedOnly publishes expose()d functions only", async () => {
  const shown = expose({}, () => "shown");
  const resolver = objectPathResolver({ a: { shown, hidden: () => "no" } }, { exposedOnly: true });
  assertEquals((await resolver.resolve(["a", "shown"]))?.endpoint, shown);
  assertEquals(await resolver.resolve(["a", "hidden"]), null);
});
