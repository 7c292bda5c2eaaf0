// examples/publisher_hello.ts: log in (new session id), greeting, log out, methods.

import { assertEquals, assertNotEquals, assertStringIncludes } from "@std/assert";
import app from "../../examples/publisher_hello.ts";
import { testOverHttpAndFastCgi } from "./_harness.ts";

testOverHttpAndFastCgi(
  "examples/publisher_hello.ts logs in and out with a session",
  () => ({ handler: app.fetch }),
  async (newClient) => {
    const browser = newClient();
    const [status, page] = await browser.text("/");
    assertEquals(status, 200);
    assertStringIncludes(page, "Hello, stranger!");
    assertStringIncludes(page, '<form method="post" action="login">');

    const login = await browser.post("/login", { username: "Ada <admin>" });
    assertEquals(login.status, 303);
    assertEquals(login.headers.get("location"), `${browser.origin}/`);
    await login.body?.cancel();
    const firstId = browser.cookieHeader;
    const [, greeting] = await browser.text("/");
    assertStringIncludes(greeting, "Hello, Ada &#60;admin&#62;!"); // escaped
    assertStringIncludes(greeting, '<form method="post" action="logout">');

    // Logging in again moves the session to a new id.
    await (await browser.post("/login", { username: "Ada" })).body?.cancel();
    assertNotEquals(browser.cookieHeader, firstId);

    const logout = await browser.post("/logout", {});
    assertEquals(logout.status, 303);
    await logout.body?.cancel();
    assertEquals(browser.cookieHeader, "");
    assertStringIncludes((await browser.text("/"))[1], "Hello, stranger!");

    // Methods and fields are checked; private and unknown names are 404.
    assertEquals((await browser.text("/login"))[0], 405);
    assertEquals((await browser.post("/login", {})).status, 400);
    assertEquals((await browser.post("/login", { username: "   " })).status, 400);
    assertEquals((await browser.text("/_escape"))[0], 404);
    assertEquals((await browser.text("/nothing"))[0], 404);
  },
);
