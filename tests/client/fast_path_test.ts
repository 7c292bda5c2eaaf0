// The client's fast paths keep the behaviour of the general ones: params encoded in one string
// against the codecs' encoders, a head parsed in place against one split at every byte, header
// pairs against `Headers`, and a small answer (a Uint8Array body) against a streamed one.

import { assert, assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import { LimitExceededError, ProtocolError } from "../../server/errors.ts";
import { FastCgiClient } from "../../server/fastcgi/client.ts";
import { FLAG, PROTOCOL_STATUS, RECORD_TYPE, ROLE } from "../../server/fastcgi/constants.ts";
import { encodeParams, ParamsDecoder } from "../../server/fastcgi/params.ts";
import {
  encodeBeginRequest,
  encodedStreamLength,
  encodeEndRequest,
  encodeStream,
  RecordDecoder,
} from "../../server/fastcgi/record.ts";
import { encodeStart } from "../../server/fastcgi/_client_exchange.ts";
import { CgiHeadReader, type ForwardBody } from "../../server/_client_cgi.ts";
import { createRequest, parseCgiVariables } from "../../server/_cgi_env.ts";
import { textEncoder } from "../../server/_text.ts";
import { startFakeBackend } from "./_fake_fastcgi.ts";

/** What the client sent before the fast path: params encoded apart, then split in records. */
function reference(params: [string, string][], body: ForwardBody, keepAlive: boolean): number[] {
  const pairs = encodeParams(params);
  const stdin = body.stream ? null : body.bytes ?? new Uint8Array(0);
  const size = 16 + encodedStreamLength(pairs.length) + (pairs.length > 0 ? 8 : 0) +
    (stdin === null ? 0 : (stdin.length > 0 ? encodedStreamLength(stdin.length) : 0) + 8);
  const out = new Uint8Array(size);
  let at = encodeBeginRequest(out, 0, 1, ROLE.Responder, keepAlive ? FLAG.KeepConn : 0);
  const empty = new Uint8Array(0);
  if (pairs.length > 0) at = encodeStream(out, at, RECORD_TYPE.Params, 1, pairs);
  at = encodeStream(out, at, RECORD_TYPE.Params, 1, empty);
  if (stdin !== null) {
    if (stdin.length > 0) at = encodeStream(out, at, RECORD_TYPE.Stdin, 1, stdin);
    at = encodeStream(out, at, RECORD_TYPE.Stdin, 1, empty);
  }
  assertEquals(at, size);
  return [...out];
}

Deno.test("encodeStart() writes the same bytes as the codecs for every kind of params", () => {
  const long = "v".repeat(300);
  const cases: [string, string][][] = [
    [],
    [["A", "B"]],
    [["QUERY_STRING", ""], ["REQUEST_METHOD", "GET"], ["HTTP_HOST", "localhost:8000"]],
    [["HTTP_LONG_VALUE", long], ["N".repeat(127), "x".repeat(127)], ["N".repeat(128), "y"]],
    [["HTTP_USER_AGENT", long + "é"], ["A", "✓ 😀"], ["B", "\ud800 lone"]],
    [["NUL", "a\0b"], ["CTRL", "\x01\x7f"]],
    [["BIG", "z".repeat(70_000)], ["AFTER", "1"]],
    [["BIG", "é".repeat(40_000)]],
  ];
  const bodies: ForwardBody[] = [
    { length: null, bytes: null, stream: null },
    { length: 0, bytes: null, stream: null },
    { length: 5, bytes: textEncoder.encode("hello"), stream: null },
    { length: 3, bytes: null, stream: new ReadableStream() },
  ];
  for (const params of cases) {
    for (const body of bodies) {
      for (const keepAlive of [true, false]) {
        const expected = reference(params, body, keepAlive);
        assertEquals([...encodeStart(params, body, keepAlive)], expected);
        // Into a reused buffer that still holds other bytes: padding and reserved bytes zeroed.
        const dirty = new Uint8Array(8192).fill(0xff);
        assertEquals([...encodeStart(params, body, keepAlive, dirty)], expected);
      }
    }
  }
});

const HEAD = "Status: 201 Made\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n" +
  "Set-Cookie: b=2\r\nX-Many: 1\r\nx-many: 2\r\nConnection: close\r\nLocation: /x\r\n\r\nbody";

Deno.test("CgiHeadReader parses a head in one chunk as it does one split at every byte", () => {
  const bytes = textEncoder.encode(HEAD);
  const whole = new CgiHeadReader(65536, "fastcgi");
  const rest = whole.push(bytes);
  assertEquals(new TextDecoder().decode(rest!), "body");
  assertEquals(whole.head, {
    status: 201,
    statusText: "Made",
    headers: [
      ["Content-Type", "text/plain"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
      ["X-Many", "1"],
      ["x-many", "2"],
      ["Location", "/x"],
    ],
    localRedirect: null,
  });
  for (let split = 1; split < bytes.length; split++) {
    const reader = new CgiHeadReader(65536, "fastcgi");
    let got = reader.push(bytes.subarray(0, split));
    if (got === null) got = reader.push(bytes.subarray(split));
    else got = new Uint8Array([...got, ...bytes.subarray(split)]);
    assertEquals(reader.head, whole.head, `split at ${split}`);
    assertEquals(new TextDecoder().decode(got!), "body", `split at ${split}`);
  }
  // Headers built from the pairs are what appending each to a Headers gives.
  const headers = new Headers();
  for (const [name, value] of whole.head!.headers) headers.append(name, value);
  assertEquals([...new Response(null, { headers: whole.head!.headers }).headers], [...headers]);
  assertEquals(headers.getSetCookie(), ["a=1", "b=2"]);
  assertEquals(headers.get("x-many"), "1, 2");
});

Deno.test("CgiHeadReader refuses what Headers refuses, and a head over maxBytes, in one chunk too", () => {
  for (const head of ["X-Nul: a\0b\r\n\r\n", "X-Cr: a\rb\r\n\r\n", "Bad Name: 1\r\n\r\n"]) {
    const error = assertThrows(() =>
      new CgiHeadReader(65536, "scgi").push(textEncoder.encode(head))
    );
    assertInstanceOf(error, ProtocolError);
    assertEquals(error.protocol, "scgi");
  }
  // A valid value with edge whitespace and Latin-1 bytes is kept, trimmed.
  const reader = new CgiHeadReader(65536, "fastcgi");
  reader.push(
    new Uint8Array([...textEncoder.encode("X-L: \t"), 0xe9, ...textEncoder.encode(" \r\n\r\n")]),
  );
  assertEquals(reader.head!.headers, [["X-L", "\u00e9"]]);
  assertEquals(new Headers(reader.head!.headers).get("x-l"), "\u00e9");
  // maxBytes counts the same whether the head comes whole or not.
  const big = textEncoder.encode(`X-A: ${"a".repeat(100)}\r\n\r\n`);
  assert(new CgiHeadReader(big.length - 4, "fastcgi").push(big) !== null);
  assertThrows(() => new CgiHeadReader(big.length - 5, "fastcgi").push(big), LimitExceededError);
});

/** The old way: each header through Headers.append/set, re-encoded or dropped when refused. */
function referenceHeaders(pairs: string[]): [string, string][] {
  const headers = new Headers();
  const set = (name: string, value: string, replace: boolean): void => {
    try {
      if (replace) headers.set(name, value);
      else headers.append(name, value);
    } catch {
      try {
        const latin1 = String.fromCharCode(...textEncoder.encode(value));
        if (replace) headers.set(name, latin1);
        else headers.append(name, latin1);
      } catch { /* dropped */ }
    }
  };
  const env: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1]!;
    const previous = env[name];
    env[name] = previous === undefined
      ? value
      : `${previous}${name === "HTTP_COOKIE" ? "; " : ", "}${value}`;
    if (name.length > 5 && name.startsWith("HTTP_")) {
      if (name === "HTTP_PROXY" || name === "HTTP_CONTENT_TYPE") continue;
      if (name === "HTTP_CONTENT_LENGTH") continue;
      const headerName = name.slice(5).toLowerCase().replaceAll("_", "-");
      if (headerName === "cookie" && previous !== undefined) set(headerName, env[name]!, true);
      else set(headerName, value, false);
    }
  }
  if (env.CONTENT_TYPE) set("content-type", env.CONTENT_TYPE, true);
  if (env.CONTENT_LENGTH) set("content-length", env.CONTENT_LENGTH, true);
  return [...headers];
}

