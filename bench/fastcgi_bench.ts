// FastCGI codec benchmarks: decoding nginx-like requests and encoding responses.
//
//   deno bench bench/fastcgi_bench.ts
//
// The request is what nginx sends with its stock fastcgi_params (plus SCRIPT_FILENAME and
// PATH_INFO) and 20 request headers, with a 1 KiB body. Everything is built once up front with
// the codec's encoders; each iteration only decodes or encodes, reusing buffers as the server
// does on a kept-alive connection.

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
Deno.bench({
  name: `decode one nginx request (${PARAMS.length} params, 1 KiB STDIN)`,
  group: "request",
  baseline: true,
  fn() {
    sink += decodeRequest(requestDecoder, REQUEST);
  },
});

const PARAMS_BYTES = encodeParams(PARAMS);
Deno.bench({
  name: `decodeParams() alone: the same ${PARAMS.length} pairs`,
  group: "request",
  fn() {
    sink += decodeParams(PARAMS_BYTES).length;
  },
});

const streamDecoder = new RecordDecoder();
Deno.bench({
  name: "RecordDecoder: 100 kept-alive requests in 64 KiB reads",
  group: "keep-alive",
  baseline: true,
  fn() {
    let at = 0;
    let records = 0;
    while (at < KEEP_ALIVE_STREAM.length) {
      const view = streamDecoder.writable(READ_SIZE);
      const count = Math.min(READ_SIZE, view.length, KEEP_ALIVE_STREAM.length - at);
      view.set(KEEP_ALIVE_STREAM.subarray(at, at + count));
      streamDecoder.commit(count);
      at += count;
      while (streamDecoder.next()) records++;
    }
    sink += records;
  },
});

const paramsStreamDecoder = new RecordDecoder();
Deno.bench({
  name: "RecordDecoder + ParamsDecoder: 100 kept-alive requests in 64 KiB reads",
  group: "keep-alive",
  fn() {
    let at = 0;
    let params: ParamsDecoder | null = null;
    while (at < KEEP_ALIVE_STREAM.length) {
      const view = paramsStreamDecoder.writable(READ_SIZE);
      const count = Math.min(READ_SIZE, view.length, KEEP_ALIVE_STREAM.length - at);
      view.set(KEEP_ALIVE_STREAM.subarray(at, at + count));
      paramsStreamDecoder.commit(count);
      at += count;
      while (paramsStreamDecoder.next()) {
        const content = paramsStreamDecoder.content;
        if (paramsStreamDecoder.type === RECORD_TYPE.BeginRequest) params = new ParamsDecoder();
        else if (paramsStreamDecoder.type === RECORD_TYPE.Params && params !== null) {
          if (content.length > 0) params.push(content);
          else sink += params.finish().length;
        } else if (paramsStreamDecoder.type === RECORD_TYPE.Stdin) {
          sink += content.slice().length;
        }
      }
    }
  },
});

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

const BODY_1M = new Uint8Array(MIB).fill(0x62);
const HEAD_SCRATCH = new Uint8Array(4 * KIB);
// One output buffer, reused: head records, body records, end of stream, END_REQUEST.
const OUT = new Uint8Array(
  encodedStreamLength(HEAD_SCRATCH.length) + encodedStreamLength(BODY_1M.length) + 8 + 16,
);
const EMPTY = new Uint8Array(0);

/** Encodes one response into {@linkcode OUT}; returns the bytes written. */
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

Deno.bench({
  name: "encode response: head + 8 headers + 1 KiB body + END_REQUEST",
  group: "encode",
  baseline: true,
  fn() {
    sink += encodeResponse(1, BODY_1K);
  },
});

Deno.bench({
  name: "encode response: head + 8 headers + 1 MiB body + END_REQUEST",
  group: "encode",
  fn() {
    sink += encodeResponse(1, BODY_1M);
  },
});

// Reads the sink once so it is not dead code; prints nothing.
addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
