// ScgiClient on the wire (a raw listener reads exactly what it sends), its abort, limits and
// timeouts. The conformance cases are in conformance_test.ts.

import { assert, assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
import { LimitExceededError } from "../../server/errors.ts";
import { decodeScgiHeaders } from "../../server/scgi/netstring.ts";
import { ScgiClient, scgiFetch } from "../../server/scgi/client.ts";
import { collectLog } from "./_front.ts";

const quiet = { log: () => {} };

/** One raw SCGI exchange: reads the header block and the body, then answers `reply`. */
interface RawExchange {
  pairs: string[];
  body: Uint8Array;
  conn: Deno.Conn;
}

function rawBackend(
  answer: (exchange: RawExchange) => Promise<void>,
): { address: string; seen: RawExchange[]; closed: Promise<void>[]; stop(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: RawExchange[] = [];
  const closed: Promise<void>[] = [];
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      const done = Promise.withResolvers<void>();
      closed.push(done.promise);
      tasks.push((async () => {
        try {
          let bytes = new Uint8Array(0);
          const buffer = new Uint8Array(65536);
          let block = null;
          while (true) {
            const count = await conn.read(buffer);
            if (count === null) break;
            const grown = new Uint8Array(bytes.length + count);
            grown.set(bytes);
            grown.set(buffer.subarray(0, count), bytes.length);
            bytes = grown;
            block ??= decodeScgiHeaders(bytes);
            if (block && bytes.length >= block.length + block.contentLength) break;
          }
          if (!block) return;
          const exchange = {
            pairs: block.pairs,
            body: bytes.slice(block.length, block.length + block.contentLength),
            conn,
          };
          seen.push(exchange);
          await answer(exchange);
        } catch {
          // the client went away
        } finally {
          try {
            conn.close();
          } catch { /* closed */ }
          done.resolve();
        }
      })());
    }
  })();
  return {
    address: `127.0.0.1:${listener.addr.port}`,
    seen,
    closed,
    async stop() {
      listener.close();
      await loop.catch(() => {});
      await Promise.allSettled(tasks);
    },
  };
}

const encoder = new TextEncoder();
async function write(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

Deno.test("ScgiClient sends CONTENT_LENGTH first, SCGI 1, the params, then exactly the body", async () => {
  const backend = rawBackend(async ({ conn }) => {
    await write(conn, "Status: 201 Created\r\nX-Seen: yes\r\n\r\nstored");
  });
  await using client = new ScgiClient({ address: backend.address, scriptName: "", ...quiet });
  try {
    const response = await client.fetch(
      new Request("http://h/items?x=1", {
        method: "PUT",
        headers: { "content-type": "text/plain" },
        body: "0123456789",
      }),
      { remoteAddr: { transport: "tcp", hostname: "192.0.2.1", port: 4000 } },
    );
    assertEquals(response.status, 201);
    assertEquals(response.headers.get("x-seen"), "yes");
    assertEquals(await response.text(), "stored");
    const { pairs, body } = backend.seen[0]!;
    assertEquals(pairs.slice(0, 4), ["CONTENT_LENGTH", "10", "SCGI", "1"]);
    const env = Object.fromEntries(
      Array.from({ length: pairs.length / 2 }, (_, i) => [pairs[2 * i], pairs[2 * i + 1]]),
    );
    assertEquals(env.REQUEST_METHOD, "PUT");
    assertEquals(env.REQUEST_URI, "/items?x=1");
    assertEquals(env.PATH_INFO, "/items");
    assertEquals(env.CONTENT_TYPE, "text/plain");
    assertEquals(env.REMOTE_ADDR, "192.0.2.1");
    assertEquals(new TextDecoder().decode(body), "0123456789");
  } finally {
    await backend.stop();
  }
});

Deno.test("ScgiClient sends CONTENT_LENGTH 0 for GET and buffers an unknown-length body", async () => {
  const backend = rawBackend(async ({ conn, body }) => {
    await write(conn, `Content-Type: text/plain\r\n\r\n${body.length}`);
  });
  await using client = new ScgiClient({ address: backend.address, ...quiet });
  try {
    assertEquals(await (await client.fetch(new Request("http://h/"))).text(), "0");
    assertEquals(backend.seen[0]!.pairs.slice(0, 2), ["CONTENT_LENGTH", "0"]);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(700));
        controller.enqueue(new Uint8Array(300));
        controller.close();
      },
    });
    const response = await client.fetch(
      new Request("http://h/", { method: "POST", body: stream, duplex: "half" } as RequestInit),
    );
    assertEquals(await response.text(), "1000");
    assertEquals(backend.seen[1]!.pairs.slice(0, 2), ["CONTENT_LENGTH", "1000"]);
    await using small = new ScgiClient({
      address: backend.address,
      maxBufferedBodyBytes: 512,
      ...quiet,
    });
    const big = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(1000));
        controller.close();
      },
    });
    const error = await assertRejects(() =>
      small.fetch(
        new Request("http://h/", { method: "POST", body: big, duplex: "half" } as RequestInit),
      )
    );
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "maxBufferedBodyBytes");
  } finally {
    await backend.stop();
  }
});

