// publisher(): resolution and its errors (404, 405 + Allow, 400, 413), the transaction,
// return values, redirects, forms and sessions.

import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { MemoryStore } from "../../middleware/memory_store.ts";
import { getSession, session } from "../../middleware/session.ts";
import { expose } from "../../publisher/expose.ts";
import { functionResolver } from "../../publisher/function_resolver.ts";
import { moduleResolver } from "../../publisher/module_resolver.ts";
import { publisher, type PublisherOptions } from "../../publisher/publisher.ts";
import { InternalRedirect, Redirect } from "../../publisher/redirect.ts";
import type { Endpoint } from "../../publisher/resolver.ts";
import type { Transaction } from "../../publisher/transaction.ts";
import type { GatewayInfo, Handler } from "../../server/types.ts";

const info = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } } as GatewayInfo;

function call(handler: Handler, path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(handler(new Request(`http://localhost${path}`, init), info));
}

function publish(
  pages: Record<string, Endpoint | unknown>,
  options: PublisherOptions = {},
): Handler {
  return publisher(moduleResolver(pages), options);
}

Deno.test("publisher() answers 404 for unknown paths and undecodable segments, without echoing the path", async () => {
  const handler = publish({ index: () => "home" });
  for (const path of ["/missing", "/%E0%A4%A", "/a%2Fb", "/<script>"]) {
    const response = await call(handler, path);
    assertEquals(response.status, 404, path);
    assertEquals((await response.text()).includes("script"), false);
  }
});

Deno.test("publisher() answers 405 with Allow for a method the function does not accept", async () => {
  const handler = publish({
    plain: () => "plain",
    put: expose({ methods: ["PUT", "delete"] }, () => "put"),
    get: expose({ methods: ["GET"] }, () => "get"),
  });
  const plain = await call(handler, "/plain", { method: "DELETE" });
  assertEquals([plain.status, plain.headers.get("allow")], [405, "GET, HEAD, POST"]);
  await plain.body?.cancel();
  const put = await call(handler, "/put", { method: "GET" });
  assertEquals([put.status, put.headers.get("allow")], [405, "PUT, DELETE"]);
  await put.body?.cancel();
  assertEquals(await (await call(handler, "/put", { method: "DELETE" })).text(), "put");
  const head = await call(handler, "/get", { method: "HEAD" });
  assertEquals(head.status, 200); // HEAD comes with GET
  await head.body?.cancel();
});

Deno.test("publisher() turns return values into responses", async () => {
  const bytes = new Uint8Array([1, 2, 3]);
  const handler = publish({
    text: () => "<p>hi</p>",
    typed: (t: Transaction) => {
      t.response.headers.set("content-type", "text/plain");
      return "plain";
    },
    bytes: () => bytes,
    buffer: () => bytes.buffer,
    blob: () => new Blob(["svg"], { type: "image/svg+xml" }),
    stream: () => ReadableStream.from(["a", new TextEncoder().encode("b"), "c"]),
    json: () => ({ a: [1, true, null] }),
    number: () => 42,
    nothing: (t: Transaction) => {
      t.response.status = 202;
    },
    nulled: () => null,
    response: () => new Response("as is", { status: 418 }),
    asyncText: () => Promise.resolve("later"),
    noContent: (t: Transaction) => {
      t.response.status = 204;
      return "dropped";
    },
  });
  const check = async (path: string, status: number, type: string | null, body: string) => {
    const response = await call(handler, path);
    assertEquals(
      [response.status, response.headers.get("content-type"), await response.text()],
      [status, type, body],
      path,
    );
  };
  await check("/text", 200, "text/html; charset=utf-8", "<p>hi</p>");
  await check("/typed", 200, "text/plain", "plain");
  await check("/bytes", 200, "application/octet-stream", "\x01\x02\x03");
  await check("/buffer", 200, "application/octet-stream", "\x01\x02\x03");
  await check("/blob", 200, "image/svg+xml", "svg");
  await check("/stream", 200, "text/html; charset=utf-8", "abc");
  await check("/json", 200, "application/json", '{"a":[1,true,null]}');
  await check("/number", 200, "application/json", "42");
  await check("/nothing", 202, null, "");
  await check("/nulled", 200, null, "");
  await check("/response", 418, "text/plain;charset=UTF-8", "as is");
  await check("/asyncText", 200, "text/html; charset=utf-8", "later");
  await check("/noContent", 204, null, "");
  const custom = publish({ index: () => "x" }, { defaultContentType: "text/plain; charset=utf-8" });
  assertEquals((await call(custom, "/")).headers.get("content-type"), "text/plain; charset=utf-8");
});

