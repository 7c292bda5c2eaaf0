// AJP codec benchmarks: decoding a FORWARD_REQUEST as mod_proxy_ajp sends it and encoding the
// response packets.
//
//   deno bench --allow-all bench/ajp_bench.ts
//
// The request is `POST /app/index.jsp?page=2` over TLS with 20 request headers (coded and
// named), the attributes mod_proxy_ajp sends (query_string, remote_user, auth_type, route,
// SSL cipher/session/key size, secret, AJP_REMOTE_PORT, AJP_LOCAL_ADDR, AJP_SSL_PROTOCOL) and
// a 1 KiB body packet. Everything is built once with the codec's encoders; each iteration only
// decodes or encodes, reusing buffers as the server does on a kept connection. Before
// `deno bench` runs, a summary table gives ns per request, MB/s and the heap growth per request
// (measured over up to 1e5 requests).

import { MAGIC_FROM_SERVER } from "../server/ajp/constants.ts";
import {
  decodeForwardRequest,
  decodeRequestBodyChunk,
  encodeForwardRequest,
  encodeRequestBodyChunk,
  type ForwardRequestInit,
  forwardRequestLength,
} from "../server/ajp/forward_request.ts";
import { PacketDecoder } from "../server/ajp/packet.ts";
import {
  bodyChunksLength,
  encodeBodyChunks,
  encodeEndResponse,
  encodeSendHeaders,
  sendHeadersLength,
} from "../server/ajp/response.ts";
import { formatMeasurements, measure } from "./e2e/_measure.ts";

const REQUEST: ForwardRequestInit = {
  method: "POST",
  requestUri: "/app/index.jsp",
  remoteAddr: "192.0.2.10",
  serverName: "example.com",
  serverPort: 443,
  isSsl: true,
  headers: [
    ["Host", "example.com"],
    ["Connection", "keep-alive"],
    ["Content-Length", "1024"],
    ["Content-Type", "application/x-www-form-urlencoded"],
    ["Cache-Control", "max-age=0"],
    ["sec-ch-ua", '"Chromium";v="128", "Not;A=Brand";v="24", "Google Chrome";v="128"'],
    ["sec-ch-ua-mobile", "?0"],
    ["sec-ch-ua-platform", '"Linux"'],
    ["Upgrade-Insecure-Requests", "1"],
    ["Origin", "https://example.com"],
    [
      "User-Agent",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " +
      "Chrome/128.0.0.0 Safari/537.36",
    ],
    [
      "Accept",
      "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp," +
      "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    ],
    ["Sec-Fetch-Site", "same-origin"],
    ["Sec-Fetch-Mode", "navigate"],
    ["Sec-Fetch-User", "?1"],
    ["Sec-Fetch-Dest", "document"],
    ["Referer", "https://example.com/app/index.jsp?page=1"],
    ["Accept-Encoding", "gzip, deflate, br, zstd"],
    ["Accept-Language", "en-GB,en-US;q=0.9,en;q=0.8"],
    ["Cookie", "JSESSIONID=" + "0123456789ABCDEF".repeat(2) + "; _ga=GA1.1.1234567890.1700000000"],
  ],
  attributes: {
    queryString: "page=2",
    remoteUser: "alice",
    authType: "Basic",
    route: "node1",
    sslCipher: "TLS_AES_128_GCM_SHA256",
    sslSession: "5d41402abc4b2a76b9719d911017c592".repeat(2),
    sslKeySize: 128,
    secret: "a-long-shared-secret-value",
    requestAttributes: [
      ["AJP_SSL_PROTOCOL", "TLSv1.3"],
      ["AJP_REMOTE_PORT", "53124"],
      ["AJP_LOCAL_ADDR", "192.0.2.1"],
    ],
  },
};

const requestPacket = new Uint8Array(forwardRequestLength(REQUEST));
encodeForwardRequest(requestPacket, 0, REQUEST);
const body = new Uint8Array(1024).map((_, i) => (i * 31) & 0xff);
const bodyPacket = new Uint8Array(body.length + 6);
encodeRequestBodyChunk(bodyPacket, 0, body);
const stream = new Uint8Array(requestPacket.length + bodyPacket.length);
stream.set(requestPacket);
stream.set(bodyPacket, requestPacket.length);
if (stream[0] !== MAGIC_FROM_SERVER >> 8) throw new Error("bad fixture");

const decoder = new PacketDecoder();
let sink = 0;

/** Decodes FORWARD_REQUEST and the body packet, as the server does on a kept connection. */
function decodeRequest(): void {
  decoder.push(stream);
  if (!decoder.next()) throw new Error("no packet");
  const request = decodeForwardRequest(decoder.payload);
  if (request.headers.length !== 20) throw new Error("bad decode");
  if (!decoder.next()) throw new Error("no body");
  // The body escapes to the handler's stream, so the server copies it.
  sink += decodeRequestBodyChunk(decoder.payload).slice().length;
}

const responseHeaders: [string, string][] = [
  ["content-type", "text/html; charset=utf-8"],
  ["content-length", "1024"],
  ["cache-control", "no-store"],
  ["set-cookie", "JSESSIONID=0123456789ABCDEF; Path=/; HttpOnly; Secure"],
  ["set-cookie", "theme=dark; Path=/; SameSite=Lax"],
  ["x-frame-options", "DENY"],
  ["date", "Sun, 22 Nov 2026 05:00:00 GMT"],
];
const PACKET_SIZE = 8192;
const BODY_1M = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) & 0xff);
const out = new Uint8Array(
  sendHeadersLength(200, "OK", responseHeaders) + bodyChunksLength(BODY_1M.length, PACKET_SIZE) +
    6,
);

/** SEND_HEADERS, the body in SEND_BODY_CHUNK packets and END_RESPONSE into one buffer. */
function encodeResponse(payload: Uint8Array): void {
  let at = encodeSendHeaders(out, 0, 200, "OK", responseHeaders);
  at = encodeBodyChunks(out, at, payload, PACKET_SIZE);
  sink += encodeEndResponse(out, at, true);
}

const repeat = (op: () => void) => (count: number): number => {
  for (let i = 0; i < count; i++) op();
  return count;
};
console.log(formatMeasurements(
  "AJP, per operation (MB/s of the payload: request bytes decoded, body bytes encoded)",
  [
    await measure(
      "decode FORWARD_REQUEST (20 headers, 11 attributes) + 1 KiB body packet",
      stream.length,
      repeat(decodeRequest),
    ),
    await measure(
      "encode SEND_HEADERS (7 headers) + 1 KiB SEND_BODY_CHUNK + END_RESPONSE",
      body.length,
      repeat(() => encodeResponse(body)),
    ),
    await measure(
      "encode SEND_HEADERS (7 headers) + 1 MiB in 8 KiB chunks + END_RESPONSE",
      BODY_1M.length,
      repeat(() => encodeResponse(BODY_1M)),
    ),
  ],
));

Deno.bench("AJP decode FORWARD_REQUEST (20 headers, 11 attributes) + 1 KiB body packet", {
  group: "decode",
  baseline: true,
}, decodeRequest);

Deno.bench("AJP encode SEND_HEADERS (7 headers) + 1 KiB SEND_BODY_CHUNK + END_RESPONSE", {
  group: "encode",
  baseline: true,
}, () => encodeResponse(body));

Deno.bench("AJP encode SEND_HEADERS (7 headers) + 1 MiB in 8 KiB chunks + END_RESPONSE", {
  group: "encode",
}, () => encodeResponse(BODY_1M));

// Reads the sink once so it is not dead code; prints nothing.
addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
