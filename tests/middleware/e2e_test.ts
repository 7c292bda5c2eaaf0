// The middleware end to end: nginx -> FastCGI -> serveFastCgi -> errorPage(gzip(session(app))),
// with sessions in SQLite. Each piece is checked as a browser behind nginx would see it.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { compose } from "../../middleware/compose.ts";
import { errorPage } from "../../middleware/error_page.ts";
import { gzip } from "../../middleware/gzip.ts";
import { getSession, session } from "../../middleware/session.ts";
import { FileStore } from "../../middleware/file_store.ts";
import { MemoryStore } from "../../middleware/memory_store.ts";
import { RedisStore } from "../../middleware/redis_store.ts";
import type { SessionStore } from "../../middleware/session_store.ts";
import { SqliteStore } from "../../middleware/sqlite_store.ts";
import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { type FrontEnd, startNginx } from "../_helpers/frontends.ts";
import { rawRequest } from "../_helpers/http_client.ts";
import { startRedis } from "./_redis.ts";

const big = "<p>flup</p>\n".repeat(2000);

interface Setup {
  nginx: FrontEnd;
  errors: string[];
  next: () => void;
}

/** Makes a store in `dir`; `stop` ends what it started. */
type MakeStore = (dir: string) => Promise<{ store: SessionStore; stop?: () => Promise<void> }>;

const sqlite: MakeStore = (dir) =>
  Promise.resolve({ store: new SqliteStore(`${dir}/sessions.db`) });

async function withStack(
  body: (setup: Setup) => Promise<void>,
  makeStore: MakeStore = sqlite,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flup_mw_e2e_" });
  const { store, stop } = await makeStore(dir);
  const errors: string[] = [];
  let gate = Promise.withResolvers<void>();
  const app = compose(
    errorPage({ log: (_level, line) => errors.push(line) }),
    gzip(),
    session(store),
  )((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/count") {
      const visits = getSession<{ n: number }>(request);
      visits.set("n", (visits.get("n") ?? 0) + 1);
      return new Response(`You have been here ${visits.get("n")} times`, {
        headers: { "content-type": "text/plain" },
      });
    }
    if (path === "/big") return new Response(big, { headers: { "content-type": "text/html" } });
    if (path === "/stream") {
      return new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            for (let i = 0; i < 3; i++) {
              controller.enqueue(new TextEncoder().encode(`chunk ${i}\n`));
              await gate.promise;
              gate = Promise.withResolvers<void>();
            }
            controller.close();
          },
        }),
        { headers: { "content-type": "text/plain" } },
      );
    }
    throw new Error(`no route for ${path}`);
  });
  const server = serveFastCgi(app, { port: 0, log: () => {} });
  try {
    const addr = await server.ready;
    if (addr.transport !== "tcp") throw new Error("not TCP");
    const nginx = await startNginx({
      backend: { protocol: "fastcgi", hostname: "127.0.0.1", port: addr.port },
    });
    try {
      await body({ nginx, errors, next: () => gate.resolve() });
    } finally {
      await nginx.stop();
    }
  } finally {
    await server.shutdown();
    await store.close();
    await stop?.();
    await Deno.remove(dir, { recursive: true });
  }
}

const stores: [string, MakeStore][] = [
  ["SqliteStore", sqlite],
  ["MemoryStore", () => Promise.resolve({ store: new MemoryStore() })],
  ["FileStore", (dir) => Promise.resolve({ store: new FileStore(`${dir}/sessions`) })],
  ["RedisStore (real redis-server)", async () => {
    const redis = await startRedis();
    return { store: new RedisStore({ url: redis.url }), stop: () => redis.stop() };
  }],
];

