import {
  assertEquals,
  assertGreaterOrEqual,
  AssertionError,
  assertLessOrEqual,
  assertThrows,
} from "@std/assert";
import { LimitExceededError, ProtocolError } from "../../../server/errors.ts";
import { RECORD_TYPE } from "../../../server/fastcgi/constants.ts";
import {
  decodeParams,
  encodedParamsLength,
  encodeParams,
  encodeParamsInto,
  ParamsDecoder,
} from "../../../server/fastcgi/params.ts";
import { RecordDecoder } from "../../../server/fastcgi/record.ts";
import {
  GET_VALUES_PARAMS,
  keepAliveFixture,
  NGINX_PARAMS,
  pairBytes,
  SECOND_PARAMS,
} from "../../fixtures/fastcgi/make_fixtures.ts";

type Pair = readonly [string, string];

const encoder = new TextEncoder();

function ascii(text: string): number[] {
  return [...text].map((char) => char.charCodeAt(0));
}

function utf8(text: string): number[] {
  return [...encoder.encode(text)];
}

function flat(pairs: readonly Pair[]): string[] {
  return pairs.flatMap(([name, value]) => [name, value]);
}

const N127 = "n".repeat(127);
const N128 = "n".repeat(128);
const V127 = "v".repeat(127);
const V128 = "v".repeat(128);
const E127 = "é".repeat(63) + "a"; // 63 characters of 2 bytes + 1: 127 bytes, 64 characters
const E128 = "é".repeat(64); // 128 bytes, 64 characters

/** Golden encodings: pairs -> exact bytes, every length rule of spec section 3.4. */
const GOLDEN: [label: string, pairs: Pair[], bytes: number[]][] = [
  ["no pairs", [], []],
  ["one short pair", [["A", "B"]], [1, 1, 0x41, 0x42]],
  ["empty name and value", [["", ""]], [0, 0]],
  ["empty value", [["HTTPS", ""]], [5, 0, ...ascii("HTTPS")]],
  [
    "two pairs in order",
    [["REQUEST_METHOD", "GET"], ["QUERY_STRING", "a=1"]],
    [14, 3, ...ascii("REQUEST_METHODGET"), 12, 3, ...ascii("QUERY_STRINGa=1")],
  ],
  ["name of 127 bytes", [[N127, "x"]], [0x7f, 1, ...ascii(N127), 0x78]],
  ["name of 128 bytes", [[N128, "x"]], [0x80, 0, 0, 0x80, 1, ...ascii(N128), 0x78]],
  ["value of 127 bytes", [["x", V127]], [1, 0x7f, 0x78, ...ascii(V127)]],
  ["value of 128 bytes", [["x", V128]], [1, 0x80, 0, 0, 0x80, 0x78, ...ascii(V128)]],
  [
    "name and value of 128 bytes",
    [[N128, V128]],
    [0x80, 0, 0, 0x80, 0x80, 0, 0, 0x80, ...ascii(N128), ...ascii(V128)],
  ],
  [
    "value of 70000 bytes",
    [["BIG", "z".repeat(70000)]],
    [3, 0x80, 0x01, 0x11, 0x70, ...ascii("BIG"), ...Array(70000).fill(0x7a)],
  ],
  ["UTF-8 name", [["é", "1"]], [2, 1, 0xc3, 0xa9, 0x31]],
  ["UTF-8 value", [["X", "東京"]], [1, 6, 0x58, 0xe6, 0x9d, 0xb1, 0xe4, 0xba, 0xac]],
  ["astral value", [["E", "😀"]], [1, 4, 0x45, 0xf0, 0x9f, 0x98, 0x80]],
  ["UTF-8 value of 127 bytes", [["U", E127]], [1, 0x7f, 0x55, ...utf8(E127)]],
  ["UTF-8 value of 128 bytes", [["U", E128]], [1, 0x80, 0, 0, 0x80, 0x55, ...utf8(E128)]],
  ["UTF-8 name of 128 bytes", [[E128, ""]], [0x80, 0, 0, 0x80, 0, ...utf8(E128)]],
  [
    "GET_VALUES names",
    [...GET_VALUES_PARAMS],
    [
      ...[14, 0, ...ascii("FCGI_MAX_CONNS")],
      ...[13, 0, ...ascii("FCGI_MAX_REQS")],
      ...[15, 0, ...ascii("FCGI_MPXS_CONNS")],
    ],
  ],
];

