// The publisher end to end: nginx -> FastCGI -> serveFastCgi -> session(publisher(importing
// module resolver over fixtures/pages)), as a browser behind nginx sees it.

import { assertEquals, assertStringIncludes } from "@std/assert";
import { MemoryStore } from "../../middleware/memory_store.ts";
import { session } from "../../middleware/session.ts";
import { importingModuleResolver } from "../../publisher/importing_module_resolver.ts";
import { objectPathResolver } from "../../publisher/object_path_resolver.ts";
import { publisher } from "../../publisher/publisher.ts";
import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { startNginx } from "../_helpers/frontends.ts";

Deno.test("publisher through nginx: pages, pathInfo, forms, uploads, redirects with a session, 404, 405", async () => {
  const store = new MemoryStore();
  const app = session(store)(
    publisher(importingModuleResolver(new URL("./fixtures/pages/", import.meta.url))),
  );
  const server = serveFastCgi(app, { port: 0, log: () => {} });
  try {
    const addr = await server.ready;
    if (addr.transport !== "tcp") throw new Error("not TCP");
    await using nginx = await startNginx({
      backend: { protocol: "fastcgi", hostname: "127.0.0.1", port: addr.port },
    });
    const text = async (path: string, init: RequestInit = {}) => {
      const response = await fetch(`${nginx.origin}${path}`, { redirect: "manual", ...init });
      return [response.status, await response.text()] as const;
    };
    assertEquals(await text("/"), [200, "index.ts index |/"]);
    assertEquals(await text("/blog/entry/2024/%C3%A9t%C3%A9"), [
      200,
      "blog.ts entry /blog/entry|/2024/été (helped)",
    ]);
    assertEquals(await text("/admin/users/list"), [200, "admin/users.ts list /admin/users/list|"]);
    assertEquals(await text("/blog/exposed?n=5"), [200, "exposed 5"]);
    assertEquals(
      await text("/blog/exposed", { method: "POST", body: new URLSearchParams({ n: "6" }) }),
      [200, "exposed 6"],
    );
    assertEquals((await text("/blog/exposed"))[0], 400);
    assertEquals((await text("/blog/_private"))[0], 404);
    assertEquals((await text("/%2e%2e/outside"))[0], 404);
    const put = await fetch(`${nginx.origin}/blog/exposed`, { method: "PUT", body: "x" });
    assertEquals([put.status, put.headers.get("allow")], [405, "GET, HEAD, POST"]);
    await put.body?.cancel();

    // Log in: a POSTed form, a new session id, a 303 to /account, then the session is there.
    const login = await fetch(`${nginx.origin}/account/login`, {
      method: "POST",
      body: new URLSearchParams({ username: "ada" }),
      redirect: "manual",
    });
    assertEquals(login.status, 303);
    assertEquals(login.headers.get("location"), `${nginx.origin}/account`);
    await login.body?.cancel();
    const cookie = login.headers.get("set-cookie")?.split(";")[0] ?? "";
    assertEquals(await text("/account", { headers: { cookie } }), [200, "user: ada"]);
    assertEquals(await text("/account"), [200, "user: nobody"]);

    const form = new FormData();
    form.append("file", new File([new Uint8Array(100_000)], "zeros.bin"));
    const upload = await fetch(`${nginx.origin}/account/upload`, { method: "POST", body: form });
    assertEquals(await upload.json(), { name: "zeros.bin", bytes: 100_000 });
    const head = await fetch(`${nginx.origin}/blog`, { method: "HEAD" });
    assertEquals([head.status, await head.text()], [200, ""]);
    assertStringIncludes(head.headers.get("content-type") ?? "", "text/html");
  } finally {
    await server.shutdown();
    await store.close();
  }
});

Deno.test("publisher through nginx: an object tree under a prefix (objectPathResolver)", async () => {
  const site = {
    index: () => "home",
    docs: { index: () => "docs", page: (t: { pathInfo: string }) => `page ${t.pathInfo}` },
  };
  const server = serveFastCgi(publisher(objectPathResolver(site), { prefix: "/app" }), {
    port: 0,
    log: () => {},
  });
  try {
    const addr = await server.ready;
    if (addr.transport !== "tcp") throw new Error("not TCP");
    await using nginx = await startNginx({
      backend: { protocol: "fastcgi", hostname: "127.0.0.1", port: addr.port },
    });
    const text = async (path: string) => {
      const response = await fetch(`${nginx.origin}${path}`);
      return [response.status, await response.text()] as const;
    };
    assertEquals(await text("/app"), [200, "home"]);
    assertEquals(await text("/app/docs/"), [200, "docs"]);
    assertEquals(await text("/app/docs/page/a/b"), [200, "page /a/b"]);
    assertEquals((await text("/docs"))[0], 404);
    assertEquals((await text("/app/docs/missing"))[0], 404);
  } finally {
    await server.shutdown();
  }
});
