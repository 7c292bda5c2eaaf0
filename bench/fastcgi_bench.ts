// FastCGI benchmarks: decoding nginx-like requests, encoding responses, and one request served
// through the gateway's connection code in memory.
//
//   deno bench --allow-all bench/fastcgi_bench.ts
//
// The request is what nginx sends with its stock fastcgi_params (plus SCRIPT_FILENAME and
// PATH_INFO) and 20 request headers, with a 1 KiB body. Everything is built once up front with
// the codec's encoders; each iteration only decodes or encodes, reusing buffers as the server
// does on a kept-alive connection. Before `deno bench` runs, a summary table gives ns per
// request, MB/s and the heap growth per request (measured over up to 1e5 requests).

import { FLAG, PROTOCOL_STATUS, RECORD_TYPE, ROLE } from "../server/fastcgi/constants.ts";
import { decodeParams, encodeParams, ParamsDecoder } from "../server/fastcgi/params.ts";
import {
  decodeBeginRequestBody,
  encodeBeginRequest,
  encodedStreamLength,
  encodeEndRequest,
  encodeStream,
  RecordDecoder,
} from "../server/fastcgi/record.ts";
import { OutputSlab, StdoutSink } from "../server/fastcgi/_request.ts";
import { encodeCgiHead } from "../server/_respond.ts";
import { gatewayLoop } from "./e2e/_gateway_loop.ts";
import { formatMeasurements, measure, type Measurement } from "./e2e/_measure.ts";

const encoder = new TextEncoder();
const KIB = 1024;
const MIB = 1024 * KIB;
const READ_SIZE = 64 * KIB;

/** nginx's fastcgi_params for `POST /index.php?page=2`, plus 20 HTTP_* headers: 45 pairs. */
const PARAMS: [string, string][] = [
  ["SCRIPT_FILENAME", "/var/www/html/index.php"],
  ["QUERY_STRING", "page=2"],
  ["REQUEST_METHOD", "POST"],
  ["CONTENT_TYPE", "application/x-www-form-urlencoded"],
  ["CONTENT_LENGTH", "1024"],
  ["SCRIPT_NAME", "/index.php"],
  ["REQUEST_URI", "/index.php?page=2"],
  ["DOCUMENT_URI", "/index.php"],
  ["DOCUMENT_ROOT", "/var/www/html"],
  ["SERVER_PROTOCOL", "HTTP/1.1"],
  ["REQUEST_SCHEME", "https"],
  ["HTTPS", "on"],
  ["GATEWAY_INTERFACE", "CGI/1.1"],
  ["SERVER_SOFTWARE", "nginx/1.24.0"],
  ["REMOTE_ADDR", "192.0.2.10"],
  ["REMOTE_PORT", "53124"],
  ["REMOTE_USER", ""],
  ["SERVER_ADDR", "192.0.2.1"],
  ["SERVER_PORT", "443"],
  ["SERVER_NAME", "example.com"],
  ["REDIRECT_STATUS", "200"],
  ["PATH_INFO", ""],
  ["PATH_TRANSLATED", "/var/www/html"],
  ["HTTP_HOST", "example.com"],
  ["HTTP_CONNECTION", "keep-alive"],
  ["HTTP_CONTENT_LENGTH", "1024"],
  ["HTTP_CONTENT_TYPE", "application/x-www-form-urlencoded"],
  ["HTTP_CACHE_CONTROL", "max-age=0"],
  ["HTTP_SEC_CH_UA", '"Chromium";v="128", "Not;A=Brand";v="24", "Google Chrome";v="128"'],
  ["HTTP_SEC_CH_UA_MOBILE", "?0"],
  ["HTTP_SEC_CH_UA_PLATFORM", '"Linux"'],
  ["HTTP_UPGRADE_INSECURE_REQUESTS", "1"],
  ["HTTP_ORIGIN", "https://example.com"],
  [
    "HTTP_USER_AGENT",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " +
    "Chrome/128.0.0.0 Safari/537.36",
  ],
  [
    "HTTP_ACCEPT",
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp," +
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
  ],
  ["HTTP_SEC_FETCH_SITE", "same-origin"],
  ["HTTP_SEC_FETCH_MODE", "navigate"],
  ["HTTP_SEC_FETCH_USER", "?1"],
  ["HTTP_SEC_FETCH_DEST", "document"],
  ["HTTP_REFERER", "https://example.com/index.php?page=1"],
  ["HTTP_ACCEPT_ENCODING", "gzip, deflate, br, zstd"],
  ["HTTP_ACCEPT_LANGUAGE", "en-GB,en-US;q=0.9,en;q=0.8"],
  [
    "HTTP_COOKIE",
    "PHPSESSID=" + "0123456789abcdef".repeat(2) + "; _ga=GA1.1.1234567890.1700000000; " +
    "theme=dark; consent=yes",
  ],
  ["HTTP_PRIORITY", "u=0, i"],
  ["HTTP_DNT", "1"],
];

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** One request as nginx writes it: BEGIN_REQUEST, PARAMS, empty PARAMS, STDIN, empty STDIN. */
function encodeRequest(requestId: number, body: Uint8Array): Uint8Array {
  const params = encodeParams(PARAMS);
  const out = new Uint8Array(
    16 + encodedStreamLength(params.length) + 8 + encodedStreamLength(body.length) + 8,
  );
  let at = encodeBeginRequest(out, 0, requestId, ROLE.Responder, FLAG.KeepConn);
  at = encodeStream(out, at, RECORD_TYPE.Params, requestId, params);
  at = encodeStream(out, at, RECORD_TYPE.Params, requestId, new Uint8Array(0));
  at = encodeStream(out, at, RECORD_TYPE.Stdin, requestId, body);
  at = encodeStream(out, at, RECORD_TYPE.Stdin, requestId, new Uint8Array(0));
  return out.subarray(0, at);
}