Deno.test("parseCgiVariables() header pairs give the Request the headers Headers would", () => {
  const base = ["REQUEST_METHOD", "POST", "REQUEST_URI", "/x", "HTTP_HOST", "example.test"];
  const cases: string[][] = [
    [],
    ["HTTP_COOKIE", "a=1", "HTTP_COOKIE", "b=2"],
    ["HTTP_COOKIE", "a=1", "HTTP_COOKIE", "b\0=2"],
    ["HTTP_COOKIE", "a\0=1", "HTTP_COOKIE", "b=2"],
    ["HTTP_COOKIE", "a=1", "HTTP_COOKIE", "é✓"],
    ["HTTP_X_A", "  spaced \t", "HTTP_X_A", "two"],
    ["HTTP_X_UTF", "héllo ✓ 😀", "HTTP_X_LATIN", "h\u00e9llo", "HTTP_X_LONE", "\ud800x"],
    ["HTTP_X_CR", "a\rb", "HTTP_X_LF", "a\nb", "HTTP_X_NUL", "a\0b", "HTTP_X_OK", "fine"],
    ["HTTP_X_V", "\u0100bad\rmore", "HTTP_X_CTL", "a\x01b\x7f", "HTTP_X_NBSP", "\u00a0v\u00a0"],
    ["HTTP_BAD(NAME", "v", "HTTP_\u0130", "dotted", "HTTP_X__Y", "v", "HTTP_PROXY", "evil"],
    ["HTTP_CONTENT_TYPE", "text/x", "CONTENT_TYPE", "text/plain", "CONTENT_LENGTH", "5"],
    ["CONTENT_TYPE", "bad\0type"],
    ["CONTENT_TYPE", "  text/html  ", "HTTP_X_EMPTY", "", "HTTP_X_WS", " \t "],
    ["HTTP_X_A", "1", "HTTP_X_B", "2", "HTTP_X_A", "3", "HTTP_SET_COOKIE", "a"],
  ];
  for (const extra of cases) {
    const pairs = [...base, ...extra];
    const head = parseCgiVariables(pairs, "fastcgi");
    const request = createRequest(head, null, new AbortController().signal, "fastcgi");
    const expected = referenceHeaders(pairs);
    assertEquals([...request.headers], expected, JSON.stringify(extra));
    assertEquals([...new Headers(head.headers)], expected, JSON.stringify(extra));
  }
});