Deno.test("publisher() lets errors propagate, and a stream of other chunks fails", async () => {
  const handler = publish({
    fail: () => {
      throw new RangeError("mine");
    },
    bad: () => ReadableStream.from([1]),
    cyclic: () => {
      const value: Record<string, unknown> = {};
      value.self = value;
      return value;
    },
    fn: () => () => 1,
  });
  await assertRejects(() => call(handler, "/fail"), RangeError, "mine");
  await assertRejects(async () => await (await call(handler, "/bad")).text(), TypeError);
  await assertRejects(() => call(handler, "/cyclic"), TypeError);
  await assertRejects(() => call(handler, "/fn"), TypeError, "function");
});

Deno.test("publisher() passes the transaction: request, info, url, scriptName, pathInfo, cookies", async () => {
  const seenBy: Transaction[] = [];
  const handler = publish({
    page: (t: Transaction) => {
      seenBy.push(t);
      return "ok";
    },
  }, { prefix: "/app" });
  await call(handler, "/app/page/x/%C3%A9?q=1", { headers: { cookie: "a=1; b=2" } });
  const seen = seenBy[0];
  if (seen === undefined) throw new Error("not called");
  assertEquals(seen.scriptName, "/app/page");
  assertEquals(seen.pathInfo, "/x/é");
  assertEquals(seen.url.searchParams.get("q"), "1");
  assertEquals(seen.cookies.get("b"), "2");
  assertEquals(seen.info, info);
  assertEquals(seen.session, null);
  assertEquals(seen.request.method, "GET");
  assertEquals((await call(handler, "/application")).status, 404);
  assertEquals((await call(handler, "/")).status, 404);
  assertThrows(() => publisher(functionResolver(() => ""), { prefix: "app" }), TypeError);
  assertThrows(() => publisher(functionResolver(() => ""), { prefix: "/app/" }), TypeError);
});

Deno.test("publisher() sets status, headers and cookies from transaction.response", async () => {
  const handler = publish({
    index: (t: Transaction) => {
      t.response.status = 201;
      t.response.statusText = "Made";
      t.response.headers.set("x-a", "1");
      t.response.setCookie("theme", "dark");
      t.response.setCookie("lang", "en", { httpOnly: false, maxAge: 60_000, path: "/docs" });
      t.response.deleteCookie("old");
      assertThrows(() => (t.response.status = 99), RangeError);
      assertThrows(() => t.response.setCookie("bad name", "x"), TypeError);
      return "made";
    },
  });
  const response = await call(handler, "/");
  assertEquals([response.status, response.statusText, response.headers.get("x-a")], [
    201,
    "Made",
    "1",
  ]);
  assertEquals(response.headers.getSetCookie(), [
    "theme=dark; Path=/; HttpOnly; SameSite=Lax",
    "lang=en; Path=/docs; Max-Age=60; SameSite=Lax",
    "old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
  ]);
  const secure = await (await publish({
    index: (t: Transaction) => {
      t.response.setCookie("s", "1");
      return "";
    },
  }))(new Request("https://localhost/"), info);
  assertEquals(secure.headers.get("set-cookie"), "s=1; Path=/; HttpOnly; Secure; SameSite=Lax");
});