const BODY_1K = new Uint8Array(KIB).fill(0x61);
const REQUEST = encodeRequest(1, BODY_1K);
const KEEP_ALIVE_STREAM = concat(Array.from({ length: 100 }, () => REQUEST));

// Results go here so the work cannot be optimized away.
let sink = 0;

/** Decodes one whole request the way the server does; returns the body length. */
function decodeRequest(records: RecordDecoder, bytes: Uint8Array): number {
  records.push(bytes);
  let params: ParamsDecoder | null = null;
  let bodyLength = 0;
  while (records.next()) {
    switch (records.type) {
      case RECORD_TYPE.BeginRequest:
        sink += decodeBeginRequestBody(records.content).role;
        params = new ParamsDecoder();
        break;
      case RECORD_TYPE.Params:
        if (params === null) throw new Error("Cannot bench: PARAMS before BEGIN_REQUEST");
        if (records.content.length > 0) params.push(records.content);
        else sink += params.finish().length;
        break;
      case RECORD_TYPE.Stdin:
        // STDIN escapes to the handler's body stream, so the server copies it.
        bodyLength += records.content.slice().length;
        break;
    }
  }
  return bodyLength;
}

// Check once that the fixtures decode as intended before timing anything.
{
  const check = new RecordDecoder();
  const before = sink;
  if (decodeRequest(check, REQUEST) !== KIB || sink - before !== 1 + 2 * PARAMS.length) {
    throw new Error("Cannot bench: the request does not decode as built");
  }
}

const requestDecoder = new RecordDecoder();
function decodeOneRequest(): void {
  sink += decodeRequest(requestDecoder, REQUEST);
}

const PARAMS_BYTES = encodeParams(PARAMS);
function decodeParamsOnly(): void {
  sink += decodeParams(PARAMS_BYTES).length;
}

