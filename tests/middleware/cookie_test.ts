// parseCookieHeader() and formatSetCookie(): RFC 6265 syntax, strictly.

import { assertEquals, assertThrows } from "@std/assert";
import { formatSetCookie, parseCookieHeader } from "../../middleware/cookie.ts";

Deno.test("parseCookieHeader() reads pairs, first value wins, quotes dropped, junk skipped", () => {
  assertEquals(parseCookieHeader(null).size, 0);
  assertEquals(
    [...parseCookieHeader(' a=1;b="two" ; novalue; =x; a=3;c=;d=e=f')],
    [["a", "1"], ["b", "two"], ["c", ""], ["d", "e=f"]],
  );
});

Deno.test("formatSetCookie() writes attributes in a fixed order", () => {
  assertEquals(
    formatSetCookie("sid", "abc", {
      path: "/app",
      domain: "example.com",
      maxAge: 90_500,
      expires: new Date(Date.UTC(2030, 0, 2, 3, 4, 5)),
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
    }),
    "sid=abc; Path=/app; Domain=example.com; Max-Age=90; Expires=Wed, 02 Jan 2030 03:04:05 GMT; HttpOnly; Secure; SameSite=Strict",
  );
  assertEquals(formatSetCookie("a", ""), "a=");
});

Deno.test("formatSetCookie() refuses names, values and attributes a cookie cannot carry", () => {
  for (const name of ["", "a b", "a;b", "a=b", "é", "a\r\nSet-Cookie: x"]) {
    assertThrows(() => formatSetCookie(name, "v"), TypeError, "invalid name");
  }
  for (const value of ["a b", "a;b", 'a"b', "a,b", "a\\b", "é", "a\nb"]) {
    assertThrows(() => formatSetCookie("n", value), TypeError, "cannot carry");
  }
  assertThrows(() => formatSetCookie("n", "v", { path: "/a;Domain=evil" }), TypeError, "Path");
  assertThrows(() => formatSetCookie("n", "v", { domain: "a\nb" }), TypeError, "Domain");
  assertThrows(() => formatSetCookie("n", "v", { maxAge: -1 }), RangeError);
  assertThrows(() => formatSetCookie("n", "v", { maxAge: Number.NaN }), RangeError);
  assertThrows(() => formatSetCookie("n", "v", { sameSite: "None" }), TypeError, "secure");
  assertEquals(
    formatSetCookie("n", "v", { sameSite: "None", secure: true }),
    "n=v; Secure; SameSite=None",
  );
});
