import { assertEquals, assertThrows } from "@std/assert";
import { ProtocolError } from "../../../server/errors.ts";
import { MAGIC_TO_SERVER } from "../../../server/ajp/constants.ts";
import { PacketDecoder } from "../../../server/ajp/packet.ts";
import {
  bodyChunksLength,
  decodeContainerPacket,
  encodeBodyChunks,
  encodeCpong,
  encodeEndResponse,
  encodeGetBodyChunk,
  encodeSendHeaders,
  maxBodyChunk,
  sendHeadersLength,
} from "../../../server/ajp/response.ts";
import { prng } from "./_random.ts";

const s = (text: string): number[] => [
  text.length >> 8,
  text.length & 0xff,
  ...[...text].map((c) => c.charCodeAt(0)),
  0,
];

Deno.test("encodeSendHeaders() writes status, reason and coded or named headers, each Set-Cookie apart", () => {
  const headers: [string, string][] = [
    ["content-type", "text/plain"],
    ["set-cookie", "a=1; Path=/"],
    ["set-cookie", "b=2"],
    ["x-powered-by", "flup"],
    ["Location", "/next"],
  ];
  const payload = [
    4,
    0x01,
    0x2e, // 302
    ...s("Found"),
    0,
    5,
    0xa0,
    0x01,
    ...s("text/plain"),
    0xa0,
    0x07,
    ...s("a=1; Path=/"),
    0xa0,
    0x07,
    ...s("b=2"),
    ...s("x-powered-by"),
    ...s("flup"),
    0xa0,
    0x06,
    ...s("/next"),
  ];
  const target = new Uint8Array(sendHeadersLength(302, "Found", headers));
  assertEquals(encodeSendHeaders(target, 0, 302, "Found", headers), target.length);
  assertEquals([...target], [0x41, 0x42, payload.length >> 8, payload.length & 0xff, ...payload]);
  assertEquals(decodeContainerPacket(target.subarray(4)), {
    type: "headers",
    status: 302,
    reason: "Found",
    headers: headers.map(([n, v]) => [n.toLowerCase(), v]),
  });
  assertThrows(() => encodeSendHeaders(new Uint8Array(20), 0, 42, "x", []), RangeError);
});

Deno.test("encodeBodyChunks() splits at packetSize - 8 and ends each packet with a 0 byte", () => {
  assertEquals(maxBodyChunk(8192), 8184);
  const data = new Uint8Array(8184 * 2 + 5).map((_, i) => i & 0xff);
  const length = bodyChunksLength(data.length, 8192);
  assertEquals(length, data.length + 3 * 8);
  const target = new Uint8Array(length);
  assertEquals(encodeBodyChunks(target, 0, data, 8192), length);
  assertEquals([...target.subarray(0, 7)], [0x41, 0x42, 0x1f, 0xfc, 3, 0x1f, 0xf8]);
  assertEquals(target[8192 - 1], 0);
  const decoder = new PacketDecoder({ magic: MAGIC_TO_SERVER, packetSize: 8192 });
  decoder.push(target);
  const parts: number[] = [];
  const joined: number[] = [];
  while (decoder.next()) {
    const packet = decodeContainerPacket(decoder.payload);
    if (packet.type !== "body") throw new Error("not a body packet");
    parts.push(packet.data.length);
    joined.push(...packet.data);
  }
  assertEquals(parts, [8184, 8184, 5]);
  assertEquals(joined, [...data]);
});

Deno.test("encodeBodyChunks() packs a list of small chunks into shared packets", () => {
  const chunks = [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])];
  const target = new Uint8Array(bodyChunksLength(3, 8192));
  encodeBodyChunks(target, 0, chunks, 8192);
  assertEquals([...target], [0x41, 0x42, 0, 7, 3, 0, 3, 1, 2, 3, 0]);
  assertEquals(encodeBodyChunks(target, 0, new Uint8Array(0), 8192), 0);
});

Deno.test("encodeEndResponse(), encodeGetBodyChunk() and encodeCpong() write the spec's bytes", () => {
  const target = new Uint8Array(6 + 6 + 7 + 5);
  let at = encodeEndResponse(target, 0, true);
  at = encodeEndResponse(target, at, false);
  at = encodeGetBodyChunk(target, at, 8186);
  at = encodeCpong(target, at);
  assertEquals(at, target.length);
  assertEquals([...target], [
    ...[0x41, 0x42, 0, 2, 5, 1],
    ...[0x41, 0x42, 0, 2, 5, 0],
    ...[0x41, 0x42, 0, 3, 6, 0x1f, 0xfa],
    ...[0x41, 0x42, 0, 1, 9],
  ]);
  assertEquals(decodeContainerPacket(target.subarray(16, 19)), { type: "get-body", length: 8186 });
  assertEquals(decodeContainerPacket(target.subarray(23)), { type: "cpong" });
});

Deno.test("decodeContainerPacket() refuses unknown prefixes, a missing 0 byte and leftovers", () => {
  assertThrows(() => decodeContainerPacket(new Uint8Array([42])), ProtocolError, "42");
  assertThrows(() => decodeContainerPacket(new Uint8Array([3, 0, 1, 9, 1])), ProtocolError);
  assertThrows(() => decodeContainerPacket(new Uint8Array([5, 1, 0])), ProtocolError, "left");
});

Deno.test("a whole response decodes the same at every split and in random chunks", () => {
  const headers: [string, string][] = [["content-type", "text/plain"]];
  const body = new Uint8Array(300).map((_, i) => i & 0xff);
  const out = new Uint8Array(
    sendHeadersLength(200, "OK", headers) + bodyChunksLength(body.length, 8192) + 6,
  );
  let at = encodeSendHeaders(out, 0, 200, "OK", headers);
  at = encodeBodyChunks(out, at, body, 8192);
  encodeEndResponse(out, at, true);
  const run = (chunks: Uint8Array[], label: string): void => {
    const decoder = new PacketDecoder({ magic: MAGIC_TO_SERVER });
    const types: string[] = [];
    for (const chunk of chunks) {
      decoder.push(chunk);
      while (decoder.next()) types.push(decodeContainerPacket(decoder.payload).type);
    }
    assertEquals(types, ["headers", "body", "end"], label);
  };
  for (let split = 0; split <= out.length; split++) {
    run([out.subarray(0, split), out.subarray(split)], `split ${split}`);
  }
  const random = prng(99);
  for (let i = 0; i < 100; i++) {
    const chunks: Uint8Array[] = [];
    for (let from = 0; from < out.length;) {
      const size = 1 + Math.floor(random() * 64);
      chunks.push(out.subarray(from, from + size));
      from += size;
    }
    run(chunks, `run ${i}`);
  }
});
