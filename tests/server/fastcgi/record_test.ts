import { Buffer } from "node:buffer";
import {
  assertEquals,
  assertInstanceOf,
  AssertionError,
  assertLessOrEqual,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { LimitExceededError, ProtocolError } from "../../../server/errors.ts";
import {
  FLAG,
  MAX_CONTENT_LENGTH,
  PROTOCOL_STATUS,
  RECORD_TYPE,
  ROLE,
} from "../../../server/fastcgi/constants.ts";
import {
  decodeBeginRequestBody,
  decodeEndRequestBody,
  decodeRecordHeader,
  encodeBeginRequest,
  encodedStreamLength,
  encodeEndRequest,
  encodeRecord,
  encodeRecordHeader,
  encodeStream,
  encodeUnknownType,
  paddingFor,
  RecordDecoder,
  type RecordHeader,
} from "../../../server/fastcgi/record.ts";
import {
  type Fixture,
  KEEP_ALIVE_FIXTURE_FILE,
  keepAliveFixture,
} from "../../fixtures/fastcgi/make_fixtures.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** A buffer of `size` bytes set to 0xee, so tests see which bytes an encoder wrote. */
function dirty(size: number): Uint8Array {
  return new Uint8Array(size).fill(0xee);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((part) => Uint8Array.from(part));
  const out = new Uint8Array(arrays.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of arrays) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** mulberry32: a small seeded PRNG, so random replays can be reproduced from the seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Checks the records a decoder yields against a fixture, in order, as bytes arrive: type,
 * request id, content bytes and the stream offset after each record.
 */
class Replay {
  #fixture: Fixture;
  #label: string;
  index = 0;

  constructor(fixture: Fixture, label: string) {
    this.#fixture = fixture;
    this.#label = label;
  }

  drain(decoder: RecordDecoder): void {
    while (decoder.next()) {
      const want = this.#fixture.records[this.index];
      if (want === undefined) {
        throw new AssertionError(`${this.#label}: an extra record at offset ${decoder.offset}`);
      }
      if (
        decoder.type !== want.type || decoder.requestId !== want.requestId ||
        !sameBytes(decoder.content, want.content) ||
        decoder.offset !== this.#fixture.ends[this.index]
      ) {
        throw new AssertionError(
          `${this.#label}: record ${this.index} is type ${decoder.type}, id ` +
            `${decoder.requestId}, ${decoder.content.length} bytes, ending at ${decoder.offset}; ` +
            `want type ${want.type}, id ${want.requestId}, ${want.content.length} bytes, ` +
            `ending at ${this.#fixture.ends[this.index]}`,
        );
      }
      this.index++;
    }
  }

  done(decoder: RecordDecoder): void {
    if (this.index !== this.#fixture.records.length) {
      throw new AssertionError(
        `${this.#label}: ${this.index} of ${this.#fixture.records.length} records decoded`,
      );
    }
    if (decoder.buffered !== 0 || decoder.missing() !== 0) {
      throw new AssertionError(`${this.#label}: ${decoder.buffered} bytes left over`);
    }
  }
}

const FIXTURE = keepAliveFixture();

// ---------------------------------------------------------------------------------------------
// Fixture

Deno.test("keepAliveFixture() matches the saved fixture file byte for byte", async () => {
  const saved = await Deno.readFile(
    new URL(`../../fixtures/fastcgi/${KEEP_ALIVE_FIXTURE_FILE}`, import.meta.url),
  );
  assertEquals(saved.length, FIXTURE.bytes.length);
  assertEquals(sameBytes(saved, FIXTURE.bytes), true);
});

// ---------------------------------------------------------------------------------------------
// paddingFor, encodeRecordHeader, decodeRecordHeader

Deno.test("paddingFor() pads every content length to a multiple of 8", () => {
  const table: [number, number][] = [
    [0, 0],
    [1, 7],
    [2, 6],
    [7, 1],
    [8, 0],
    [9, 7],
    [15, 1],
    [16, 0],
    [65528, 0],
    [65535, 1],
  ];
  for (const [length, padding] of table) assertEquals(paddingFor(length), padding, `${length}`);
  for (let length = 0; length < 1000; length++) {
    assertEquals((length + paddingFor(length)) % 8, 0);
    assertLessOrEqual(paddingFor(length), 7);
  }
});

Deno.test("encodeRecordHeader() writes golden bytes", () => {
  const table: [type: number, id: number, content: number, padding: number, bytes: number[]][] = [
    [RECORD_TYPE.BeginRequest, 1, 8, 0, [1, 1, 0, 1, 0, 8, 0, 0]],
    [RECORD_TYPE.AbortRequest, 1, 0, 0, [1, 2, 0, 1, 0, 0, 0, 0]],
    [RECORD_TYPE.EndRequest, 0x0102, 8, 0, [1, 3, 1, 2, 0, 8, 0, 0]],
    [RECORD_TYPE.Params, 0, 0, 0, [1, 4, 0, 0, 0, 0, 0, 0]],
    [RECORD_TYPE.Stdin, 255, 256, 0, [1, 5, 0, 255, 1, 0, 0, 0]],
    [RECORD_TYPE.Stdout, 1, 300, 4, [1, 6, 0, 1, 1, 44, 4, 0]],
    [RECORD_TYPE.Stderr, 256, 0xabcd, 3, [1, 7, 1, 0, 0xab, 0xcd, 3, 0]],
    [RECORD_TYPE.Data, 0xfffe, 1, 7, [1, 8, 0xff, 0xfe, 0, 1, 7, 0]],
    [RECORD_TYPE.GetValues, 0, 40, 0, [1, 9, 0, 0, 0, 40, 0, 0]],
    [RECORD_TYPE.GetValuesResult, 0, 41, 7, [1, 10, 0, 0, 0, 41, 7, 0]],
    [RECORD_TYPE.UnknownType, 0, 8, 0, [1, 11, 0, 0, 0, 8, 0, 0]],
    [42, 0xffff, 65535, 255, [1, 42, 0xff, 0xff, 0xff, 0xff, 0xff, 0]],
    [255, 0, 65528, 0, [1, 255, 0, 0, 0xff, 0xf8, 0, 0]],
  ];
  for (const [type, id, content, padding, bytes] of table) {
    const target = dirty(8);
    assertEquals(encodeRecordHeader(target, 0, type, id, content, padding), 8);
    assertEquals([...target], bytes, `type ${type}, id ${id}, ${content}+${padding}`);
  }
});

Deno.test("encodeRecordHeader() writes at offset and touches nothing else", () => {
  const target = dirty(20);
  assertEquals(encodeRecordHeader(target, 5, RECORD_TYPE.Stdout, 1, 300, 4), 13);
  assertEquals([...target], [
    ...Array(5).fill(0xee),
    ...[1, 6, 0, 1, 1, 44, 4, 0],
    ...Array(7).fill(0xee),
  ]);
});

Deno.test("encodeRecordHeader() throws RangeError on content or padding out of range", () => {
  const table: [content: number, padding: number, message: string][] = [
    [65536, 0, 'Cannot encode FastCGI record: content length is "65536"'],
    [-1, 0, 'Cannot encode FastCGI record: content length is "-1"'],
    [100000, 0, 'Cannot encode FastCGI record: content length is "100000"'],
    [0, 256, 'Cannot encode FastCGI record: padding length is "256"'],
    [0, -1, 'Cannot encode FastCGI record: padding length is "-1"'],
  ];
  for (const [content, padding, message] of table) {
    const target = dirty(8);
    assertThrows(
      () => encodeRecordHeader(target, 0, RECORD_TYPE.Stdout, 1, content, padding),
      RangeError,
      message,
    );
    assertEquals([...target], Array(8).fill(0xee), "nothing is written before the throw");
  }
  // The largest legal values do not throw.
  encodeRecordHeader(dirty(8), 0, RECORD_TYPE.Stdout, 1, MAX_CONTENT_LENGTH, 255);
});

// CODEC BUG (server/fastcgi/record.ts): requestId and type are not range-checked, and a
// Uint8Array store wraps them, so request id 65536 goes out as 0 (FCGI_NULL_REQUEST_ID, a
// management record) and type 256 as 0. The docs give "0 to 65535"; rule 7 wants RangeError.
Deno.test("encodeRecordHeader() throws RangeError on a request id or type that does not fit", () => {
  for (const id of [65536, -1, 70000]) {
    assertThrows(
      () => encodeRecordHeader(dirty(8), 0, RECORD_TYPE.Stdout, id, 0, 0),
      RangeError,
      undefined,
      `request id ${id}`,
    );
  }
  for (const type of [256, -1]) {
    assertThrows(
      () => encodeRecordHeader(dirty(8), 0, type, 1, 0, 0),
      RangeError,
      undefined,
      `type ${type}`,
    );
  }
});

Deno.test("decodeRecordHeader() reads golden bytes", () => {
  const table: [bytes: number[], header: RecordHeader][] = [
    [[1, 1, 0, 1, 0, 8, 0, 0], {
      version: 1,
      type: 1,
      requestId: 1,
      contentLength: 8,
      paddingLength: 0,
    }],
    [[1, 6, 0, 1, 1, 44, 4, 0], {
      version: 1,
      type: 6,
      requestId: 1,
      contentLength: 300,
      paddingLength: 4,
    }],
    [[1, 42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], {
      version: 1,
      type: 42,
      requestId: 65535,
      contentLength: 65535,
      paddingLength: 255,
    }],
    // The version is reported, not checked; the reserved byte is ignored.
    [[2, 9, 0x12, 0x34, 0x56, 0x78, 9, 7], {
      version: 2,
      type: 9,
      requestId: 0x1234,
      contentLength: 0x5678,
      paddingLength: 9,
    }],
  ];
  for (const [bytes, header] of table) {
    assertEquals(decodeRecordHeader(new Uint8Array(bytes)), header);
    assertEquals(decodeRecordHeader(new Uint8Array([9, 9, 9, ...bytes, 9]), 3), header);
  }
});

Deno.test("decodeRecordHeader() returns null with fewer than 8 bytes", () => {
  const bytes = new Uint8Array([1, 5, 0, 1, 0, 2, 6, 0]);
  for (let length = 0; length < 8; length++) {
    assertStrictEquals(decodeRecordHeader(bytes.subarray(0, length)), null);
  }
  assertStrictEquals(decodeRecordHeader(bytes, 1), null);
  assertStrictEquals(decodeRecordHeader(new Uint8Array(20), 13), null);
});

Deno.test("decodeRecordHeader() inverts encodeRecordHeader()", () => {
  const random = prng(1);
  for (let i = 0; i < 500; i++) {
    const type = Math.floor(random() * 256);
    const requestId = Math.floor(random() * 65536);
    const contentLength = Math.floor(random() * 65536);
    const paddingLength = Math.floor(random() * 256);
    const target = new Uint8Array(8);
    encodeRecordHeader(target, 0, type, requestId, contentLength, paddingLength);
    assertEquals(decodeRecordHeader(target), {
      version: 1,
      type,
      requestId,
      contentLength,
      paddingLength,
    });
  }
});

// ---------------------------------------------------------------------------------------------
// encodeRecord, encodedStreamLength, encodeStream

Deno.test("encodeRecord() writes golden bytes padded to 8 with zeros", () => {
  const content = (length: number) => Array.from({ length }, (_, i) => 0x41 + i);
  const table: [length: number, bytes: number[]][] = [
    [0, [1, 6, 0, 1, 0, 0, 0, 0]],
    [1, [1, 6, 0, 1, 0, 1, 7, 0, 0x41, 0, 0, 0, 0, 0, 0, 0]],
    [2, [1, 6, 0, 1, 0, 2, 6, 0, 0x41, 0x42, 0, 0, 0, 0, 0, 0]],
    [7, [1, 6, 0, 1, 0, 7, 1, 0, ...content(7), 0]],
    [8, [1, 6, 0, 1, 0, 8, 0, 0, ...content(8)]],
    [9, [1, 6, 0, 1, 0, 9, 7, 0, ...content(9), 0, 0, 0, 0, 0, 0, 0]],
    [16, [1, 6, 0, 1, 0, 16, 0, 0, ...content(16)]],
    [17, [1, 6, 0, 1, 0, 17, 7, 0, ...content(17), ...Array(7).fill(0)]],
  ];
  for (const [length, bytes] of table) {
    const target = dirty(bytes.length + 4);
    const end = encodeRecord(target, 0, RECORD_TYPE.Stdout, 1, new Uint8Array(content(length)));
    assertEquals(end, bytes.length, `${length} bytes`);
    assertEquals([...target], [...bytes, 0xee, 0xee, 0xee, 0xee], `${length} bytes`);
  }
});

Deno.test("encodeRecord() writes a 65535-byte record with 1 byte of padding at offset", () => {
  const content = new Uint8Array(65535).fill(0x5a);
  const target = dirty(3 + 8 + 65535 + 1 + 2);
  assertEquals(encodeRecord(target, 3, RECORD_TYPE.Stdin, 0x0203, content), 3 + 65544);
  assertEquals([...target.subarray(0, 11)], [0xee, 0xee, 0xee, 1, 5, 2, 3, 0xff, 0xff, 1, 0]);
  assertEquals(sameBytes(target.subarray(11, 11 + 65535), content), true);
  assertEquals([...target.subarray(11 + 65535)], [0, 0xee, 0xee]);
});

Deno.test("encodeRecord() throws RangeError on more than 65535 bytes of content", () => {
  assertThrows(
    () => encodeRecord(new Uint8Array(70000), 0, RECORD_TYPE.Stdout, 1, new Uint8Array(65536)),
    RangeError,
    'content length is "65536"',
  );
});

Deno.test("encodeStream() writes the empty end-of-stream record for empty data", () => {
  const table: [type: number, id: number, bytes: number[]][] = [
    [RECORD_TYPE.Stdout, 1, [1, 6, 0, 1, 0, 0, 0, 0]],
    [RECORD_TYPE.Stderr, 0x0102, [1, 7, 1, 2, 0, 0, 0, 0]],
    [RECORD_TYPE.Params, 65535, [1, 4, 0xff, 0xff, 0, 0, 0, 0]],
    [RECORD_TYPE.Stdin, 7, [1, 5, 0, 7, 0, 0, 0, 0]],
    [RECORD_TYPE.Data, 7, [1, 8, 0, 7, 0, 0, 0, 0]],
  ];
  for (const [type, id, bytes] of table) {
    const target = dirty(10);
    assertEquals(encodeStream(target, 1, type, id, new Uint8Array(0)), 9);
    assertEquals([...target], [0xee, ...bytes, 0xee]);
  }
  assertEquals(encodedStreamLength(0), 8);
});

Deno.test("encodeStream() writes short data as one padded record", () => {
  const target = dirty(24);
  const end = encodeStream(target, 0, RECORD_TYPE.Stdout, 1, new TextEncoder().encode("Hello"));
  assertEquals(end, 16);
  assertEquals([...target.subarray(0, 16)], [
    ...[1, 6, 0, 1, 0, 5, 3, 0],
    ...[0x48, 0x65, 0x6c, 0x6c, 0x6f, 0, 0, 0],
  ]);
  assertEquals([...target.subarray(16)], Array(8).fill(0xee));
});

/** [contentLength, paddingLength] of each record encodeStream writes, read back from bytes. */
function streamLayout(bytes: Uint8Array, type: number, requestId: number): [number, number][] {
  const layout: [number, number][] = [];
  let at = 0;
  while (at < bytes.length) {
    const header = decodeRecordHeader(bytes, at);
    if (header === null) throw new AssertionError(`A header is cut at ${at}`);
    assertEquals([header.version, header.type, header.requestId], [1, type, requestId]);
    layout.push([header.contentLength, header.paddingLength]);
    at += 8 + header.contentLength + header.paddingLength;
  }
  assertEquals(at, bytes.length);
  return layout;
}

Deno.test("encodeStream() splits data into records of 65528 bytes", () => {
  const table: [length: number, layout: [number, number][]][] = [
    [1, [[1, 7]]],
    [8, [[8, 0]]],
    [65527, [[65527, 1]]],
    [65528, [[65528, 0]]],
    [65529, [[65528, 0], [1, 7]]],
    [65535, [[65528, 0], [7, 1]]],
    [65536, [[65528, 0], [8, 0]]],
    [70000, [[65528, 0], [4472, 0]]],
    [70001, [[65528, 0], [4473, 7]]],
    [131056, [[65528, 0], [65528, 0]]],
    [131057, [[65528, 0], [65528, 0], [1, 7]]],
    [200000, [[65528, 0], [65528, 0], [65528, 0], [3416, 0]]],
  ];
  for (const [length, layout] of table) {
    const data = new Uint8Array(length);
    const target = new Uint8Array(encodedStreamLength(length));
    assertEquals(encodeStream(target, 0, RECORD_TYPE.Stdout, 9, data), target.length);
    assertEquals(streamLayout(target, RECORD_TYPE.Stdout, 9), layout, `${length} bytes`);
  }
});

Deno.test("encodeStream() writes 70000 bytes as golden records", () => {
  const data = new Uint8Array(70000);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  const target = dirty(70000 + 16 + 1);
  assertEquals(encodeStream(target, 0, RECORD_TYPE.Stdout, 1, data), 70016);
  assertEquals([...target.subarray(0, 8)], [1, 6, 0, 1, 0xff, 0xf8, 0, 0]);
  assertEquals(sameBytes(target.subarray(8, 8 + 65528), data.subarray(0, 65528)), true);
  assertEquals([...target.subarray(65536, 65544)], [1, 6, 0, 1, 0x11, 0x78, 0, 0]);
  assertEquals(sameBytes(target.subarray(65544, 70016), data.subarray(65528)), true);
  assertEquals(target[70016], 0xee);
});

Deno.test("encodedStreamLength() agrees with what encodeStream() writes", () => {
  const lengths = new Set<number>();
  for (let length = 0; length <= 2100; length++) lengths.add(length);
  for (const base of [65528, 131056, 196584]) {
    for (let delta = -20; delta <= 20; delta++) lengths.add(base + delta);
  }
  const random = prng(7);
  for (let i = 0; i < 100; i++) lengths.add(Math.floor(random() * 300000));
  const target = new Uint8Array(encodedStreamLength(300000) + 64);
  const data = new Uint8Array(300000);
  for (const length of lengths) {
    const end = encodeStream(target, 5, RECORD_TYPE.Stdin, 3, data.subarray(0, length));
    assertEquals(end - 5, encodedStreamLength(length), `${length} bytes`);
    assertEquals((end - 5) % 8, 0, `${length} bytes stay aligned`);
  }
});

Deno.test("encodeStream() output decodes back to the same data", () => {
  const random = prng(11);
  for (const length of [1, 7, 8, 9, 4096, 65528, 65529, 70000, 131057]) {
    const data = new Uint8Array(length);
    for (let i = 0; i < length; i++) data[i] = Math.floor(random() * 256);
    const target = new Uint8Array(encodedStreamLength(length));
    encodeStream(target, 0, RECORD_TYPE.Stdout, 4, data);
    const decoder = new RecordDecoder();
    decoder.push(target);
    const out = new Uint8Array(length);
    let at = 0;
    while (decoder.next()) {
      assertEquals([decoder.type, decoder.requestId], [RECORD_TYPE.Stdout, 4]);
      out.set(decoder.content, at);
      at += decoder.content.length;
    }
    assertEquals(at, length);
    assertEquals(sameBytes(out, data), true, `${length} bytes`);
  }
});

// ---------------------------------------------------------------------------------------------
// BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE

Deno.test("encodeBeginRequest() writes golden bytes", () => {
  const table: [id: number, role: number, flags: number, bytes: number[]][] = [
    [1, ROLE.Responder, FLAG.KeepConn, [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]],
    [1, ROLE.Responder, 0, [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]],
    [2, ROLE.Authorizer, 0, [1, 1, 0, 2, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]],
    [0x1234, ROLE.Filter, FLAG.KeepConn, [1, 1, 0x12, 0x34, 0, 8, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0]],
    [65535, 0x0102, 0xff, [1, 1, 0xff, 0xff, 0, 8, 0, 0, 1, 2, 0xff, 0, 0, 0, 0, 0]],
  ];
  for (const [id, role, flags, bytes] of table) {
    const target = dirty(18);
    assertEquals(encodeBeginRequest(target, 1, id, role, flags), 17);
    assertEquals([...target], [0xee, ...bytes, 0xee], `id ${id}, role ${role}`);
    assertEquals(decodeBeginRequestBody(target.subarray(9, 17)), { role, flags });
  }
});

Deno.test("decodeBeginRequestBody() reads golden bytes and ignores the reserved bytes", () => {
  const table: [bytes: number[], role: number, flags: number][] = [
    [[0, 1, 1, 0, 0, 0, 0, 0], 1, 1],
    [[0, 1, 0, 0, 0, 0, 0, 0], 1, 0],
    [[0, 3, 0, 9, 9, 9, 9, 9], 3, 0],
    [[0xff, 0xff, 0xfe, 0, 0, 0, 0, 0], 65535, 0xfe],
  ];
  for (const [bytes, role, flags] of table) {
    assertEquals(decodeBeginRequestBody(new Uint8Array(bytes)), { role, flags });
  }
});

Deno.test("decodeBeginRequestBody() throws ProtocolError on content other than 8 bytes", () => {
  for (const length of [0, 1, 7, 9, 16]) {
    const error = assertThrows(
      () => decodeBeginRequestBody(new Uint8Array(length)),
      ProtocolError,
      `Cannot decode FastCGI BEGIN_REQUEST: content length is "${length}", not 8`,
    );
    assertEquals(error.protocol, "fastcgi");
    assertEquals(error.name, "ProtocolError");
  }
});

Deno.test("encodeEndRequest() writes appStatus as 32-bit big endian", () => {
  const table: [appStatus: number, status: number, body: number[]][] = [
    [0, PROTOCOL_STATUS.RequestComplete, [0, 0, 0, 0, 0, 0, 0, 0]],
    [1, PROTOCOL_STATUS.RequestComplete, [0, 0, 0, 1, 0, 0, 0, 0]],
    [256, PROTOCOL_STATUS.Overloaded, [0, 0, 1, 0, 2, 0, 0, 0]],
    [0x01020304, PROTOCOL_STATUS.CantMpxConn, [1, 2, 3, 4, 1, 0, 0, 0]],
    [0x7fffffff, PROTOCOL_STATUS.UnknownRole, [0x7f, 0xff, 0xff, 0xff, 3, 0, 0, 0]],
    [0x80000000, PROTOCOL_STATUS.RequestComplete, [0x80, 0, 0, 0, 0, 0, 0, 0]],
    [0xffffffff, PROTOCOL_STATUS.RequestComplete, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]],
  ];
  for (const [appStatus, status, body] of table) {
    const target = dirty(17);
    assertEquals(encodeEndRequest(target, 0, 0x0102, appStatus, status), 16);
    assertEquals([...target], [1, 3, 1, 2, 0, 8, 0, 0, ...body, 0xee], `appStatus ${appStatus}`);
    assertEquals(decodeEndRequestBody(target.subarray(8, 16)), {
      appStatus,
      protocolStatus: status,
    });
  }
});

Deno.test("decodeEndRequestBody() reads appStatus unsigned and ignores the reserved bytes", () => {
  const table: [bytes: number[], appStatus: number, protocolStatus: number][] = [
    [[0, 0, 1, 0, 2, 0, 0, 0], 256, 2],
    [[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], 0xffffffff, 0],
    [[0x80, 0, 0, 1, 3, 7, 7, 7], 0x80000001, 3],
  ];
  for (const [bytes, appStatus, protocolStatus] of table) {
    assertEquals(decodeEndRequestBody(new Uint8Array(bytes)), { appStatus, protocolStatus });
  }
});

Deno.test("decodeEndRequestBody() throws ProtocolError on content other than 8 bytes", () => {
  for (const length of [0, 1, 7, 9, 16]) {
    const error = assertThrows(
      () => decodeEndRequestBody(new Uint8Array(length)),
      ProtocolError,
      `Cannot decode FastCGI END_REQUEST: content length is "${length}", not 8`,
    );
    assertEquals(error.protocol, "fastcgi");
  }
});

Deno.test("encodeUnknownType() writes golden bytes with request id 0", () => {
  const table: [type: number, bytes: number[]][] = [
    [42, [1, 11, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0]],
    [0, [1, 11, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    [12, [1, 11, 0, 0, 0, 8, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0]],
    [255, [1, 11, 0, 0, 0, 8, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0]],
  ];
  for (const [type, bytes] of table) {
    const target = dirty(20);
    assertEquals(encodeUnknownType(target, 2, type), 18);
    assertEquals([...target], [0xee, 0xee, ...bytes, 0xee, 0xee], `type ${type}`);
  }
});

// ---------------------------------------------------------------------------------------------
// RecordDecoder: the fixture replayed at every split

Deno.test("RecordDecoder.next() decodes the fixture stream in one push", () => {
  const decoder = new RecordDecoder();
  const replay = new Replay(FIXTURE, "one push");
  decoder.push(FIXTURE.bytes);
  replay.drain(decoder);
  replay.done(decoder);
  assertEquals(decoder.offset, FIXTURE.bytes.length);
  assertEquals(decoder.next(), false);
});

Deno.test("RecordDecoder.next() decodes a stream split at every offset", () => {
  const bytes = FIXTURE.bytes;
  const ends = FIXTURE.ends;
  for (let split = 0; split <= bytes.length; split++) {
    const label = `split at ${split}`;
    const decoder = new RecordDecoder();
    const replay = new Replay(FIXTURE, label);
    decoder.push(bytes.subarray(0, split));
    replay.drain(decoder);
    // Between the pushes the decoder holds exactly the start of one record.
    const recordEnd = ends[replay.index] ?? bytes.length;
    const buffered = split - decoder.offset;
    if (decoder.buffered !== buffered) {
      throw new AssertionError(`${label}: buffered is ${decoder.buffered}, want ${buffered}`);
    }
    const missing = buffered === 0 ? 0 : buffered < 8 ? 8 - buffered : recordEnd - split;
    if (decoder.missing() !== missing) {
      throw new AssertionError(`${label}: missing() is ${decoder.missing()}, want ${missing}`);
    }
    decoder.push(bytes.subarray(split));
    replay.drain(decoder);
    replay.done(decoder);
  }
});

Deno.test("RecordDecoder.next() decodes a stream pushed in random chunk sizes", () => {
  const bytes = FIXTURE.bytes;
  for (let run = 0; run < 200; run++) {
    const random = prng(1000 + run);
    const label = `seed ${1000 + run}`;
    const decoder = new RecordDecoder();
    const replay = new Replay(FIXTURE, label);
    let at = 0;
    while (at < bytes.length) {
      // Mostly small reads, sometimes larger than the biggest record.
      const roll = random();
      const size = roll < 0.6
        ? 1 + Math.floor(random() * 16)
        : roll < 0.9
        ? 1 + Math.floor(random() * 4096)
        : 1 + Math.floor(random() * 80000);
      decoder.push(bytes.subarray(at, at + size));
      at = Math.min(bytes.length, at + size);
      replay.drain(decoder);
      assertEquals(decoder.buffered, at - decoder.offset, label);
    }
    replay.done(decoder);
  }
});

Deno.test("RecordDecoder.next() decodes a stream pushed one byte at a time", () => {
  const bytes = FIXTURE.bytes;
  const decoder = new RecordDecoder();
  const replay = new Replay(FIXTURE, "one byte at a time");
  for (let at = 0; at < bytes.length; at++) {
    decoder.push(bytes.subarray(at, at + 1));
    replay.drain(decoder);
  }
  replay.done(decoder);
});

Deno.test("RecordDecoder.writable() and commit() decode a stream read in small pieces", () => {
  const bytes = FIXTURE.bytes;
  const plans: [label: string, minimum: number, read: (random: () => number) => number][] = [
    ["reads of 1 byte", 1, () => 1],
    ["reads of 7 bytes", 7, () => 7],
    ["reads of 100 bytes", 100, () => 100],
    ["reads of up to 4096 bytes into writable()", 4096, () => 4096],
    ["reads of random size", 512, (random) => 1 + Math.floor(random() * 512)],
    ["short reads into large views", 65536, (random) => 1 + Math.floor(random() * 3000)],
  ];
  for (const [label, minimum, read] of plans) {
    const random = prng(99);
    const decoder = new RecordDecoder({ initialBufferSize: 64 });
    const replay = new Replay(FIXTURE, label);
    let at = 0;
    while (at < bytes.length) {
      const view = decoder.writable(minimum);
      if (view.length < minimum) {
        throw new AssertionError(`${label}: writable() gave ${view.length} < ${minimum}`);
      }
      const count = Math.min(read(random), view.length, bytes.length - at);
      view.set(bytes.subarray(at, at + count));
      decoder.commit(count);
      at += count;
      replay.drain(decoder);
    }
    replay.done(decoder);
  }
});

Deno.test("RecordDecoder.writable() always offers at least the minimum asked for", () => {
  const bytes = FIXTURE.bytes;
  for (let run = 0; run < 50; run++) {
    const random = prng(5000 + run);
    const label = `seed ${5000 + run}`;
    const decoder = new RecordDecoder({ initialBufferSize: 8 + Math.floor(random() * 64) });
    const replay = new Replay(FIXTURE, label);
    let at = 0;
    while (at < bytes.length) {
      // Small, large, and right at the edge where compacting just fits or just does not.
      const roll = random();
      const edge = decoder.capacity - decoder.buffered + Math.floor(random() * 5) - 2;
      const minimum = roll < 0.5
        ? 1 + Math.floor(random() * 64)
        : roll < 0.95
        ? Math.max(1, edge)
        : 1 + Math.floor(random() * 70000);
      const view = decoder.writable(minimum);
      if (view.length < minimum) {
        throw new AssertionError(`${label}: writable(${minimum}) gave ${view.length} bytes`);
      }
      const count = Math.min(minimum, bytes.length - at);
      view.set(bytes.subarray(at, at + count));
      decoder.commit(count);
      at += count;
      replay.drain(decoder);
    }
    replay.done(decoder);
  }
});

Deno.test("RecordDecoder.next() keeps content views valid until the next call", () => {
  const decoder = new RecordDecoder();
  decoder.push(FIXTURE.bytes);
  assertEquals(decoder.next(), true);
  const begin = decoder.content;
  assertEquals([...begin], [0, 1, 1, 0, 0, 0, 0, 0]);
  assertEquals(decodeBeginRequestBody(begin), { role: ROLE.Responder, flags: FLAG.KeepConn });
  assertEquals(decoder.buffered, FIXTURE.bytes.length - 16);
  assertEquals(decoder.offset, 16);
});

// ---------------------------------------------------------------------------------------------
// RecordDecoder: errors and limits

Deno.test("RecordDecoder.next() throws ProtocolError with the offset on a version other than 1", () => {
  for (const version of [0, 2, 255]) {
    const decoder = new RecordDecoder();
    const bytes = new Uint8Array(32);
    encodeRecord(bytes, 0, RECORD_TYPE.Stdin, 1, new Uint8Array([1, 2, 3]));
    encodeRecordHeader(bytes, 16, RECORD_TYPE.Stdin, 1, 0, 0);
    bytes[16] = version;
    decoder.push(bytes.subarray(0, 24));
    assertEquals(decoder.next(), true);
    const error = assertThrows(
      () => decoder.next(),
      ProtocolError,
      `Cannot decode FastCGI record: version is "${version}"`,
    );
    assertEquals(error.protocol, "fastcgi");
    assertEquals(error.offset, 16);
  }
});

Deno.test("RecordDecoder.next() throws LimitExceededError before the content arrives", () => {
  const decoder = new RecordDecoder({ maxContentLength: 100 });
  const bytes = new Uint8Array(16 + 8);
  encodeRecord(bytes, 0, RECORD_TYPE.Params, 1, new Uint8Array([1, 2, 3]));
  encodeRecordHeader(bytes, 16, RECORD_TYPE.Stdin, 1, 101, 3);
  decoder.push(bytes); // a whole record, then only the 8-byte header of the next one
  assertEquals(decoder.next(), true);
  const error = assertThrows(
    () => decoder.next(),
    LimitExceededError,
    'Cannot decode FastCGI record: content length "101" is over "100"',
  );
  assertEquals(error.option, "maxRecordContentLength");
  assertEquals(error.limit, 100);
  assertEquals(error.protocol, "fastcgi");
  assertEquals(error.offset, 16);
  assertEquals(error.name, "LimitExceededError");
});

Deno.test("RecordDecoder.next() accepts content exactly at maxContentLength", () => {
  const decoder = new RecordDecoder({ maxContentLength: 100 });
  const bytes = new Uint8Array(8 + 100 + 4);
  encodeRecord(bytes, 0, RECORD_TYPE.Stdin, 1, new Uint8Array(100).fill(9));
  decoder.push(bytes);
  assertEquals(decoder.next(), true);
  assertEquals(decoder.content.length, 100);
});

Deno.test("RecordDecoder.next() checks maxContentLength on the fixture's largest record", () => {
  const decoder = new RecordDecoder({ maxContentLength: 65527 });
  const at = FIXTURE.ends[3]!; // the 65528-byte STDIN record starts here
  decoder.push(FIXTURE.bytes.subarray(0, at + 8));
  for (let i = 0; i < 4; i++) assertEquals(decoder.next(), true);
  const error = assertThrows(() => decoder.next(), LimitExceededError);
  assertEquals(error.option, "maxRecordContentLength");
  assertEquals(error.offset, at);
});

Deno.test("RecordDecoder.commit() throws RangeError past the writable view or below 0", () => {
  const decoder = new RecordDecoder({ initialBufferSize: 16 });
  const view = decoder.writable(8);
  assertThrows(() => decoder.commit(view.length + 1), RangeError, 'Cannot commit "');
  assertThrows(() => decoder.commit(-1), RangeError);
  decoder.commit(view.length);
  assertEquals(decoder.buffered, view.length);
});

Deno.test("RecordDecoder.missing() reports the bytes the current record still needs", () => {
  const decoder = new RecordDecoder();
  const bytes = new Uint8Array(8 + 5 + 3);
  encodeRecord(bytes, 0, RECORD_TYPE.Stdin, 1, new Uint8Array(5));
  const want = [0, 7, 6, 5, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1];
  for (let at = 0; at < bytes.length; at++) {
    assertEquals(decoder.missing(), want[at], `after ${at} bytes`);
    assertEquals(decoder.next(), false);
    decoder.push(bytes.subarray(at, at + 1));
  }
  assertEquals(decoder.missing(), 0);
  assertEquals(decoder.next(), true);
  assertEquals(decoder.missing(), 0);
  assertEquals(decoder.buffered, 0);
});

Deno.test("RecordDecoder.capacity stays bounded over a 10 MB stream of max-size records", () => {
  const recordSize = 8 + 65535 + 255;
  const record = new Uint8Array(recordSize);
  encodeRecordHeader(record, 0, RECORD_TYPE.Stdin, 1, 65535, 255);
  const count = Math.ceil(10_000_000 / recordSize);
  const stream = new Uint8Array(count * recordSize);
  for (let i = 0; i < count; i++) stream.set(record, i * recordSize);
  const initial = 16384;
  const bound = 2 * recordSize + initial;
  const read = 65536;

  for (const mode of ["push", "writable"] as const) {
    const decoder = new RecordDecoder({ initialBufferSize: initial });
    let decoded = 0;
    let maxCapacity = 0;
    let at = 0;
    while (at < stream.length) {
      if (mode === "push") {
        const end = Math.min(stream.length, at + read);
        decoder.push(stream.subarray(at, end));
        at = end;
      } else {
        const view = decoder.writable(read);
        const n = Math.min(read, view.length, stream.length - at);
        view.set(stream.subarray(at, at + n));
        decoder.commit(n);
        at += n;
      }
      while (decoder.next()) decoded++;
      maxCapacity = Math.max(maxCapacity, decoder.capacity);
      assertLessOrEqual(decoder.capacity, bound, `${mode}: capacity at ${at}`);
      assertLessOrEqual(decoder.buffered, recordSize - 1, `${mode}: buffered at ${at}`);
      assertLessOrEqual(decoder.missing(), recordSize, `${mode}: missing() at ${at}`);
      assertEquals(decoder.offset, decoded * recordSize, `${mode}: offset at ${at}`);
    }
    assertEquals(decoded, count, mode);
    assertEquals(decoder.buffered, 0, mode);
    assertLessOrEqual(maxCapacity, bound, mode);
  }
});

Deno.test("RecordDecoder.writable() reuses its buffer across keep-alive requests", () => {
  const decoder = new RecordDecoder();
  for (let round = 0; round < 50; round++) {
    const view = decoder.writable(4096);
    view.set(FIXTURE.bytes.subarray(0, 16));
    decoder.commit(16);
    assertEquals(decoder.next(), true);
    assertEquals(decoder.next(), false);
  }
  assertEquals(decoder.capacity, 16384);
  assertEquals(decoder.offset, 50 * 16);
});

Deno.test("RecordDecoder.next() reports the fixture's record types and ids in order", () => {
  const decoder = new RecordDecoder();
  decoder.push(FIXTURE.bytes);
  const seen: [number, number, number][] = [];
  while (decoder.next()) seen.push([decoder.type, decoder.requestId, decoder.content.length]);
  const B = RECORD_TYPE.BeginRequest;
  const P = RECORD_TYPE.Params;
  const S = RECORD_TYPE.Stdin;
  assertEquals(seen.length, FIXTURE.records.length);
  assertEquals(seen.map(([type, id]) => [type, id]), [
    [B, 1],
    [P, 1],
    [P, 1],
    [P, 1],
    [S, 1],
    [S, 1],
    [S, 1],
    [S, 1],
    [B, 2],
    [P, 2],
    [P, 2],
    [RECORD_TYPE.AbortRequest, 2],
    [RECORD_TYPE.GetValues, 0],
    [42, 0],
    [B, 3],
    [P, 3],
    [S, 3],
  ]);
  assertEquals(seen.slice(4, 8).map(([, , length]) => length), [65528, 1001, 13, 0]);
  assertInstanceOf(decoder.content, Uint8Array);
  assertEquals(
    concat(...FIXTURE.records.map((r) => r.content)).length,
    seen.reduce((n, [, , length]) => n + length, 0),
  );
});