// ---------------------------------------------------------------------------------------------
// Encoders

Deno.test("encodeParams() writes golden bytes", () => {
  for (const [label, pairs, bytes] of GOLDEN) {
    assertEquals([...encodeParams(pairs)], bytes, label);
  }
});

Deno.test("encodedParamsLength() counts exactly the bytes of the golden encodings", () => {
  for (const [label, pairs, bytes] of GOLDEN) {
    assertEquals(encodedParamsLength(pairs), bytes.length, label);
  }
});

Deno.test("encodeParamsInto() writes golden bytes at offset and touches nothing else", () => {
  for (const [label, pairs, bytes] of GOLDEN) {
    const target = new Uint8Array(3 + bytes.length + 2).fill(0xee);
    assertEquals(encodeParamsInto(target, 3, pairs), 3 + bytes.length, label);
    assertEquals([...target], [0xee, 0xee, 0xee, ...bytes, 0xee, 0xee], label);
  }
});

Deno.test("encodeParamsInto() appends pairs after earlier ones", () => {
  const target = new Uint8Array(8);
  const middle = encodeParamsInto(target, 0, [["A", "B"]]);
  assertEquals(encodeParamsInto(target, middle, [["C", "D"]]), 8);
  assertEquals([...target], [1, 1, 0x41, 0x42, 1, 1, 0x43, 0x44]);
});

Deno.test("encodeParams() takes any iterable of pairs", () => {
  const map = new Map([["A", "B"], ["C", ""]]);
  function* generate(): Generator<Pair> {
    yield ["A", "B"];
    yield ["C", ""];
  }
  const want = [1, 1, 0x41, 0x42, 1, 0, 0x43];
  assertEquals([...encodeParams(map)], want);
  assertEquals([...encodeParams(generate())], want);
  assertEquals(encodedParamsLength(map), want.length);
  const target = new Uint8Array(want.length);
  assertEquals(encodeParamsInto(target, 0, generate()), want.length);
  assertEquals([...target], want);
});

Deno.test("encodeParams() matches the hand-written encoding of the nginx fixture params", () => {
  const bytes = encodeParams(NGINX_PARAMS);
  assertEquals([...bytes], [...pairBytes(NGINX_PARAMS)]);
  assertEquals(encodedParamsLength(NGINX_PARAMS), bytes.length);
});

// CODEC BUG (server/_text.ts utf8Length): a high surrogate that is not followed by a low
// surrogate is counted as if it began a pair (4 bytes for 2 units), but TextEncoder writes it
// as U+FFFD (3 bytes) and then encodes the next unit on its own. With a 2- or 3-byte next unit
// the length prefix is 1 or 2 bytes short, encodeInto() stops early, and the pairs after it are
// misaligned: the receiver reads garbage names and values.
Deno.test("encodeParams() encodes a lone high surrogate before a non-ASCII character as U+FFFD", () => {
  const pairs: Pair[] = [["N\ud800é", "v"], ["NEXT", "\ud800\ud800"], ["LAST", "1"]];
  assertEquals(encodedParamsLength(pairs), pairBytes(pairs).length);
  const bytes = encodeParams(pairs);
  assertEquals([...bytes], [...pairBytes(pairs)]);
  assertEquals(decodeParams(bytes), ["N\ufffdé", "v", "NEXT", "\ufffd\ufffd", "LAST", "1"]);
});

// ---------------------------------------------------------------------------------------------
// decodeParams

Deno.test("decodeParams() decodes the golden encodings", () => {
  for (const [label, pairs, bytes] of GOLDEN) {
    assertEquals(decodeParams(new Uint8Array(bytes), { maxBytes: 100000 }), flat(pairs), label);
  }
});

