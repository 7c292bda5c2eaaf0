// Redirect and InternalRedirect: statuses and paths are checked when made.

import { assertEquals, assertThrows } from "@std/assert";
import { InternalRedirect, Redirect } from "../../publisher/redirect.ts";

Deno.test("Redirect defaults to 303, takes 301/302/307/308, and refuses the rest and control characters", () => {
  assertEquals(new Redirect("/x").status, 303);
  for (const status of [301, 302, 307, 308] as const) {
    assertEquals(new Redirect("/x", { status }).status, status);
  }
  assertEquals(new Redirect(new URL("https://example.com/a")).location, "https://example.com/a");
  assertThrows(() => new Redirect("/x", { status: 200 as 301 }), RangeError, '"200"');
  assertThrows(() => new Redirect("/x\r\nSet-Cookie: a=b"), TypeError, "control");
  assertEquals(new Redirect("/x") instanceof Error, true);
});

Deno.test("InternalRedirect takes a path that starts with / and has no query or fragment", () => {
  assertEquals(new InternalRedirect("/login").path, "/login");
  for (const bad of ["login", "/a?b=1", "/a#b", ""]) {
    assertThrows(() => new InternalRedirect(bad), TypeError, bad === "" ? "" : bad);
  }
});
