import { assertEquals, assertThrows } from "@std/assert";
import { LimitExceededError, ProtocolError } from "../../../server/errors.ts";
import {
  decodeForwardRequest,
  decodeRequestBodyChunk,
  encodeForwardRequest,
  encodeRequestBodyChunk,
  encodeServerCommand,
  type ForwardRequestInit,
  forwardRequestLength,
} from "../../../server/ajp/forward_request.ts";
import { HEADER_LENGTH, PREFIX_CODE } from "../../../server/ajp/constants.ts";
import { PacketDecoder } from "../../../server/ajp/packet.ts";
import { prng } from "./_random.ts";

/** An AJP string built by hand (not with the codec): length, ASCII bytes, 0. */
const s = (text: string): number[] => [
  text.length >> 8,
  text.length & 0xff,
  ...[...text].map((c) => c.charCodeAt(0)),
  0,
];

/**
 * A FORWARD_REQUEST for `POST /app/x?b=1` over TLS with a secret, laid out by hand field by
 * field from the AJPv13 spec and the codes of mod_proxy_ajp's ajp_header.h (attribute order as
 * the encoder writes it; the order is free on the wire).
 */
const GOLDEN_PAYLOAD = [
  0x02, // JK_AJP13_FORWARD_REQUEST
  0x04, // SC_M_POST
  ...s("HTTP/1.1"),
  ...s("/app/x"),
  ...s("203.0.113.9"),
  0xff,
  0xff, // remote_host: not looked up (null string)
  ...s("example.test"),
  0x01,
  0xbb, // server_port 443
  0x01, // is_ssl
  0x00,
  0x04, // num_headers
  0xa0,
  0x0b,
  ...s("example.test"), // SC_REQ_HOST
  0xa0,
  0x08,
  ...s("3"), // SC_REQ_CONTENT_LENGTH
  ...s("X-Trace"),
  ...s("abc"), // a string-named header
  0xa0,
  0x09,
  ...s("a=1"), // SC_REQ_COOKIE
  0x03,
  ...s("alice"), // remote_user
  0x04,
  ...s("Basic"), // auth_type
  0x0c,
  ...s("s3cret"), // secret
  0x05,
  ...s("b=1"), // query_string
  0x06,
  ...s("node1"), // route
  0x07,
  ...s("PEM"), // ssl_cert
  0x08,
  ...s("TLS_AES_128_GCM_SHA256"), // ssl_cipher
  0x09,
  ...s("sess"), // ssl_session
  0x0b,
  0x00,
  0x80, // ssl_key_size 128 (an integer)
  0x0a,
  ...s("AJP_REMOTE_PORT"),
  ...s("51234"), // req_attribute
  0xff, // request_terminator
];

const GOLDEN_INIT: ForwardRequestInit = {
  method: "POST",
  requestUri: "/app/x",
  remoteAddr: "203.0.113.9",
  serverName: "example.test",
  serverPort: 443,
  isSsl: true,
  headers: [["Host", "example.test"], ["Content-Length", "3"], ["X-Trace", "abc"], [
    "cookie",
    "a=1",
  ]],
  attributes: {
    remoteUser: "alice",
    authType: "Basic",
    secret: "s3cret",
    queryString: "b=1",
    route: "node1",
    sslCert: "PEM",
    sslCipher: "TLS_AES_128_GCM_SHA256",
    sslSession: "sess",
    sslKeySize: 128,
    requestAttributes: [["AJP_REMOTE_PORT", "51234"]],
  },
};

Deno.test("decodeForwardRequest() reads every field, header code and attribute of the golden packet", () => {
  const request = decodeForwardRequest(new Uint8Array(GOLDEN_PAYLOAD));
  assertEquals(request, {
    method: "POST",
    methodCode: 4,
    protocol: "HTTP/1.1",
    requestUri: "/app/x",
    remoteAddr: "203.0.113.9",
    remoteHost: null,
    serverName: "example.test",
    serverPort: 443,
    isSsl: true,
    headers: [["host", "example.test"], ["content-length", "3"], ["X-Trace", "abc"], [
      "cookie",
      "a=1",
    ]],
    attributes: {
      context: null,
      servletPath: null,
      remoteUser: "alice",
      authType: "Basic",
      queryString: "b=1",
      route: "node1",
      sslCert: "PEM",
      sslCipher: "TLS_AES_128_GCM_SHA256",
      sslSession: "sess",
      sslKeySize: 128,
      secret: "s3cret",
      storedMethod: null,
      requestAttributes: [["AJP_REMOTE_PORT", "51234"]],
    },
  });
});

Deno.test("encodeForwardRequest() writes the golden bytes, header included", () => {
  const length = forwardRequestLength(GOLDEN_INIT);
  assertEquals(length, GOLDEN_PAYLOAD.length + HEADER_LENGTH);
  const target = new Uint8Array(length);
  assertEquals(encodeForwardRequest(target, 0, GOLDEN_INIT), length);
  const size = GOLDEN_PAYLOAD.length;
  assertEquals([...target], [0x12, 0x34, size >> 8, size & 0xff, ...GOLDEN_PAYLOAD]);
});