/** Feeds the 100-request stream in 64 KiB reads; `params` also decodes params and body. */
function decodeKeepAliveStream(decoder: RecordDecoder, params: boolean): void {
  let at = 0;
  let collecting: ParamsDecoder | null = null;
  while (at < KEEP_ALIVE_STREAM.length) {
    const view = decoder.writable(READ_SIZE);
    const count = Math.min(READ_SIZE, view.length, KEEP_ALIVE_STREAM.length - at);
    view.set(KEEP_ALIVE_STREAM.subarray(at, at + count));
    decoder.commit(count);
    at += count;
    while (decoder.next()) {
      if (!params) {
        sink++;
        continue;
      }
      const content = decoder.content;
      if (decoder.type === RECORD_TYPE.BeginRequest) collecting = new ParamsDecoder();
      else if (decoder.type === RECORD_TYPE.Params && collecting !== null) {
        if (content.length > 0) collecting.push(content);
        else sink += collecting.finish().length;
      } else if (decoder.type === RECORD_TYPE.Stdin) {
        sink += content.slice().length;
      }
    }
  }
}
const streamDecoder = new RecordDecoder();
const paramsStreamDecoder = new RecordDecoder();

/** The response head: "Status: 200 OK" and 8 headers. */
const RESPONSE_HEADERS: [string, string][] = [
  ["Content-Type", "text/html; charset=utf-8"],
  ["Content-Length", "1024"],
  ["Cache-Control", "no-store"],
  ["Date", "Sat, 22 Nov 2025 05:00:00 GMT"],
  ["Set-Cookie", "PHPSESSID=0123456789abcdef0123456789abcdef; Path=/; HttpOnly; Secure"],
  ["X-Content-Type-Options", "nosniff"],
  ["Vary", "Accept-Encoding"],
  ["X-Request-Id", "5f2b8c1e-6a3d-4e7f-9b10-2c4d6e8f0a1b"],
];
const RESPONSE = new Response(null, { headers: RESPONSE_HEADERS });

const BODY_1M = new Uint8Array(MIB).fill(0x62);
const HEAD_SCRATCH = new Uint8Array(4 * KIB);
// One output buffer, reused: head records, body records, end of stream, END_REQUEST.
const OUT = new Uint8Array(
  encodedStreamLength(HEAD_SCRATCH.length) + encodedStreamLength(BODY_1M.length) + 8 + 16,
);
const EMPTY = new Uint8Array(0);

/** The codec alone: encodes one response into {@linkcode OUT}; returns the bytes written. */
function encodeResponse(requestId: number, body: Uint8Array): number {
  let head = "Status: 200 OK\r\n";
  for (const [name, value] of RESPONSE_HEADERS) head += `${name}: ${value}\r\n`;
  head += "\r\n";
  const headLength = encoder.encodeInto(head, HEAD_SCRATCH).written;
  let at = encodeStream(
    OUT,
    0,
    RECORD_TYPE.Stdout,
    requestId,
    HEAD_SCRATCH.subarray(0, headLength),
  );
  at = encodeStream(OUT, at, RECORD_TYPE.Stdout, requestId, body);
  at = encodeStream(OUT, at, RECORD_TYPE.Stdout, requestId, EMPTY);
  return encodeEndRequest(OUT, at, requestId, 0, PROTOCOL_STATUS.RequestComplete);
}

/**
 * The server's path: the `Status:` head of a Response and the body framed by the connection's
 * STDOUT sink into one write (records that span head and body, then END_REQUEST).
 */
const slab = new OutputSlab();
const allocate = (size: number) => slab.allocate(size);
const RESOLVED = Promise.resolve();
const sent = (bytes: Uint8Array): Promise<void> => {
  sink += bytes.length;
  return RESOLVED;
};
function encodeServerResponse(body: Uint8Array): Promise<void> {
  const stdout = new StdoutSink(1, sent, allocate);
  stdout.writeLatin1(encodeCgiHead(RESPONSE));
  stdout.write(body);
  // Synchronous up to 256 KiB; a larger body goes out in 256 KiB slices, one write each.
  return stdout.finish(0);
}

