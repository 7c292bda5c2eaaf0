// createProxyHandler: what a client failure becomes for the HTTP client, the client's address,
// and that the handler composes like any other flup Handler.

import { assert, assertEquals } from "@std/assert";
import { FastCgiClient } from "../../server/fastcgi/client.ts";
import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { createProxyHandler } from "../../server/proxy.ts";
import type { Handler } from "../../server/types.ts";
import { createCaseApp } from "../conformance/case_app.ts";
import { startFakeBackend } from "./_fake_fastcgi.ts";
import { collectLog } from "./_front.ts";

const quiet = { log: () => {} };

Deno.test("createProxyHandler() forwards the request, the client address and extra params", async () => {
  const server = serveFastCgi(createCaseApp(), { port: 0, ...quiet });
  const { port } = (await server.ready) as Deno.NetAddr;
  await using client = new FastCgiClient({ address: `127.0.0.1:${port}`, ...quiet });
  // It is a flup Handler: it can be served by any gateway or wrapped by middleware.
  const handler: Handler = createProxyHandler({
    client,
    params: (request) => ({ X_FORWARDED_PATH: new URL(request.url).pathname }),
  });
  try {
    const response = await createProxyHandler({ client })(
      new Request("http://h/echo/a"),
      { remoteAddr: { transport: "tcp", hostname: "198.51.100.4", port: 1234 } },
    );
    const { env } = await response.json();
    assertEquals(env.REMOTE_ADDR, "198.51.100.4");
    const withParams = createProxyHandler({
      client,
      params: (request) => ({ X_FORWARDED_PATH: new URL(request.url).pathname }),
    });
    assertEquals(
      (await (await withParams(new Request("http://h/echo/b"))).json()).env
        .X_FORWARDED_PATH,
      "/echo/b",
    );
    assert(typeof handler === "function");
  } finally {
    await server.shutdown();
  }
});

Deno.test("createProxyHandler() answers 502, 504, 503, 413 and 400 without details, and logs why", async () => {
  const release = Promise.withResolvers<void>();
  const backend = startFakeBackend(async ({ env }, io) => {
    if (env.REQUEST_URI === "/silent") await release.promise;
    else await io.stdout("garbage without a blank line");
    await io.end();
  });
  const { log, lines } = collectLog();
  const dir = await Deno.makeTempDir();
  await using gone = new FastCgiClient({ address: `unix:${dir}/none.sock`, ...quiet });
  await using slow = new FastCgiClient({
    address: backend.address,
    requestTimeout: 100,
    maxConnections: 1,
    maxQueued: 1,
    maxBufferedBodyBytes: 10,
    ...quiet,
  });
  try {
    const expect = async (response: Response, status: number) => {
      assertEquals(response.status, status);
      const text = await response.text();
      assert(!text.includes("Error"), text);
    };
    await expect(await createProxyHandler({ client: gone, log })(new Request("http://h/")), 502);
    const proxy = createProxyHandler({ client: slow, log });
    await expect(await proxy(new Request("http://h/garbage")), 502);
    await expect(await proxy(new Request("http://h/a/..%2F..%2Fetc/passwd")), 400);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(100));
        controller.close();
      },
    });
    await expect(
      await proxy(
        new Request("http://h/", { method: "POST", body: stream, duplex: "half" } as RequestInit),
      ),
      413,
    );
    // One request holds the only connection until requestTimeout, one waits, one is refused.
    const first = proxy(new Request("http://h/silent"));
    const second = proxy(new Request("http://h/silent"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(await proxy(new Request("http://h/silent")), 503);
    await expect(await first, 504);
    await expect(await second, 504);
    assert(lines.some((line) => line.includes("answered 502")), lines.join("\n"));
    assert(lines.some((line) => line.includes("answered 504")));
    assert(lines.some((line) => line.startsWith("warn:") && line.includes("answered 400")));
  } finally {
    release.resolve();
    await backend.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createProxyHandler() refuses a client without fetch", () => {
  let threw = false;
  try {
    createProxyHandler({ client: {} as unknown as FastCgiClient });
  } catch (error) {
    threw = error instanceof TypeError;
  }
  assert(threw);
});