/** A backend that answers every request with `answer(uri)` in one write (records and all). */
function startOneWriteBackend(answer: (uri: string) => Uint8Array): {
  address: string;
  accepted: () => number;
  stop: () => Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<void>[] = [];
  let accepted = 0;
  const serve = async (conn: Deno.Conn): Promise<void> => {
    const decoder = new RecordDecoder();
    const buffer = new Uint8Array(65536);
    let params = new ParamsDecoder();
    let uri = "";
    try {
      while (true) {
        const count = await conn.read(buffer);
        if (count === null) break;
        decoder.push(buffer.subarray(0, count));
        while (decoder.next()) {
          const { type, content } = decoder;
          if (type === RECORD_TYPE.Params && content.length > 0) params.push(content);
          else if (type === RECORD_TYPE.Params) {
            const pairs = params.finish();
            uri = pairs[pairs.indexOf("REQUEST_URI") + 1]!;
            params = new ParamsDecoder();
          } else if (type === RECORD_TYPE.Stdin && content.length === 0) {
            const bytes = answer(uri);
            let at = 0;
            while (at < bytes.length) at += await conn.write(bytes.subarray(at));
          }
        }
      }
    } catch { /* closed by stop() */ }
    conns.delete(conn);
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      tasks.push(serve(conn));
    }
  })();
  return {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    accepted: () => accepted,
    async stop() {
      listener.close();
      for (const conn of conns) conn.close();
      await loop;
      await Promise.all(tasks);
    },
  };
}

/** STDOUT records (one per part), the empty STDOUT and END_REQUEST, as one buffer. */
function records(...parts: string[]): Uint8Array {
  const chunks = parts.map((part) => textEncoder.encode(part));
  const size = chunks.reduce((sum, chunk) => sum + encodedStreamLength(chunk.length), 0) + 8 + 16;
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) at = encodeStream(out, at, RECORD_TYPE.Stdout, 1, chunk);
  at = encodeStream(out, at, RECORD_TYPE.Stdout, 1, new Uint8Array(0));
  at = encodeEndRequest(out, at, 1, 0, PROTOCOL_STATUS.RequestComplete);
  assertEquals(at, size);
  return out;
}