// ---------------------------------------------------------------------------------------------
// One request served by the FastCGI connection code (params -> Request -> handler -> Response
// -> records) over an in-memory connection: everything but the kernel. 50 kept-alive
// connections, like nginx under wrk -c50; each event-loop turn (a MessageChannel message) hands
// every connection whose answer is complete its next request.

/** GET / as nginx sends it with its stock params and wrk's one header. */
const HELLO_REQUEST = (() => {
  const params = encodeParams([
    ["SCRIPT_FILENAME", "/var/www/html/"],
    ["QUERY_STRING", ""],
    ["REQUEST_METHOD", "GET"],
    ["CONTENT_TYPE", ""],
    ["CONTENT_LENGTH", ""],
    ["SCRIPT_NAME", "/"],
    ["REQUEST_URI", "/"],
    ["DOCUMENT_URI", "/"],
    ["DOCUMENT_ROOT", "/var/www/html"],
    ["SERVER_PROTOCOL", "HTTP/1.1"],
    ["REQUEST_SCHEME", "http"],
    ["GATEWAY_INTERFACE", "CGI/1.1"],
    ["SERVER_SOFTWARE", "nginx/1.22.1"],
    ["REMOTE_ADDR", "127.0.0.1"],
    ["REMOTE_PORT", "41234"],
    ["REMOTE_USER", ""],
    ["SERVER_ADDR", "127.0.0.1"],
    ["SERVER_PORT", "8080"],
    ["SERVER_NAME", ""],
    ["REDIRECT_STATUS", "200"],
    ["HTTP_HOST", "127.0.0.1:8080"],
  ]);
  const out = new Uint8Array(16 + encodedStreamLength(params.length) + 16);
  let at = encodeBeginRequest(out, 0, 1, ROLE.Responder, FLAG.KeepConn);
  at = encodeStream(out, at, RECORD_TYPE.Params, 1, params);
  at = encodeStream(out, at, RECORD_TYPE.Params, 1, EMPTY);
  at = encodeStream(out, at, RECORD_TYPE.Stdin, 1, EMPTY);
  return out.subarray(0, at);
})();

const helloHandler = (): Response =>
  new Response("Hello, world!\n", { headers: { "content-type": "text/plain; charset=utf-8" } });
const postHandler = async (request: Request): Promise<Response> => {
  sink += (await request.arrayBuffer()).byteLength;
  return new Response(BODY_1K, { headers: RESPONSE_HEADERS });
};

// ---------------------------------------------------------------------------------------------
// The summary table, then the benches.