Deno.test("encodeForwardRequest() sends an unknown method as 0xFF with stored_method", () => {
  const init = { method: "PATCH", requestUri: "/p" };
  const target = new Uint8Array(forwardRequestLength(init));
  encodeForwardRequest(target, 0, init);
  const request = decodeForwardRequest(target.subarray(HEADER_LENGTH));
  assertEquals([request.method, request.methodCode, request.attributes.storedMethod], [
    "PATCH",
    0xff,
    "PATCH",
  ]);
});

Deno.test("decodeForwardRequest() refuses malformed packets with a ProtocolError", () => {
  const golden = new Uint8Array(GOLDEN_PAYLOAD);
  const cases: [string, Uint8Array, RegExp][] = [
    ["another prefix", Uint8Array.of(3, ...golden.subarray(1)), /prefix code/],
    ["an unknown method", Uint8Array.of(2, 99, ...golden.subarray(2)), /method code/],
    ["no terminator", golden.subarray(0, golden.length - 1), /terminator/],
    ["bytes after the terminator", Uint8Array.of(...golden, 0), /follow/],
    ["truncated", golden.subarray(0, 30), /runs past the end/],
    ["0xFF and no stored_method", Uint8Array.of(2, 0xff, ...golden.subarray(2)), /stored_method/],
  ];
  for (const [name, bytes, message] of cases) {
    const error = assertThrows(() => decodeForwardRequest(bytes), ProtocolError, undefined, name);
    assertEquals(message.test(error.message), true, `${name}: ${error.message}`);
  }
  const badHeader = [...GOLDEN_PAYLOAD];
  badHeader[badHeader.indexOf(0xa0) + 1] = 0x7f; // 0xA07F is no header code
  assertThrows(() => decodeForwardRequest(new Uint8Array(badHeader)), ProtocolError, "0xa07f");
  const badAttribute = [...GOLDEN_PAYLOAD];
  badAttribute[badAttribute.lastIndexOf(0x0a)] = 0x20;
  assertThrows(() => decodeForwardRequest(new Uint8Array(badAttribute)), ProtocolError);
});

Deno.test("decodeForwardRequest() checks the header count against maxHeaders before reading", () => {
  const error = assertThrows(
    () => decodeForwardRequest(new Uint8Array(GOLDEN_PAYLOAD), { maxHeaders: 3 }),
    LimitExceededError,
  );
  assertEquals([error.option, error.limit], ["maxParamsPairs", 3]);
});

Deno.test("decodeRequestBodyChunk() reads the data and the empty end packet", () => {
  assertEquals([...decodeRequestBodyChunk(new Uint8Array([0, 3, 1, 2, 3]))], [1, 2, 3]);
  assertEquals(decodeRequestBodyChunk(new Uint8Array([0, 0])).length, 0);
  assertEquals(decodeRequestBodyChunk(new Uint8Array(0)).length, 0);
  assertThrows(() => decodeRequestBodyChunk(new Uint8Array([0, 9, 1])), ProtocolError);
  const target = new Uint8Array(9);
  encodeRequestBodyChunk(target, 0, new Uint8Array([7, 8, 9]));
  assertEquals([...target], [0x12, 0x34, 0, 5, 0, 3, 7, 8, 9]);
});

Deno.test("encodeServerCommand() writes CPING and SHUTDOWN", () => {
  const target = new Uint8Array(10);
  encodeServerCommand(target, encodeServerCommand(target, 0, PREFIX_CODE.CPing), 7);
  assertEquals([...target], [0x12, 0x34, 0, 1, 10, 0x12, 0x34, 0, 1, 7]);
});

Deno.test("FORWARD_REQUEST and body packets decode the same at every split and in random chunks", () => {
  const request = new Uint8Array(forwardRequestLength(GOLDEN_INIT));
  encodeForwardRequest(request, 0, GOLDEN_INIT);
  const body = new Uint8Array(9);
  encodeRequestBodyChunk(body, 0, new Uint8Array([0x61, 0x62, 0x63]));
  const stream = Uint8Array.of(...request, ...body);
  const check = (chunks: Uint8Array[], label: string): void => {
    const decoder = new PacketDecoder();
    const payloads: Uint8Array[] = [];
    for (const chunk of chunks) {
      decoder.push(chunk);
      while (decoder.next()) payloads.push(decoder.payload.slice());
    }
    assertEquals(payloads.length, 2, label);
    assertEquals(decodeForwardRequest(payloads[0]!).attributes.secret, "s3cret", label);
    assertEquals([...decodeRequestBodyChunk(payloads[1]!)], [0x61, 0x62, 0x63], label);
  };
  for (let split = 0; split <= stream.length; split++) {
    check([stream.subarray(0, split), stream.subarray(split)], `split ${split}`);
  }
  const random = prng(20261122);
  for (let run = 0; run < 100; run++) {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length;) {
      const size = 1 + Math.floor(random() * 40);
      chunks.push(stream.subarray(at, at + size));
      at += size;
    }
    check(chunks, `run ${run}`);
  }
});