for (const [name, makeStore] of stores) {
  Deno.test(`session through nginx with ${name}: the cookie comes back and the count goes on`, async () => {
    await withStack(async ({ nginx }) => {
      const first = await fetch(`${nginx.origin}/count`);
      assertEquals(await first.text(), "You have been here 1 times");
      const line = first.headers.get("set-cookie") ?? "";
      assertMatch(line, /^flup_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      const cookie = line.split(";")[0] ?? "";
      for (let i = 2; i <= 3; i++) {
        const response = await fetch(`${nginx.origin}/count`, { headers: { cookie } });
        assertEquals(await response.text(), `You have been here ${i} times`);
        assertEquals(response.headers.get("set-cookie"), line); // saved, so the id is sent again
      }
      // Another browser has its own session.
      assertEquals(
        await (await fetch(`${nginx.origin}/count`)).text(),
        "You have been here 1 times",
      );
    }, makeStore);
  });
}

Deno.test("gzip through nginx: compressed bytes with Vary, plain text without Accept-Encoding", async () => {
  await withStack(async ({ nginx }) => {
    const compressed = await rawRequest(nginx.origin, {
      path: "/big",
      headers: [["Accept-Encoding", "gzip"]],
    });
    const header = (name: string) =>
      compressed.headers.find(([key]) => key.toLowerCase() === name)?.[1] ?? null;
    assertEquals(compressed.status, 200);
    assertEquals(header("content-encoding"), "gzip");
    assertEquals(header("vary"), "Accept-Encoding");
    assert(compressed.body.length < big.length / 10, `${compressed.body.length} bytes`);
    const text = await new Response(
      new Blob([compressed.body.slice()]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).text();
    assertEquals(text, big);
    const plain = await rawRequest(nginx.origin, { path: "/big" });
    assertEquals(new TextDecoder().decode(plain.body), big);
    assertEquals(plain.headers.some(([key]) => key.toLowerCase() === "content-encoding"), false);
  });
});

Deno.test("gzip through nginx: a streamed answer still arrives chunk by chunk", async () => {
  await withStack(async ({ nginx, next }) => {
    // fetch() would buffer while it decompresses: read the raw bytes as they arrive instead.
    const payloads = rawBody(nginx.origin, "/stream", "gzip");
    const inflate = new DecompressionStream("gzip");
    const writer = inflate.writable.getWriter();
    const pump = (async () => {
      for await (const payload of payloads) await writer.write(payload);
      await writer.close();
    })();
    const reader = inflate.readable.pipeThrough(new TextDecoderStream()).getReader();
    let received = "";
    for (let i = 0; i < 3; i++) {
      while (!received.includes(`chunk ${i}\n`)) {
        const { value, done } = await reader.read();
        assert(!done, `ended before chunk ${i}`);
        received += value;
      }
      next(); // chunk i reached the client before chunk i + 1 was produced
    }
    assertEquals((await reader.read()).done, true);
    await pump;
    assertEquals(received, "chunk 0\nchunk 1\nchunk 2\n");
  });
});

/**
 * GETs `path` over a raw connection and yields the body's chunks (de-chunked) as they arrive;
 * checks that the answer is chunked and has the given Content-Encoding.
 */
async function* rawBody(
  origin: string,
  path: string,
  encoding: string,
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  const url = new URL(origin);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    await conn.write(new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAccept-Encoding: ${encoding}\r\nConnection: close\r\n\r\n`,
    ));
    let buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    const more = async (): Promise<void> => {
      const chunk = new Uint8Array(65536);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed early");
      const joined = new Uint8Array(buffer.length + n);
      joined.set(buffer);
      joined.set(chunk.subarray(0, n), buffer.length);
      buffer = joined;
    };
    const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    let end;
    while ((end = text(buffer).indexOf("\r\n\r\n")) === -1) await more();
    const head = text(buffer.subarray(0, end)).toLowerCase();
    assertStringIncludes(head, "transfer-encoding: chunked");
    assertStringIncludes(head, `content-encoding: ${encoding}`);
    buffer = buffer.subarray(end + 4);
    for (;;) {
      let line;
      while ((line = text(buffer).indexOf("\r\n")) === -1) await more();
      const size = parseInt(text(buffer.subarray(0, line)), 16);
      if (size === 0) return;
      while (buffer.length < line + 2 + size + 2) await more();
      yield buffer.slice(line + 2, line + 2 + size);
      buffer = buffer.subarray(line + 2 + size + 2);
    }
  } finally {
    conn.close();
  }
}

Deno.test("errorPage through nginx: a generic 500 with the request id that the log has", async () => {
  await withStack(async ({ nginx, errors }) => {
    const response = await fetch(`${nginx.origin}/missing?secret=1`);
    assertEquals(response.status, 500);
    const id = response.headers.get("x-request-id") ?? "missing";
    const page = await response.text();
    assertStringIncludes(page, id);
    assertEquals(page.includes("no route"), false);
    assertEquals(errors.length, 1);
    assertStringIncludes(errors[0] ?? "", `GET /missing failed, request id ${id}: Error: no route`);
  });
});
