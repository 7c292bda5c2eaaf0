// SCGI codec benchmarks: decoding an nginx header block and encoding a response.
//
//   deno bench --allow-all bench/scgi_bench.ts
//
// The request is what nginx sends with its stock scgi_params (14 pairs plus CONTENT_LENGTH,
// with PATH_INFO and SCRIPT_NAME added: 25 variables) and 20 request headers, followed by a
// 1 KiB body. Each iteration decodes or encodes one request, as the server does once per
// connection; the response side is the server's own path (encodeCgiHead + encodeLatin1 and
// one write buffer for head and body). Before `deno bench` runs, a summary table gives ns per
// request, MB/s and the heap growth per request (measured over up to 1e5 requests).

import { parseCgiVariables } from "../server/_cgi_env.ts";
import { encodeCgiHead, encodeLatin1 } from "../server/_respond.ts";
import {
  decodeScgiHeaders,
  encodeScgiHeaders,
  ScgiHeaderDecoder,
} from "../server/scgi/netstring.ts";
import { formatMeasurements, measure } from "./e2e/_measure.ts";

const KIB = 1024;
const MIB = 1024 * KIB;

/** 25 CGI variables (nginx scgi_params and friends) and 20 HTTP_* headers. */
const PAIRS: [string, string][] = [
  ["CONTENT_LENGTH", "1024"],
  ["REQUEST_METHOD", "POST"],
  ["REQUEST_URI", "/app/index?page=2"],
  ["QUERY_STRING", "page=2"],
  ["CONTENT_TYPE", "application/x-www-form-urlencoded"],
  ["DOCUMENT_URI", "/app/index"],
  ["DOCUMENT_ROOT", "/var/www/html"],
  ["SCGI", "1"],
  ["SERVER_PROTOCOL", "HTTP/1.1"],
  ["REQUEST_SCHEME", "https"],
  ["HTTPS", "on"],
  ["REMOTE_ADDR", "192.0.2.10"],
  ["REMOTE_PORT", "53124"],
  ["SERVER_PORT", "443"],
  ["SERVER_NAME", "example.com"],
  ["SERVER_ADDR", "192.0.2.1"],
  ["SERVER_SOFTWARE", "nginx/1.22.1"],
  ["GATEWAY_INTERFACE", "CGI/1.1"],
  ["SCRIPT_NAME", "/app"],
  ["PATH_INFO", "/index"],
  ["PATH_TRANSLATED", "/var/www/html/index"],
  ["REMOTE_USER", ""],
  ["AUTH_TYPE", ""],
  ["REDIRECT_STATUS", "200"],
  ["SERVER_ADMIN", "webmaster@example.com"],
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
  ["HTTP_REFERER", "https://example.com/app/index?page=1"],
  ["HTTP_ACCEPT_ENCODING", "gzip, deflate, br, zstd"],
  ["HTTP_ACCEPT_LANGUAGE", "en-GB,en-US;q=0.9,en;q=0.8"],
  [
    "HTTP_COOKIE",
    "sid=" + "0123456789abcdef".repeat(2) + "; _ga=GA1.1.1234567890.1700000000; theme=dark",
  ],
];

const BODY_1K = new Uint8Array(KIB).fill(0x61);
const HEADER = encodeScgiHeaders(PAIRS);
const REQUEST = new Uint8Array([...HEADER, ...BODY_1K]);
const READ_SIZE = 16 * KIB;

// Results go here so the work cannot be optimized away.
let sink = 0;

// Check once that the request decodes as built before timing anything.
{
  const block = decodeScgiHeaders(REQUEST);
  if (block?.pairs.length !== 2 * PAIRS.length || block.length !== HEADER.length) {
    throw new Error("Cannot bench: the request does not decode as built");
  }
}

function decodeBlock(): void {
  sink += decodeScgiHeaders(REQUEST)!.pairs.length;
}

function decodeWithBody(): void {
  // A fresh decoder per request, as the server has one per connection.
  const decoder = new ScgiHeaderDecoder({ initialBufferSize: READ_SIZE });
  const view = decoder.writable(READ_SIZE);
  view.set(REQUEST);
  decoder.commit(REQUEST.length);
  sink += decoder.decode()!.pairs.length + decoder.remainder.slice().length;
}

