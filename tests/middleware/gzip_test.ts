// gzip(): when it compresses and when it must not, the headers it fixes, and streaming.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { gzip } from "../../middleware/gzip.ts";
import type { GatewayInfo, Handler } from "../../server/types.ts";

const info = {} as GatewayInfo;
const big = "flup ".repeat(1000); // 5000 bytes

function call(
  handler: Handler,
  acceptEncoding: string | null = "gzip, deflate",
  method = "GET",
): Promise<Response> {
  const headers: Record<string, string> = acceptEncoding === null
    ? {}
    : { "accept-encoding": acceptEncoding };
  return Promise.resolve(handler(new Request("http://localhost/", { method, headers }), info));
}

async function decompress(response: Response, format: CompressionFormat): Promise<string> {
  return await new Response(response.body?.pipeThrough(new DecompressionStream(format))).text();
}

const text = (body: BodyInit | null, init: ResponseInit = {}): Handler => () =>
  new Response(body, {
    ...init,
    headers: { "content-type": "text/html; charset=utf-8", ...init.headers },
  });

Deno.test("gzip() compresses an accepted, large, textual answer and fixes its headers", async () => {
  const handler = gzip()(
    text(big, { headers: { "content-length": "5000", etag: '"v1"', "accept-ranges": "bytes" } }),
  );
  const response = await call(handler);
  assertEquals(response.headers.get("content-encoding"), "gzip");
  assertEquals(response.headers.get("vary"), "Accept-Encoding");
  assertEquals(response.headers.get("content-length"), null);
  assertEquals(response.headers.get("accept-ranges"), null);
  assertEquals(response.headers.get("etag"), 'W/"v1"');
  assertEquals(await decompress(response, "gzip"), big);
});

Deno.test("gzip() uses deflate (zlib) when that is what the client prefers", async () => {
  const response = await call(gzip()(text(big)), "gzip;q=0.5, deflate");
  assertEquals(response.headers.get("content-encoding"), "deflate");
  assertEquals(await decompress(response, "deflate"), big);
  const only = await call(gzip({ encodings: ["deflate"] })(text(big)), "gzip, deflate");
  assertEquals(only.headers.get("content-encoding"), "deflate");
});

Deno.test("gzip() always adds Vary: Accept-Encoding, merged with what is there", async () => {
  const cases: [Handler, string | null, string][] = [
    [text(big), null, "Accept-Encoding"],
    [text("small"), "gzip", "Accept-Encoding"],
    [text(big, { headers: { vary: "Cookie" } }), "gzip", "Cookie, Accept-Encoding"],
    [text(big, { headers: { vary: "accept-encoding" } }), "gzip", "accept-encoding"],
    [text(big, { headers: { vary: "*" } }), "gzip", "*"],
    [() => new Response(null, { status: 304 }), "gzip", "Accept-Encoding"],
  ];
  for (const [handler, accept, vary] of cases) {
    const response = await call(gzip()(handler), accept);
    await response.body?.cancel();
    assertEquals(response.headers.get("vary"), vary);
  }
});

Deno.test("gzip() leaves answers it must not or need not compress as they are", async () => {
  const cases: [string, Handler, string | null, string?][] = [
    ["no Accept-Encoding", text(big), null],
    ["gzip;q=0", text(big), "gzip;q=0"],
    ["only br accepted", text(big), "br"],
    ["HEAD", text(big), "gzip", "HEAD"],
    ["204", () => new Response(null, { status: 204 }), "gzip"],
    ["304", () => new Response(null, { status: 304 }), "gzip"],
    ["206", text(big, { status: 206, headers: { "content-range": "bytes 0-4999/9999" } }), "gzip"],
    ["already encoded", text(big, { headers: { "content-encoding": "br" } }), "gzip"],
    ["no-transform", text(big, { headers: { "cache-control": "public, no-transform" } }), "gzip"],
    ["an image", () => new Response(big, { headers: { "content-type": "image/png" } }), "gzip"],
    ["no content type", () => new Response(new TextEncoder().encode(big)), "gzip"],
    [
      "under minSize by Content-Length",
      text("x".repeat(100), { headers: { "content-length": "100" } }),
      "gzip",
    ],
    ["under minSize in memory", text("x".repeat(1023)), "gzip"],
  ];
  for (const [label, handler, accept, method] of cases) {
    const response = await call(gzip()(handler), accept, method);
    assertEquals(response.headers.get("content-encoding") === "gzip", false, label);
    if (label === "under minSize in memory") assertEquals(await response.text(), "x".repeat(1023));
    else await response.body?.cancel();
  }
});

Deno.test("gzip() matches media types exactly, by type/* and by +suffix", async () => {
  const compressed = async (type: string, types?: string[]) => {
    const handler = gzip(types ? { contentTypes: types } : {})(() =>
      new Response(big, { headers: { "content-type": type } })
    );
    const response = await call(handler);
    await response.body?.cancel();
    return response.headers.get("content-encoding") === "gzip";
  };
  assertEquals(await compressed("application/json"), true);
  assertEquals(await compressed("application/ld+json; charset=utf-8"), true);
  assertEquals(await compressed("application/atom+xml"), true);
  assertEquals(await compressed("TEXT/CSS"), true);
  assertEquals(await compressed("image/svg+xml"), true);
  assertEquals(await compressed("application/octet-stream"), false);
  assertEquals(await compressed("application/jsonx"), false);
  assertEquals(await compressed("text/plain", ["application/json"]), false);
  assertEquals(await compressed("font/woff2", ["font/*"]), true);
});

Deno.test("gzip() streams: each chunk reaches the client before the next is produced", async () => {
  let next = Promise.withResolvers<void>();
  const chunks = 5;
  const handler = gzip()(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          for (let i = 0; i < chunks; i++) {
            controller.enqueue(new TextEncoder().encode(`data: ${i}\n\n`));
            await next.promise; // the next chunk waits until the client has read this one
            next = Promise.withResolvers<void>();
          }
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  const response = await call(handler);
  assertEquals(response.headers.get("content-encoding"), "gzip");
  if (response.body === null) throw new Error("no body");
  const reader = response.body.pipeThrough(new DecompressionStream("gzip"))
    .pipeThrough(new TextDecoderStream()).getReader();
  let received = "";
  for (let i = 0; i < chunks; i++) {
    while (!received.includes(`data: ${i}\n\n`)) {
      const { value, done } = await reader.read();
      assert(!done, `ended before chunk ${i}`);
      received += value;
    }
    next.resolve();
  }
  assertEquals((await reader.read()).done, true);
});

Deno.test("gzip() replays what it read ahead of a streamed body of unknown size", async () => {
  const parts = ["a".repeat(600), "b".repeat(600), "c".repeat(600)];
  const handler = gzip()(() =>
    new Response(ReadableStream.from(parts).pipeThrough(new TextEncoderStream()), {
      headers: { "content-type": "text/plain" },
    })
  );
  const response = await call(handler);
  assertEquals(response.headers.get("content-encoding"), "gzip");
  assertEquals(await decompress(response, "gzip"), parts.join(""));
});

Deno.test("gzip() works on responses with immutable headers, and checks its options", async () => {
  const response = await call(gzip()(() => Response.redirect("http://localhost/x", 302)));
  assertEquals(response.headers.get("vary"), "Accept-Encoding");
  assertEquals(response.headers.get("location"), "http://localhost/x");
  assertThrows(() => gzip({ encodings: ["br" as "gzip"] }), TypeError, '"br"');
  assertThrows(() => gzip({ minSize: -1 }), RangeError, "minSize");
});