Deno.test("decodeParams() decodes hand-written bytes", () => {
  const table: [label: string, bytes: number[], want: string[]][] = [
    ["empty", [], []],
    ["one pair", [1, 1, 0x41, 0x42], ["A", "B"]],
    // A 4-byte length may encode a length below 128 (spec section 3.4 allows it).
    ["4-byte lengths for short strings", [0x80, 0, 0, 1, 0x80, 0, 0, 2, 0x41, 0x42, 0x43], [
      "A",
      "BC",
    ]],
    ["empty name", [0, 1, 0x41], ["", "A"]],
    ["NUL bytes are kept", [1, 1, 0, 0], ["\0", "\0"]],
    ["invalid UTF-8 becomes U+FFFD", [1, 2, 0x41, 0xc3, 0x28], ["A", "\ufffd("]],
    ["a lone continuation byte", [1, 1, 0x80, 0x41], ["\ufffd", "A"]],
    ["UTF-8", [2, 3, 0xc3, 0xa9, 0xe2, 0x82, 0xac], ["é", "€"]],
  ];
  for (const [label, bytes, want] of table) {
    assertEquals(decodeParams(new Uint8Array(bytes)), want, label);
  }
});

Deno.test("decodeParams() decodes the nginx fixture params", () => {
  const bytes = pairBytes(NGINX_PARAMS);
  assertEquals(decodeParams(bytes), flat(NGINX_PARAMS));
  assertEquals(decodeParams(pairBytes(SECOND_PARAMS)), flat(SECOND_PARAMS));
});

Deno.test("decodeParams() throws ProtocolError on input truncated at every cut", () => {
  const pairs: Pair[] = [
    ["A", "B"],
    [N128, "x"],
    ["y", V128],
    ["HTTPS", ""],
    ["é", "東京"],
    [N128, V128],
  ];
  const bytes = encodeParams(pairs);
  // The offsets where a pair ends: cutting there leaves whole pairs only.
  const boundaries = new Map<number, number>([[0, 0]]);
  let at = 0;
  pairs.forEach((pair, i) => {
    at += encodedParamsLength([pair]);
    boundaries.set(at, i + 1);
  });
  for (let cut = 0; cut <= bytes.length; cut++) {
    const input = bytes.slice(0, cut);
    const whole = boundaries.get(cut);
    if (whole !== undefined) {
      assertEquals(decodeParams(input), flat(pairs.slice(0, whole)), `cut at ${cut}`);
      continue;
    }
    const error = assertThrows(
      () => decodeParams(input),
      ProtocolError,
      "Cannot decode FastCGI name-value pair: a length runs past the end",
      `cut at ${cut}`,
    );
    assertEquals(error.protocol, "fastcgi", `cut at ${cut}`);
    if (error.offset === undefined) throw new AssertionError(`cut at ${cut}: no offset`);
    assertGreaterOrEqual(error.offset, 0);
    assertLessOrEqual(error.offset, cut);
  }
});

Deno.test("decodeParams() throws ProtocolError on lengths past the end of the input", () => {
  const table: [label: string, bytes: number[], offset: number][] = [
    ["name length only", [5], 1],
    ["name longer than input", [5, 0, 0x41], 2],
    ["value longer than input", [1, 5, 0x41, 0x42], 2],
    ["cut 4-byte name length", [0x80, 0, 0], 0],
    ["cut 4-byte value length", [1, 0x80, 0], 1],
    ["largest 4-byte name length", [0xff, 0xff, 0xff, 0xff, 0], 5],
    ["largest 4-byte value length", [0, 0xff, 0xff, 0xff, 0xff], 5],
    ["second pair cut", [1, 1, 0x41, 0x42, 1], 5],
  ];
  for (const [label, bytes, offset] of table) {
    const error = assertThrows(() => decodeParams(new Uint8Array(bytes)), ProtocolError);
    assertEquals(error.protocol, "fastcgi", label);
    assertEquals(error.offset, offset, label);
  }
});