function decodeToHead(): void {
  const decoder = new ScgiHeaderDecoder({ initialBufferSize: READ_SIZE });
  decoder.push(REQUEST);
  sink += parseCgiVariables(decoder.decode()!.pairs, "scgi").url.length;
}

function encodeBlock(): void {
  sink += encodeScgiHeaders(PAIRS).length;
}

/** The response: "Status: 200 OK" and 8 headers, then 1 KiB. */
const RESPONSE_HEADERS: [string, string][] = [
  ["Content-Type", "text/html; charset=utf-8"],
  ["Content-Length", "1024"],
  ["Cache-Control", "no-store"],
  ["Date", "Sat, 22 Nov 2025 05:00:00 GMT"],
  ["Set-Cookie", "sid=0123456789abcdef0123456789abcdef; Path=/; HttpOnly; Secure"],
  ["X-Content-Type-Options", "nosniff"],
  ["Vary", "Accept-Encoding"],
  ["X-Request-Id", "5f2b8c1e-6a3d-4e7f-9b10-2c4d6e8f0a1b"],
];
const RESPONSE = new Response(null, { status: 200, headers: RESPONSE_HEADERS });

const BODY_1M = new Uint8Array(MIB).fill(0x62);

/** What the server's sink does for a ready response: head and body, one buffer. */
function encodeResponse(body: Uint8Array): void {
  const head = encodeLatin1(encodeCgiHead(RESPONSE));
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  sink += out.length;
}

const repeat = (op: () => void) => (count: number): number => {
  for (let i = 0; i < count; i++) op();
  return count;
};
console.log(formatMeasurements(
  "SCGI, per operation (MB/s of the payload: request bytes decoded, body bytes encoded)",
  [
    await measure(
      `decodeScgiHeaders(): nginx block (${PAIRS.length} pairs)`,
      HEADER.length,
      repeat(decodeBlock),
    ),
    await measure(
      "ScgiHeaderDecoder: decode + copy the 1 KiB body out",
      REQUEST.length,
      repeat(decodeWithBody),
    ),
    await measure(
      "ScgiHeaderDecoder + parseCgiVariables(): block to Request head",
      REQUEST.length,
      repeat(decodeToHead),
    ),
    await measure(`encodeScgiHeaders(): ${PAIRS.length} pairs`, HEADER.length, repeat(encodeBlock)),
    await measure(
      "encode response: head + 8 headers + 1 KiB body, one buffer",
      KIB,
      repeat(() => encodeResponse(BODY_1K)),
    ),
    await measure(
      "encode response: head + 8 headers + 1 MiB body, one buffer",
      MIB,
      repeat(() => encodeResponse(BODY_1M)),
    ),
  ],
));

Deno.bench({
  name: `decodeScgiHeaders(): nginx block (${PAIRS.length} pairs, ${HEADER.length} bytes)`,
  group: "request",
  baseline: true,
  fn: decodeBlock,
});

Deno.bench({
  name: "ScgiHeaderDecoder: one 16 KiB read, decode, copy the 1 KiB body out",
  group: "request",
  fn: decodeWithBody,
});

Deno.bench({
  name: "ScgiHeaderDecoder + parseCgiVariables(): block to Request head",
  group: "request",
  fn: decodeToHead,
});

Deno.bench({
  name: `encodeScgiHeaders(): the same ${PAIRS.length} pairs (client side)`,
  group: "request",
  fn: encodeBlock,
});

Deno.bench({
  name: "encode response: Status head + 8 headers + 1 KiB body in one write buffer",
  group: "encode",
  baseline: true,
  fn: () => encodeResponse(BODY_1K),
});

Deno.bench({
  name: "encode response: Status head + 8 headers + 1 MiB body in one write buffer",
  group: "encode",
  fn: () => encodeResponse(BODY_1M),
});

// Reads the sink once so it is not dead code; prints nothing.
addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