Deno.test("publisher() reads query and POSTed form fields into transaction.form and named arguments", async () => {
  const handler = publish({
    form: expose(
      { params: { name: "required", note: "optional", tag: "list" }, methods: ["GET", "POST"] },
      (t, args) => Response.json({ args, all: [...t.form.keys()] }),
    ),
    upload: expose(
      { params: { file: "file", title: "required" } },
      async (_t, { file, title }) => `${title}: ${file.name} ${file.type} ${await file.text()}`,
    ),
    raw: expose({ methods: ["PUT"] }, async (t) => `raw ${await t.request.text()}`),
  });
  const get = await call(handler, "/form?name=ada&tag=a&tag=b");
  assertEquals(await get.json(), {
    args: { name: "ada", tag: ["a", "b"] }, // note: undefined, which JSON drops
    all: ["name", "tag", "tag"],
  });
  const post = await call(handler, "/form?tag=q", {
    method: "POST",
    body: new URLSearchParams([["name", "bob"], ["note", "hi"], ["tag", "f"]]),
  });
  assertEquals(await post.json(), {
    args: { name: "bob", note: "hi", tag: ["q", "f"] },
    all: ["tag", "name", "note", "tag"],
  });
  const missing = await call(handler, "/form");
  assertEquals(missing.status, 400);
  assertStringIncludes(await missing.text(), "Missing required field &quot;name&quot;");
  const multipart = new FormData();
  multipart.append("title", "Report");
  multipart.append("file", new File(["contents"], "r.txt", { type: "text/plain" }));
  const uploaded = await call(handler, "/upload", { method: "POST", body: multipart });
  assertEquals(await uploaded.text(), "Report: r.txt text/plain contents");
  const textForFile = new FormData();
  textForFile.append("title", "x");
  textForFile.append("file", "not a file");
  assertEquals((await call(handler, "/upload", { method: "POST", body: textForFile })).status, 400);
  const fileForText = new FormData();
  fileForText.append("name", new File(["x"], "x.txt"));
  assertEquals((await call(handler, "/form", { method: "POST", body: fileForText })).status, 400);
  // A PUT body stays for the function, even when labelled as a form (curl's default).
  const put = await call(handler, "/raw", {
    method: "PUT",
    body: "a=1",
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  assertEquals(await put.text(), "raw a=1");
});

Deno.test("publisher() refuses a form over maxFormBytes with 413 and logs the option", async () => {
  const lines: string[] = [];
  const handler = publish({ index: (t: Transaction) => `${[...t.form.keys()].length}` }, {
    maxFormBytes: 100,
    log: (level, line) => lines.push(`${level} ${line}`),
  });
  const big = new URLSearchParams({ a: "x".repeat(200) });
  const declared = await call(handler, "/", { method: "POST", body: big });
  assertEquals(declared.status, 413);
  await declared.body?.cancel();
  const streamed = await call(handler, "/", {
    method: "POST",
    body: ReadableStream.from([new TextEncoder().encode(`a=${"x".repeat(200)}`)]),
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  assertEquals(streamed.status, 413);
  await streamed.body?.cancel();
  assertEquals(lines, [
    "warn maxFormBytes (100) reached: POST /",
    "warn maxFormBytes (100) reached: POST /",
  ]);
  const broken = await call(handler, "/", {
    method: "POST",
    body: "no boundary to split on",
    headers: { "content-type": "multipart/form-data" },
  });
  assertEquals(broken.status, 400);
  await broken.body?.cancel();
  assertThrows(() => publish({}, { maxFormBytes: 0 }), RangeError, "maxFormBytes");
});

Deno.test("publisher() redirects for a returned or thrown Redirect, keeping cookies", async () => {
  const handler = publish({
    back: () => new Redirect("../done?x=1"),
    moved: () => {
      throw new Redirect("https://example.com/new", { status: 308 });
    },
    login: (t: Transaction) => {
      t.response.setCookie("user", "ada");
      return new Redirect("/");
    },
  });
  const back = await call(handler, "/back");
  assertEquals([back.status, back.headers.get("location")], [303, "http://localhost/done?x=1"]);
  assertStringIncludes(await back.text(), 'href="http://localhost/done?x=1"');
  const moved = await call(handler, "/moved");
  assertEquals([moved.status, moved.headers.get("location")], [308, "https://example.com/new"]);
  await moved.body?.cancel();
  const login = await call(handler, "/login", { method: "POST" });
  assertMatch(login.headers.get("set-cookie") ?? "", /^user=ada;/);
  await login.body?.cancel();
});

Deno.test("publisher() follows an InternalRedirect with the same transaction, up to maxInternalRedirects", async () => {
  const lines: string[] = [];
  const handler = publish({
    start: (t: Transaction) => {
      t.response.headers.set("x-from", "start");
      throw new InternalRedirect("/target/rest");
    },
    target: (t: Transaction) =>
      `${t.response.headers.get("x-from")} ${t.scriptName}|${t.pathInfo} ${t.form.get("q")}`,
    loop: () => new InternalRedirect("/loop"),
    private: () => new InternalRedirect("/_hidden"),
    _hidden: () => "never",
  }, { maxInternalRedirects: 3, log: (level, line) => lines.push(`${level} ${line}`) });
  assertEquals(await (await call(handler, "/start?q=7")).text(), "start /target|/rest 7");
  await assertRejects(() => call(handler, "/loop"), Error, "more than 3 internal redirects");
  assertEquals(lines, ["warn maxInternalRedirects (3) reached: GET /loop"]);
  assertEquals((await call(handler, "/private")).status, 404); // _ names stay private
});

Deno.test("publisher() hands the session to the transaction when session() wraps it", async () => {
  const store = new MemoryStore();
  const handler = session(store)(publish({
    index: (t: Transaction) => {
      const visits = getSession<{ n: number }>(t.request);
      visits.set("n", (visits.get("n") ?? 0) + 1);
      assert((t.session as unknown) === visits);
      return `visit ${visits.get("n")}`;
    },
  }));
  const first = await call(handler, "/");
  const cookie = first.headers.get("set-cookie")?.split(";")[0] ?? "";
  assertEquals(await first.text(), "visit 1");
  assertEquals(await (await call(handler, "/", { headers: { cookie } })).text(), "visit 2");
  await store.close();
});