Deno.test("decodeParams() throws LimitExceededError past maxPairs", () => {
  const bytes = encodeParams([["A", "1"], ["B", "2"], ["C", "3"]]);
  assertEquals(decodeParams(bytes, { maxPairs: 3 }).length, 6);
  const error = assertThrows(
    () => decodeParams(bytes, { maxPairs: 2 }),
    LimitExceededError,
    'Cannot accept FastCGI params: more than "2" pairs',
  );
  assertEquals(error.option, "maxParamsPairs");
  assertEquals(error.limit, 2);
  assertEquals(error.protocol, "fastcgi");
  assertEquals(error.offset, 8);
  const none = assertThrows(() => decodeParams(bytes, { maxPairs: 0 }), LimitExceededError);
  assertEquals(none.option, "maxParamsPairs");
  assertEquals(decodeParams(new Uint8Array(0), { maxPairs: 0 }), []);
});

Deno.test("decodeParams() accepts 1000 pairs by default and refuses 1001", () => {
  const pairs = (count: number): Pair[] =>
    Array.from({ length: count }, (_, i) => [`P${i}`, ""] as const);
  assertEquals(decodeParams(encodeParams(pairs(1000))).length, 2000);
  const error = assertThrows(() => decodeParams(encodeParams(pairs(1001))), LimitExceededError);
  assertEquals([error.option, error.limit], ["maxParamsPairs", 1000]);
});

Deno.test("decodeParams() throws LimitExceededError past maxBytes", () => {
  const bytes = encodeParams([["A", "1"], ["B", "2"]]);
  assertEquals(decodeParams(bytes, { maxBytes: 8 }), ["A", "1", "B", "2"]);
  const error = assertThrows(
    () => decodeParams(bytes, { maxBytes: 7 }),
    LimitExceededError,
    'Cannot accept FastCGI params: more than "7" bytes',
  );
  assertEquals(error.option, "maxParamsBytes");
  assertEquals(error.limit, 7);
  assertEquals(error.protocol, "fastcgi");
  // The default is 65536 bytes.
  const exact = encodeParams([["V", "v".repeat(65536 - 6)]]);
  assertEquals(exact.length, 65536);
  assertEquals(decodeParams(exact).length, 2);
  const over = encodeParams([["V", "v".repeat(65536 - 5)]]);
  const overError = assertThrows(() => decodeParams(over), LimitExceededError);
  assertEquals([overError.option, overError.limit], ["maxParamsBytes", 65536]);
});

// ---------------------------------------------------------------------------------------------
// ParamsDecoder

Deno.test("ParamsDecoder.push() collects params split over records of the fixture", () => {
  const fixture = keepAliveFixture();
  const records = new RecordDecoder();
  records.push(fixture.bytes);
  const decoders = new Map<number, ParamsDecoder>();
  const results = new Map<number, string[]>();
  let pushes = 0;
  while (records.next()) {
    if (records.type === RECORD_TYPE.BeginRequest) {
      decoders.set(records.requestId, new ParamsDecoder());
    } else if (records.type === RECORD_TYPE.Params) {
      const decoder = decoders.get(records.requestId);
      if (decoder === undefined) throw new AssertionError("PARAMS before BEGIN_REQUEST");
      if (records.content.length === 0) results.set(records.requestId, decoder.finish());
      else {
        decoder.push(records.content);
        pushes++;
      }
    } else if (records.type === RECORD_TYPE.GetValues) {
      assertEquals(decodeParams(records.content), flat(GET_VALUES_PARAMS));
    }
  }
  assertEquals(pushes, 4);
  assertEquals(results.get(1), flat(NGINX_PARAMS));
  assertEquals(results.get(2), flat(SECOND_PARAMS));
  // Request 3 sends no empty PARAMS record; what it pushed is still there.
  assertEquals(decoders.get(3)?.finish(), ["A", "B"]);
});

