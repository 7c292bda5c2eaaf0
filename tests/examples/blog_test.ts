// examples/blog.ts: the REST cycle (PUT 201/200, GET, DELETE 204), the four output types,
// and the error statuses (404, 400, 411, 413, 405).

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import blog, { createBlog } from "../../examples/blog.ts";
import type { GatewayInfo } from "../../server/types.ts";
import { rawRequest } from "../_helpers/http_client.ts";
import { testOverHttpAndFastCgi } from "./_harness.ts";

testOverHttpAndFastCgi(
  "examples/blog.ts creates, lists, shows, updates and deletes entries",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "flup_blog_" });
    return {
      handler: createBlog({ dir: `${dir}/entries`, maxEntryBytes: 1000 }),
      done: () => Deno.remove(dir, { recursive: true }),
    };
  },
  async (newClient) => {
    const client = newClient();
    const put = (id: string, body: string) => client.text(`/${id}`, { method: "PUT", body });
    assertStringIncludes((await client.text("/"))[1], "<ul>\n\n</ul>");
    const created = await client.fetch("/first-post", {
      method: "PUT",
      body: "First post\n\nHello <world>.\n\nSecond paragraph.",
    });
    assertEquals(created.status, 201);
    assertEquals(created.headers.get("location"), "/first-post");
    await created.body?.cancel();
    assertEquals(await put("first-post", "First post, edited\n\nHello again."), [
      200,
      "Updated.\n",
    ]);
    assertEquals((await put("second", "Second\n\nMore."))[0], 201);

    const [status, list] = await client.text("/");
    assertEquals(status, 200);
    assertStringIncludes(list, '<li><a href="/first-post">First post, edited</a></li>');
    assertStringIncludes(list, '<li><a href="/second">Second</a></li>');
    const [, entry] = await client.text("/first-post");
    assertStringIncludes(entry, "<h1>First post, edited</h1>");
    assertStringIncludes(entry, "<p>Hello again.</p>");

    const xml = await client.fetch("/?type=xml");
    assertEquals(xml.headers.get("content-type"), "application/xml; charset=utf-8");
    assertStringIncludes(await xml.text(), '<entry id="second"');
    const xhtml = await client.fetch("/second?type=xhtml");
    assertEquals(xhtml.headers.get("content-type"), "application/xhtml+xml; charset=utf-8");
    assertStringIncludes(await xhtml.text(), '<html xmlns="http://www.w3.org/1999/xhtml">');
    const atom = await client.fetch("/?type=atom");
    assertEquals(atom.headers.get("content-type"), "application/atom+xml; charset=utf-8");
    const feed = await atom.text();
    assertStringIncludes(feed, '<feed xmlns="http://www.w3.org/2005/Atom">');
    assertEquals(feed.match(/<entry>/g)?.length, 2);
    const atomEntry = await client.text("/second?type=atom");
    assertStringIncludes(atomEntry[1], '<entry xmlns="http://www.w3.org/2005/Atom">');

    const deleted = await client.fetch("/second", { method: "DELETE" });
    assertEquals([deleted.status, await deleted.text()], [204, ""]);
    assertEquals((await client.text("/second"))[0], 404);
    assertEquals((await client.text("/second", { method: "DELETE" }))[0], 404);

    // Bad requests.
    assertEquals((await client.text("/?type=pdf"))[0], 400);
    assertEquals((await put("Bad_ID", "Title"))[0], 400);
    assertEquals((await put("notitle", "\n\nbody"))[0], 400);
    assertEquals(
      (await client.text("/bin", { method: "PUT", body: new Uint8Array([0xff, 0xfe]) }))[0],
      400,
    );
    assertEquals((await put("big", `Big\n\n${"x".repeat(2000)}`))[0], 413);
    assertEquals((await client.text("/", { method: "PUT", body: "x" }))[0], 405);
    assertEquals((await client.text("/first-post", { method: "POST", body: "x" }))[0], 405);
    assertEquals((await client.text("/a/b"))[0], 404);
  },
);

Deno.test("examples/blog.ts answers 411 to a PUT without Content-Length (chunked, straight over HTTP)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_blog_" });
  const handler = createBlog({ dir });
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) => handler(request, info as unknown as GatewayInfo),
  );
  try {
    const response = await rawRequest(`http://127.0.0.1:${server.addr.port}`, {
      method: "PUT",
      path: "/chunked",
      headers: [["Transfer-Encoding", "chunked"], ["Connection", "close"]],
      body: new TextEncoder().encode("5\r\nTitle\r\n0\r\n\r\n"),
    });
    assertEquals(response.status, 411);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/blog.ts's default export serves examples/blog/entries", async () => {
  const response = await blog.fetch(new Request("http://localhost/"), {} as GatewayInfo);
  const page = await response.text();
  assertEquals(response.status, 200);
  assert(page.includes('<a href="/welcome">Welcome</a>'), page);
});