Deno.test("FastCgiClient: a complete answer in one read is the same Response as one in parts", async () => {
  const head = "Status: 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\r\n";
  const backend = startOneWriteBackend((uri) =>
    uri === "/whole"
      ? records(head + "Hello, world!")
      : uri === "/records"
      ? records(head.slice(0, 10), head.slice(10) + "Hello, ", "world!")
      : records("Status: 204 No Content\r\n\r\nignored")
  );
  await using client = new FastCgiClient({ address: backend.address, log: () => {} });
  try {
    for (let i = 0; i < 3; i++) {
      for (const path of ["/whole", "/records"]) {
        const response = await client.fetch(new Request(`http://h${path}`));
        assertEquals(response.status, 200, path);
        assertEquals(response.statusText, "OK");
        assertEquals([...response.headers], [
          ["content-type", "text/plain"],
          ["set-cookie", "a=1"],
        ]);
        assertEquals(await response.text(), "Hello, world!", path);
        const head = await client.fetch(new Request(`http://h${path}`, { method: "HEAD" }));
        assertEquals(head.body, null);
        assertEquals(head.headers.get("content-type"), "text/plain");
      }
      const empty = await client.fetch(new Request("http://h/empty"));
      assertEquals(empty.status, 204);
      assertEquals(empty.body, null);
    }
    // A small answer's body is its own bytes, not a view of the buffer the next reads reuse.
    const first = await client.fetch(new Request("http://h/whole"));
    const second = await client.fetch(new Request("http://h/records"));
    const third = await client.fetch(new Request("http://h/empty"));
    assertEquals(third.status, 204);
    assertEquals(await second.text(), "Hello, world!");
    assertEquals(await first.text(), "Hello, world!");
    // Every answer was read to END_REQUEST: the one kept connection carried them all.
    assertEquals(backend.accepted(), 1);
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient: requests of every size on one connection reuse its send buffer intact", async () => {
  const seen: Record<string, string>[] = [];
  const backend = startFakeBackend(async ({ env }, io) => {
    seen.push(env);
    await io.stdout(`Status: 200 OK\r\n\r\n${env.HTTP_X_SIZE?.length ?? -1}`);
    await io.end();
  });
  await using client = new FastCgiClient({ address: backend.address, log: () => {} });
  try {
    const sizes = [10, 9000, 3, 60_000, 0, 200, 8000, 1];
    for (const size of sizes) {
      const value = "abcdefghij".repeat(Math.ceil(size / 10)).slice(0, size);
      const response = await client.fetch(
        new Request(`http://h/size/${size}`, {
          method: "POST",
          body: "x".repeat(size % 50),
          headers: { "x-size": value },
        }),
      );
      assertEquals(await response.text(), String(size === 0 ? 0 : size));
    }
    assertEquals(seen.map((env) => env.HTTP_X_SIZE?.length ?? 0), sizes);
    assertEquals(seen.map((env) => env.REQUEST_URI), sizes.map((size) => `/size/${size}`));
    assertEquals(seen.map((env) => env.CONTENT_LENGTH), sizes.map((size) => String(size % 50)));
    assertEquals(backend.accepted(), 1);
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient answers a small answer and a slowly streamed one alike", async () => {
  const backend = startFakeBackend(async ({ env }, io) => {
    if (env.REQUEST_URI === "/small") {
      await io.stdout("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nHello, world!");
      await io.end();
      return;
    }
    await io.stdout("Content-Type: text/plain\r\n\r\n");
    for (const part of ["one ", "two ", "three"]) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await io.stdout(part);
    }
    await io.end();
  });
  await using client = new FastCgiClient({ address: backend.address, log: () => {} });
  try {
    for (let i = 0; i < 3; i++) {
      const small = await client.fetch(new Request("http://h/small"));
      assertEquals(small.status, 200);
      assertEquals(small.headers.get("content-type"), "text/plain");
      assertEquals(await small.text(), "Hello, world!");
      const streamed = await client.fetch(new Request("http://h/streamed"));
      assertEquals(streamed.headers.get("content-type"), "text/plain");
      assertEquals(await streamed.text(), "one two three");
    }
  } finally {
    await backend.stop();
  }
});
