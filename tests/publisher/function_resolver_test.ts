// functionResolver(): one function for every path.

import { assertEquals, assertThrows } from "@std/assert";
import { functionResolver } from "../../publisher/function_resolver.ts";
import type { Endpoint } from "../../publisher/resolver.ts";

Deno.test("functionResolver() resolves every path to its function, consuming nothing", async () => {
  const endpoint = () => "all";
  const resolver = functionResolver(endpoint);
  for (const segments of [[], ["a"], ["_x", "y", ""]]) {
    assertEquals(await resolver.resolve(segments), { endpoint, consumed: 0 });
  }
  assertThrows(() => functionResolver("nope" as unknown as Endpoint), TypeError);
});
