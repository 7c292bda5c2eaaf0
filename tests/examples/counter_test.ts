// examples/counter.ts: the count goes up per client and starts over without the cookie.

import { assertEquals, assertMatch } from "@std/assert";
import counter from "../../examples/counter.ts";
import { testOverHttpAndFastCgi } from "./_harness.ts";

testOverHttpAndFastCgi(
  "examples/counter.ts counts each client's visits",
  () => ({ handler: counter.fetch }),
  async (newClient) => {
    const alice = newClient();
    const first = await alice.fetch("/");
    assertMatch(
      first.headers.get("set-cookie") ?? "",
      /^flup_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/,
    );
    assertEquals(await first.text(), "You have been here 1 time.\n");
    assertEquals(await alice.text("/"), [200, "You have been here 2 times.\n"]);
    assertEquals(await alice.text("/any/path"), [200, "You have been here 3 times.\n"]);
    const bob = newClient();
    assertEquals(await bob.text("/"), [200, "You have been here 1 time.\n"]);
    assertEquals(await alice.text("/"), [200, "You have been here 4 times.\n"]);
  },
);
