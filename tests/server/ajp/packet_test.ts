import { assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import { LimitExceededError, ProtocolError } from "../../../server/errors.ts";
import { MAGIC_FROM_SERVER, MAGIC_TO_SERVER } from "../../../server/ajp/constants.ts";
import {
  AjpReader,
  byteStringLength,
  encodePacketHeader,
  PacketDecoder,
  stringLength,
  writeByteString,
  writeString,
  writeUint16,
  writeUint8,
} from "../../../server/ajp/packet.ts";
import { prng } from "./_random.ts";

const dirty = (size: number): Uint8Array => new Uint8Array(size).fill(0xee);

Deno.test("encodePacketHeader() writes the magic and the payload length, both directions", () => {
  const target = dirty(8);
  assertEquals(encodePacketHeader(target, 0, MAGIC_FROM_SERVER, 0x1ffc), 4);
  assertEquals(encodePacketHeader(target, 4, MAGIC_TO_SERVER, 2), 8);
  assertEquals([...target], [0x12, 0x34, 0x1f, 0xfc, 0x41, 0x42, 0x00, 0x02]);
  assertThrows(() => encodePacketHeader(target, 0, MAGIC_TO_SERVER, 0x10000), RangeError);
});

Deno.test("writeString() writes length, UTF-8 bytes and a 0 byte; null is 0xFFFF", () => {
  const target = dirty(16);
  let at = writeString(target, 0, "é/");
  at = writeString(target, at, "");
  at = writeString(target, at, null);
  assertEquals([...target.subarray(0, at)], [0, 3, 0xc3, 0xa9, 0x2f, 0, 0, 0, 0, 0xff, 0xff]);
  assertEquals(stringLength("é/"), 6);
  assertEquals(stringLength(null), 2);
  assertThrows(() => writeString(new Uint8Array(70000), 0, "x".repeat(65535)), RangeError);
});

Deno.test("writeByteString() writes Latin-1 and refuses characters above 255", () => {
  const target = dirty(6);
  assertEquals(writeByteString(target, 0, "a\u00ff"), 5);
  assertEquals([...target.subarray(0, 5)], [0, 2, 0x61, 0xff, 0]);
  assertEquals(byteStringLength("a\u00ff"), 5);
  assertThrows(() => writeByteString(target, 0, "\u0100"), RangeError);
});

Deno.test("writeUint8() and writeUint16() write big-endian and check the range", () => {
  const target = dirty(3);
  writeUint16(target, writeUint8(target, 0, 0xab), 0x1234);
  assertEquals([...target], [0xab, 0x12, 0x34]);
  assertThrows(() => writeUint16(target, 0, -1), RangeError);
});

Deno.test("AjpReader reads every type and throws ProtocolError with the offset when short", () => {
  const reader = new AjpReader(new Uint8Array([7, 1, 0x1f, 0x90, 0, 1, 0x41, 0, 0xff, 0xff]));
  assertEquals(reader.uint8(), 7);
  assertEquals(reader.boolean(), true);
  assertEquals(reader.uint16(), 8080);
  assertEquals(reader.string(), "A");
  assertEquals(reader.string(), null);
  assertEquals(reader.remaining, 0);
  const error = assertThrows(() => reader.uint8(), ProtocolError);
  assertEquals(error.offset, 10);
  assertThrows(() => new AjpReader(new Uint8Array([0, 5, 0x41, 0])).string(), ProtocolError);
  assertThrows(() => new AjpReader(new Uint8Array([2])).boolean(), ProtocolError, "boolean");
  assertThrows(
    () => new AjpReader(new Uint8Array([0, 1, 0x41, 1])).string(),
    ProtocolError,
    "0 byte",
  );
});

const STREAM = new Uint8Array([
  0x12,
  0x34,
  0,
  1,
  10, // CPING
  0x12,
  0x34,
  0,
  0, // an empty packet (lighttpd's end of body)
  0x12,
  0x34,
  0,
  4,
  0,
  2,
  0xaa,
  0xbb, // a body chunk
  0x12,
  0x34,
  0,
  1,
  7, // SHUTDOWN
]);
const PAYLOADS = [[10], [], [0, 2, 0xaa, 0xbb], [7]];

function decodeAll(decoder: PacketDecoder, chunks: Uint8Array[]): number[][] {
  const out: number[][] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    while (decoder.next()) out.push([...decoder.payload]);
  }
  return out;
}

Deno.test("PacketDecoder decodes a stream split at every offset", () => {
  for (let split = 0; split <= STREAM.length; split++) {
    const decoder = new PacketDecoder();
    const payloads = decodeAll(decoder, [STREAM.subarray(0, split), STREAM.subarray(split)]);
    assertEquals(payloads, PAYLOADS, `split at ${split}`);
    assertEquals(decoder.buffered, 0);
    assertEquals(decoder.offset, STREAM.length);
  }
});

Deno.test("PacketDecoder decodes a stream in random chunks and one byte at a time", () => {
  const random = prng(7);
  for (let run = 0; run < 200; run++) {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < STREAM.length;) {
      const size = 1 + Math.floor(random() * 7);
      chunks.push(STREAM.subarray(at, at + size));
      at += size;
    }
    assertEquals(decodeAll(new PacketDecoder(), chunks), PAYLOADS);
  }
  const bytes = [...STREAM].map((byte) => new Uint8Array([byte]));
  assertEquals(decodeAll(new PacketDecoder(), bytes), PAYLOADS);
});

Deno.test("PacketDecoder reads through writable() and commit() without a copy", () => {
  const decoder = new PacketDecoder();
  const view = decoder.writable(STREAM.length);
  view.set(STREAM);
  decoder.commit(STREAM.length);
  const out: number[][] = [];
  while (decoder.next()) out.push([...decoder.payload]);
  assertEquals(out, PAYLOADS);
  assertThrows(() => decoder.commit(1 << 20), RangeError);
});

Deno.test("PacketDecoder refuses a packet over packetSize from its header, naming the option", () => {
  const decoder = new PacketDecoder({ packetSize: 8192 });
  decoder.push(new Uint8Array([0x12, 0x34, 0x1f, 0xfd])); // 8189 + 4 = 8193
  const error = assertThrows(() => decoder.next(), LimitExceededError);
  assertEquals(error.option, "packetSize");
  assertEquals(error.limit, 8192);
  const exact = new PacketDecoder({ packetSize: 8192 });
  exact.push(new Uint8Array([0x12, 0x34, 0x1f, 0xfc]));
  assertEquals(exact.next(), false); // 8192 is allowed: waits for the payload
  assertEquals(exact.capacity <= 16384, true);
});

Deno.test("PacketDecoder refuses a wrong magic with a ProtocolError", () => {
  const decoder = new PacketDecoder();
  decoder.push(new Uint8Array([0x41, 0x42, 0, 1, 9]));
  assertInstanceOf(assertThrows(() => decoder.next()), ProtocolError);
  const client = new PacketDecoder({ magic: MAGIC_TO_SERVER });
  client.push(new Uint8Array([0x41, 0x42, 0, 1, 9]));
  assertEquals(client.next(), true);
  assertThrows(() => new PacketDecoder({ magic: 0x1111 }), RangeError);
});