Deno.test("ParamsDecoder.push() decodes the nginx params split at every offset", () => {
  const bytes = pairBytes(NGINX_PARAMS);
  const want = flat(NGINX_PARAMS);
  const decoder = new ParamsDecoder();
  for (let split = 0; split <= bytes.length; split++) {
    decoder.push(bytes.subarray(0, split));
    decoder.push(bytes.subarray(split));
    assertEquals(decoder.length, bytes.length);
    assertEquals(decoder.finish(), want, `split at ${split}`);
  }
  for (let at = 0; at < bytes.length; at++) decoder.push(bytes.subarray(at, at + 1));
  assertEquals(decoder.finish(), want, "one byte at a time");
});

Deno.test("ParamsDecoder.push() checks maxBytes before copying", () => {
  const decoder = new ParamsDecoder({ maxBytes: 10 });
  decoder.push(new Uint8Array([1, 1, 0x41, 0x42]));
  decoder.push(new Uint8Array([1, 1]));
  assertEquals(decoder.length, 6);
  const error = assertThrows(
    () => decoder.push(new Uint8Array([0x43, 0x44, 1, 1, 0x45])),
    LimitExceededError,
    'Cannot accept FastCGI params: more than "10" bytes',
  );
  assertEquals(error.option, "maxParamsBytes");
  assertEquals(error.limit, 10);
  assertEquals(error.protocol, "fastcgi");
  assertEquals(decoder.length, 6, "nothing of the refused chunk was copied");
  decoder.push(new Uint8Array([0x43, 0x44]));
  assertEquals(decoder.length, 8);
  assertEquals(decoder.finish(), ["A", "B", "C", "D"]);
  // Exactly maxBytes is accepted.
  decoder.push(new Uint8Array([1, 1, 0x41, 0x42, 1, 1, 0x43, 0x44, 0, 0]));
  assertEquals(decoder.finish(), ["A", "B", "C", "D", "", ""]);
});

Deno.test("ParamsDecoder.push() refuses a huge chunk with the default limit", () => {
  const decoder = new ParamsDecoder();
  decoder.push(new Uint8Array(65536 - 1));
  const error = assertThrows(() => decoder.push(new Uint8Array(2)), LimitExceededError);
  assertEquals([error.option, error.limit], ["maxParamsBytes", 65536]);
  assertEquals(decoder.length, 65535);
});

Deno.test("ParamsDecoder.finish() enforces maxPairs", () => {
  const decoder = new ParamsDecoder({ maxPairs: 1 });
  decoder.push(encodeParams([["A", "1"], ["B", "2"]]));
  const error = assertThrows(() => decoder.finish(), LimitExceededError);
  assertEquals([error.option, error.limit], ["maxParamsPairs", 1]);
});

Deno.test("ParamsDecoder.finish() throws ProtocolError on a truncated params stream", () => {
  const decoder = new ParamsDecoder();
  decoder.push(new Uint8Array([1, 5, 0x41]));
  const error = assertThrows(() => decoder.finish(), ProtocolError);
  assertEquals(error.protocol, "fastcgi");
});

Deno.test("ParamsDecoder.finish() empties the decoder for reuse", () => {
  const decoder = new ParamsDecoder();
  assertEquals(decoder.finish(), []);
  decoder.push(encodeParams([["LONG_NAME", "a long value".repeat(10)]]));
  assertEquals(decoder.finish(), ["LONG_NAME", "a long value".repeat(10)]);
  assertEquals(decoder.length, 0);
  // A shorter second round must not see the bytes of the first.
  decoder.push(new Uint8Array([1, 1]));
  decoder.push(new Uint8Array([0x41, 0x42]));
  assertEquals(decoder.finish(), ["A", "B"]);
  assertEquals(decoder.finish(), []);
  // Growing past the first buffer keeps what came before.
  const big = encodeParams(NGINX_PARAMS);
  for (let round = 0; round < 3; round++) {
    decoder.push(new Uint8Array([1, 1, 0x41, 0x42]));
    decoder.push(big);
    assertEquals(decoder.finish(), ["A", "B", ...flat(NGINX_PARAMS)]);
  }
});