Deno.test("ScgiClient streams the response as it arrives and closes the connection on abort", async () => {
  const next = Promise.withResolvers<void>();
  const backend = rawBackend(async ({ conn }) => {
    await write(conn, "Status: 200 OK\r\n\r\nfirst\n");
    await next.promise;
    // Keep writing until the client's close shows up as an error.
    for (let i = 0; i < 1000; i++) {
      await write(conn, "more\n");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  await using client = new ScgiClient({ address: backend.address, ...quiet });
  try {
    const controller = new AbortController();
    const response = await client.fetch(new Request("http://h/", { signal: controller.signal }));
    const reader = response.body!.getReader();
    assertEquals(new TextDecoder().decode((await reader.read()).value), "first\n");
    controller.abort();
    next.resolve();
    await backend.closed[0];
    await assertRejects(() => reader.read());
    assertEquals(client.stats, { open: 0, queued: 0 });
  } finally {
    next.resolve();
    await backend.stop();
  }
});

Deno.test("ScgiClient: requestTimeout and readTimeout, logged by name", async () => {
  const release = Promise.withResolvers<void>();
  const backend = rawBackend(async ({ conn, pairs }) => {
    if (pairs.includes("/body")) await write(conn, "Status: 200 OK\r\n\r\nstart");
    await release.promise;
  });
  const { log, lines } = collectLog();
  await using client = new ScgiClient({
    address: backend.address,
    requestTimeout: 100,
    readTimeout: 100,
    log,
  });
  try {
    let error = await assertRejects(() => client.fetch(new Request("http://h/head")));
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "requestTimeout");
    const response = await client.fetch(new Request("http://h/body"));
    const reader = response.body!.getReader();
    assertEquals(new TextDecoder().decode((await reader.read()).value), "start");
    error = await assertRejects(() => reader.read());
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "readTimeout");
    assert(lines.some((line) => line.startsWith("warn: requestTimeout (100) reached")));
    assert(lines.some((line) => line.startsWith("warn: readTimeout (100) reached")));
  } finally {
    release.resolve();
    await backend.stop();
  }
});

Deno.test("ScgiClient: maxConnections queues and maxQueued refuses", async () => {
  const gate = Promise.withResolvers<void>();
  const backend = rawBackend(async ({ conn }) => {
    await gate.promise;
    await write(conn, "Status: 200 OK\r\n\r\nok");
  });
  await using client = new ScgiClient({
    address: backend.address,
    maxConnections: 1,
    maxQueued: 1,
    ...quiet,
  });
  try {
    const first = client.fetch(new Request("http://h/1"));
    const second = client.fetch(new Request("http://h/2"));
    await new Promise((resolve) => setTimeout(resolve, 0));
    assertEquals(client.stats, { open: 1, queued: 1 });
    const error = await assertRejects(() => client.fetch(new Request("http://h/3")));
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "maxQueued");
    gate.resolve();
    assertEquals(await (await first).text(), "ok");
    assertEquals(await (await second).text(), "ok");
  } finally {
    gate.resolve();
    await backend.stop();
  }
});

Deno.test("scgiFetch() sends one request", async () => {
  const backend = rawBackend(async ({ conn }) => {
    await write(conn, "Location: https://example.test/\r\n\r\n");
  });
  try {
    const response = await scgiFetch(new Request("http://h/"), {
      address: backend.address,
      ...quiet,
    });
    assertEquals(response.status, 302);
    assertEquals(response.headers.get("location"), "https://example.test/");
    await response.body?.cancel();
  } finally {
    await backend.stop();
  }
});