const repeat = (op: () => void) => (count: number): number => {
  for (let i = 0; i < count; i++) op();
  return count;
};
const repeatAsync = (op: () => Promise<void>) => async (count: number): Promise<number> => {
  for (let i = 0; i < count; i++) await op();
  return count;
};
/** Runs the 100-request stream often enough for about `count` requests. */
const streams = (decoder: RecordDecoder, params: boolean) => (count: number): number => {
  const times = Math.max(1, Math.round(count / 100));
  for (let i = 0; i < times; i++) decodeKeepAliveStream(decoder, params);
  return times * 100;
};
const HELLO_OUT = 8 + 88 + 8 + 16; // hello response records, for MB/s of the gateway rows
const measurements: Measurement[] = [
  await measure(
    `decode one nginx request (${PARAMS.length} params, 1 KiB STDIN)`,
    REQUEST.length,
    repeat(decodeOneRequest),
  ),
  await measure(
    `decodeParams(): ${PARAMS.length} pairs`,
    PARAMS_BYTES.length,
    repeat(decodeParamsOnly),
  ),
  await measure(
    "RecordDecoder: 100 kept-alive requests in 64 KiB reads (per request)",
    REQUEST.length,
    streams(streamDecoder, false),
  ),
  await measure(
    "RecordDecoder + ParamsDecoder: 100 kept-alive requests in 64 KiB reads (per request)",
    REQUEST.length,
    streams(paramsStreamDecoder, true),
  ),
  await measure(
    "codec: encode head + 8 headers + 1 KiB body + END_REQUEST",
    KIB,
    repeat(() => sink += encodeResponse(1, BODY_1K)),
  ),
  await measure(
    "codec: encode head + 8 headers + 1 MiB body + END_REQUEST",
    MIB,
    repeat(() => sink += encodeResponse(1, BODY_1M)),
  ),
  await measure(
    "server: Response head + 1 KiB body, STDOUT records in one write",
    KIB,
    repeatAsync(() => encodeServerResponse(BODY_1K)),
  ),
  await measure(
    "server: Response head + 1 MiB body, STDOUT records in 256 KiB writes",
    MIB,
    repeatAsync(() => encodeServerResponse(BODY_1M)),
  ),
];
for (
  const [name, handler, request, bytes] of [
    [
      "gateway in memory: GET hello world (21 params), 50 connections",
      helloHandler,
      HELLO_REQUEST,
      HELLO_OUT,
    ],
    [
      `gateway in memory: POST ${PARAMS.length} params + 1 KiB, 1 KiB answer, 50 connections`,
      postHandler,
      REQUEST,
      REQUEST.length + KIB,
    ],
  ] as const
) {
  const loop = gatewayLoop(handler, request);
  measurements.push(await measure(name, bytes, loop.run));
  loop.close();
}
console.log(
  formatMeasurements(
    "FastCGI, per operation (MB/s of the payload: request bytes decoded, body bytes encoded)",
    measurements,
  ),
);

Deno.bench({
  name: `decode one nginx request (${PARAMS.length} params, 1 KiB STDIN)`,
  group: "request",
  baseline: true,
  fn: decodeOneRequest,
});

Deno.bench({
  name: `decodeParams() alone: the same ${PARAMS.length} pairs`,
  group: "request",
  fn: decodeParamsOnly,
});

Deno.bench({
  name: "RecordDecoder: 100 kept-alive requests in 64 KiB reads",
  group: "keep-alive",
  baseline: true,
  fn: () => decodeKeepAliveStream(streamDecoder, false),
});

Deno.bench({
  name: "RecordDecoder + ParamsDecoder: 100 kept-alive requests in 64 KiB reads",
  group: "keep-alive",
  fn: () => decodeKeepAliveStream(paramsStreamDecoder, true),
});

Deno.bench({
  name: "codec: encode head + 8 headers + 1 KiB body + END_REQUEST",
  group: "encode",
  baseline: true,
  fn: () => void (sink += encodeResponse(1, BODY_1K)),
});

Deno.bench({
  name: "codec: encode head + 8 headers + 1 MiB body + END_REQUEST",
  group: "encode",
  fn: () => void (sink += encodeResponse(1, BODY_1M)),
});

Deno.bench({
  name: "server: Response head + 1 KiB body, STDOUT records in one write",
  group: "encode",
  fn: async () => {
    await encodeServerResponse(BODY_1K);
  },
});

Deno.bench({
  name: "server: Response head + 1 MiB body, STDOUT records in 256 KiB writes",
  group: "encode",
  fn: async () => {
    await encodeServerResponse(BODY_1M);
  },
});

{
  // One request at a time on one connection: the latency of the gateway code, without I/O.
  const loop = gatewayLoop(helloHandler, HELLO_REQUEST);
  Deno.bench({
    name: "gateway in memory: GET hello world, 50 connections x 20 requests (per 1000)",
    group: "gateway",
    baseline: true,
    fn: async () => {
      await loop.run(1000);
    },
  });
  addEventListener("unload", () => loop.close());
}

// Reads the sink once so it is not dead code; prints nothing.
addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
