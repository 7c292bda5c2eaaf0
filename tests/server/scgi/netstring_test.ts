import { assert, assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import { LimitExceededError, ProtocolError } from "../../../server/errors.ts";
import {
  decodeScgiHeaders,
  encodeScgiHeaders,
  type ScgiHeaderBlock,
  ScgiHeaderDecoder,
} from "../../../server/scgi/netstring.ts";

type Pair = readonly [string, string];

const encoder = new TextEncoder();
const latin1 = (text: string): Uint8Array => Uint8Array.from(text, (char) => char.charCodeAt(0));
const utf8 = (text: string): Uint8Array => encoder.encode(text);

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MINIMAL: Pair[] = [["CONTENT_LENGTH", "0"], ["SCGI", "1"]];

/** Golden encodings: pairs -> exact bytes (written as Latin-1 text, NUL as \0). */
const GOLDEN: [label: string, pairs: Pair[], bytes: Uint8Array][] = [
  ["the minimum", MINIMAL, latin1("24:CONTENT_LENGTH\x000\x00SCGI\x001\x00,")],
  [
    "an empty value",
    [...MINIMAL, ["QUERY_STRING", ""]],
    latin1("38:CONTENT_LENGTH\x000\x00SCGI\x001\x00QUERY_STRING\x00\x00,"),
  ],
  [
    "a body length and a request line",
    [["CONTENT_LENGTH", "27"], ["SCGI", "1"], ["REQUEST_METHOD", "POST"], [
      "REQUEST_URI",
      "/deepthought",
    ]],
    // The example of protocol.txt, with fewer headers.
    latin1(
      "70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00" +
        "REQUEST_URI\x00/deepthought\x00,",
    ),
  ],
  [
    "UTF-8 values counted in bytes",
    [...MINIMAL, ["PATH_INFO", "/café"]],
    new Uint8Array([
      ...latin1("41:CONTENT_LENGTH\x000\x00SCGI\x001\x00PATH_INFO\x00"),
      ...utf8(
        "/café",
      ),
      0,
      0x2c,
    ]),
  ],
  [
    "repeated HTTP_ names",
    [...MINIMAL, ["HTTP_X", "1"], ["HTTP_X", "2"]],
    latin1("42:CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTP_X\x001\x00HTTP_X\x002\x00,"),
  ],
];

for (const [label, pairs, bytes] of GOLDEN) {
  Deno.test(`encodeScgiHeaders() writes ${label} byte for byte`, () => {
    assertEquals(encodeScgiHeaders(pairs), bytes);
  });
  Deno.test(`decodeScgiHeaders() reads ${label}`, () => {
    const block = decodeScgiHeaders(bytes);
    assertEquals(block?.pairs, pairs.flat());
    assertEquals(block?.length, bytes.length);
    assertEquals(block?.contentLength, Number(pairs[0]![1]));
  });
}

Deno.test("decodeScgiHeaders() returns null until the last byte of the block", () => {
  const bytes = encodeScgiHeaders([["CONTENT_LENGTH", "5"], ["SCGI", "1"], ["A", "b"]]);
  for (let end = 0; end < bytes.length; end++) {
    assertEquals(decodeScgiHeaders(bytes.subarray(0, end)), null, `first ${end} bytes`);
  }
  const withBody = new Uint8Array([...bytes, 1, 2, 3]);
  assertEquals(decodeScgiHeaders(withBody)?.length, bytes.length);
});

/** Malformed blocks: bytes (Latin-1 text) -> message fragment and offset. */
const MALFORMED: [label: string, text: string, fragment: string, offset: number][] = [
  ["an empty length", ":CONTENT_LENGTH\x000\x00,", "the length is empty", 0],
  ["a leading zero", "024:CONTENT_LENGTH\x000\x00SCGI\x001\x00,", "leading zero", 1],
  ["a sign", "+24:", `the length has byte "43"`, 0],
  ["a space in the length", "2 4:", `the length has byte "32"`, 1],
  ["a missing comma", "24:CONTENT_LENGTH\x000\x00SCGI\x001\x00;", `"," is missing`, 27],
  ["no pairs at all", "0:,", "the first header is not CONTENT_LENGTH", 2],
  ["a name without NUL", "3:abc,", "a name is not ended by NUL", 2],
  ["a value without NUL", "4:abc\x00,", "a value is not ended by NUL", 6],
  ["an empty name", "26:CONTENT_LENGTH\x000\x00SCGI\x001\x00\x00\x00,", "a name is empty", 27],
  [
    "a name with a space",
    "29:CONTENT_LENGTH\x000\x00SCGI\x001\x00A B\x00\x00,",
    `a name has byte "32"`,
    28,
  ],
  [
    "a name with =",
    "29:CONTENT_LENGTH\x000\x00SCGI\x001\x00A=B\x00\x00,",
    `a name has byte "61"`,
    28,
  ],
  [
    "a name with a byte past ASCII",
    "27:CONTENT_LENGTH\x000\x00SCGI\x001\x00\xe9\x00\x00,",
    `a name has byte "233"`,
    27,
  ],
  [
    "CONTENT_LENGTH not first",
    "24:SCGI\x001\x00CONTENT_LENGTH\x000\x00,",
    `the first header is "SCGI", not CONTENT_LENGTH`,
    3,
  ],
  [
    "an empty CONTENT_LENGTH",
    "23:CONTENT_LENGTH\x00\x00SCGI\x001\x00,",
    `CONTENT_LENGTH is ""`,
    18,
  ],
  [
    "a CONTENT_LENGTH with a leading zero",
    "25:CONTENT_LENGTH\x0001\x00SCGI\x001\x00,",
    `CONTENT_LENGTH is "01"`,
    18,
  ],
  [
    "a negative CONTENT_LENGTH",
    "25:CONTENT_LENGTH\x00-1\x00SCGI\x001\x00,",
    `CONTENT_LENGTH is "-1"`,
    18,
  ],
  [
    "a CONTENT_LENGTH of 16 digits",
    "39:CONTENT_LENGTH\x001000000000000000\x00SCGI\x001\x00,",
    `CONTENT_LENGTH is "1000000000000000"`,
    18,
  ],
  ["a missing SCGI header", "17:CONTENT_LENGTH\x000\x00,", `the "SCGI" header is missing`, 3],
  ["SCGI 2", "24:CONTENT_LENGTH\x000\x00SCGI\x002\x00,", `SCGI is "2", not "1"`, 25],
  [
    "a repeated CONTENT_LENGTH",
    "41:CONTENT_LENGTH\x000\x00SCGI\x001\x00CONTENT_LENGTH\x005\x00,",
    `header "CONTENT_LENGTH" is repeated`,
    27,
  ],
  [
    "a repeated SCGI",
    "31:CONTENT_LENGTH\x000\x00SCGI\x001\x00SCGI\x001\x00,",
    `header "SCGI" is repeated`,
    27,
  ],
  [
    "a repeated REQUEST_URI",
    "54:CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_URI\x00/a\x00REQUEST_URI\x00/b\x00,",
    `header "REQUEST_URI" is repeated`,
    42,
  ],
];

for (const [label, text, fragment, offset] of MALFORMED) {
  Deno.test(`decodeScgiHeaders() refuses ${label} with a ProtocolError at its offset`, () => {
    const error = assertThrows(() => decodeScgiHeaders(latin1(text)), ProtocolError, fragment);
    assertEquals(error.protocol, "scgi");
    assertEquals(error.offset, offset);
    assert(error.message.startsWith("Cannot decode SCGI header block: "), error.message);
  });
}

Deno.test("decodeScgiHeaders() refuses a length past maxHeaderBytes from its digits alone", () => {
  // Only the digits have arrived: the limit is hit before anything is buffered.
  const error = assertThrows(
    () => decodeScgiHeaders(latin1("65537"), {}),
    LimitExceededError,
    `over "65536" bytes`,
  );
  assertEquals([error.option, error.limit, error.protocol, error.offset], [
    "maxParamsBytes",
    65536,
    "scgi",
    4,
  ]);
  assertEquals(decodeScgiHeaders(latin1("65536")), null, "65536 is allowed");
  assertThrows(
    () => decodeScgiHeaders(latin1("25:"), { maxHeaderBytes: 24 }),
    LimitExceededError,
  );
  assertEquals(
    decodeScgiHeaders(encodeScgiHeaders(MINIMAL), { maxHeaderBytes: 24 })?.length,
    28,
  );
  // An endless run of digits is refused as soon as it passes the limit.
  assertThrows(() => decodeScgiHeaders(latin1("9".repeat(100))), LimitExceededError);
});

Deno.test("decodeScgiHeaders() refuses more than maxHeaderPairs pairs", () => {
  const pairs: Pair[] = [...MINIMAL, ["A", "1"], ["B", "2"]];
  const bytes = encodeScgiHeaders(pairs);
  assertEquals(decodeScgiHeaders(bytes, { maxHeaderPairs: 4 })?.pairs.length, 8);
  const error = assertThrows(
    () => decodeScgiHeaders(bytes, { maxHeaderPairs: 3 }),
    LimitExceededError,
    `more than "3" pairs`,
  );
  assertEquals([error.option, error.limit], ["maxParamsPairs", 3]);
  const many: Pair[] = [...MINIMAL, ...Array.from({ length: 999 }, (_, i): Pair => [`N${i}`, ""])];
  assertThrows(() => decodeScgiHeaders(encodeScgiHeaders(many)), LimitExceededError);
  assertEquals(decodeScgiHeaders(encodeScgiHeaders(many.slice(0, 1000)))?.pairs.length, 2000);
});

Deno.test("decodeScgiHeaders() makes invalid UTF-8 in values U+FFFD", () => {
  const bytes = new Uint8Array([
    ...latin1("33:CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTP_X\x00"),
    0xff,
    0,
    0x2c,
  ]);
  assertEquals(decodeScgiHeaders(bytes)?.pairs.at(-1), "\ufffd");
});

Deno.test("encodeScgiHeaders() refuses an empty name and NUL bytes", () => {
  assertThrows(() => encodeScgiHeaders([["", "x"]]), TypeError);
  assertThrows(() => encodeScgiHeaders([["A\0", "x"]]), TypeError);
  assertThrows(() => encodeScgiHeaders([["A", "x\0y"]]), TypeError);
});

// ScgiHeaderDecoder: captured front-end blocks replayed at every split

const FIXTURES = ["nginx", "apache", "lighttpd"].map((name) => ({
  name,
  bytes: Deno.readFileSync(new URL(`../../fixtures/scgi/${name}_post.bin`, import.meta.url)),
}));
const BODY = "hello=world&x=1";

function checkFixture(name: string, block: ScgiHeaderBlock | null, bytes: Uint8Array): void {
  if (!block) throw new Error(`${name}: not decoded`);
  assertEquals(block.contentLength, BODY.length, name);
  assertEquals(block.length, bytes.length - BODY.length, name);
  const env = new Map<string, string>();
  for (let i = 0; i < block.pairs.length; i += 2) env.set(block.pairs[i]!, block.pairs[i + 1]!);
  assertEquals(block.pairs[0], "CONTENT_LENGTH");
  assertEquals(env.get("REQUEST_URI"), "/app/caf%C3%A9/x?q=a%20b", name);
  assertEquals(env.get("SCGI"), "1");
}

Deno.test("decodeScgiHeaders() reads blocks captured from nginx, Apache and lighttpd", () => {
  const [nginx, apache, lighttpd] = FIXTURES.map(({ bytes }) => decodeScgiHeaders(bytes)!);
  for (const [i, { name, bytes }] of FIXTURES.entries()) {
    checkFixture(name, [nginx, apache, lighttpd][i]!, bytes);
  }
  // nginx 1.22 repeats a repeated header; Apache and lighttpd join it.
  assertEquals(nginx!.pairs.filter((p) => p === "HTTP_X_MULTI").length, 2);
  assertEquals(apache!.pairs[apache!.pairs.indexOf("HTTP_X_MULTI") + 1], "first, second");
  assertEquals(lighttpd!.pairs[lighttpd!.pairs.indexOf("HTTP_COOKIE") + 1], "a=1; b=2");
  assertEquals(lighttpd!.pairs[lighttpd!.pairs.indexOf("PATH_INFO") + 1], "/app/café/x");
});

Deno.test("ScgiHeaderDecoder.decode() decodes captured blocks split at every offset", () => {
  for (const { name, bytes } of FIXTURES) {
    for (let split = 0; split <= bytes.length; split++) {
      const decoder = new ScgiHeaderDecoder();
      decoder.push(bytes.subarray(0, split));
      const early = decoder.decode();
      const headerLength = bytes.length - BODY.length;
      assertEquals(early !== null, split >= headerLength, `${name} split at ${split}`);
      decoder.push(bytes.subarray(split));
      checkFixture(name, decoder.decode(), bytes);
      assertEquals(new TextDecoder().decode(decoder.remainder), BODY);
      assertEquals(decoder.buffered, bytes.length);
    }
  }
});

Deno.test("ScgiHeaderDecoder.decode() decodes captured blocks in random chunks and one byte at a time", () => {
  for (let run = 0; run < 200; run++) {
    const random = prng(4000 + run);
    const { name, bytes } = FIXTURES[run % FIXTURES.length]!;
    const decoder = new ScgiHeaderDecoder({ initialBufferSize: 1 + Math.floor(random() * 64) });
    const oneByte = run % 10 === 0;
    let block: ScgiHeaderBlock | null = null;
    for (let at = 0; at < bytes.length;) {
      const size = oneByte ? 1 : 1 + Math.floor(random() * 100);
      // Half the runs read in place, as the server does; half copy in.
      if (run % 2 === 0) {
        const view = decoder.writable(size);
        const chunk = bytes.subarray(at, at + Math.min(size, view.length));
        view.set(chunk);
        decoder.commit(chunk.length);
        at += chunk.length;
      } else {
        decoder.push(bytes.subarray(at, at + size));
        at += size;
      }
      block = decoder.decode() ?? block;
    }
    checkFixture(`${name} (seed ${4000 + run})`, block, bytes);
    assertEquals(new TextDecoder().decode(decoder.remainder), BODY);
  }
});

Deno.test("ScgiHeaderDecoder.decode() returns the same block again and keeps the remainder growing", () => {
  const decoder = new ScgiHeaderDecoder();
  const header = encodeScgiHeaders([["CONTENT_LENGTH", "4"], ["SCGI", "1"]]);
  decoder.push(header);
  assertEquals(decoder.remainder.length, 0);
  const block = decoder.decode();
  assertEquals(decoder.decode(), block);
  decoder.push(new Uint8Array([1, 2]));
  assertEquals([...decoder.remainder], [1, 2]);
});

Deno.test("ScgiHeaderDecoder refuses an oversized length before growing its buffer", () => {
  const decoder = new ScgiHeaderDecoder({ maxHeaderBytes: 1000, initialBufferSize: 16 });
  decoder.push(latin1("1001"));
  const error = assertThrows(() => decoder.decode(), LimitExceededError);
  assertEquals(error.option, "maxParamsBytes");
  assertEquals(decoder.capacity, 16);
});

Deno.test("ScgiHeaderDecoder.commit() refuses more than the writable view", () => {
  const decoder = new ScgiHeaderDecoder({ initialBufferSize: 8 });
  const view = decoder.writable(8);
  assertThrows(() => decoder.commit(view.length + 1), RangeError);
  assertThrows(() => decoder.commit(-1), RangeError);
});

Deno.test("decodeScgiHeaders() never throws anything but its two error classes on mutated blocks", () => {
  const random = prng(77);
  for (let run = 0; run < 2000; run++) {
    const bytes = FIXTURES[run % FIXTURES.length]!.bytes.slice();
    for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
      bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    }
    try {
      decodeScgiHeaders(bytes.subarray(0, Math.floor(random() * (bytes.length + 1))));
    } catch (error) {
      if (!(error instanceof ProtocolError)) assertInstanceOf(error, LimitExceededError);
    }
  }
});
