import { assert, assertEquals, assertInstanceOf, assertStringIncludes } from "@std/assert";
import { createHash } from "node:crypto";
import { RequestAbortedError } from "../../../server/errors.ts";
import { encodeScgiHeaders } from "../../../server/scgi/netstring.ts";
import type { GatewayInfo } from "../../../server/types.ts";
import { answerOf, nginxPairs, openConnection, scgiRequest, settle } from "./_harness.ts";

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const header = (answer: { headers: [string, string][] }, name: string): string[] =>
  answer.headers.filter(([n]) => n === name).map(([, v]) => v);

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function patterned(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + (i >>> 9)) & 0xff;
  return bytes;
}

const echo = async (request: Request, info: GatewayInfo): Promise<Response> => {
  const body = request.body ? await request.bytes() : new Uint8Array(0);
  return Response.json({
    url: request.url,
    method: request.method,
    bytes: body.length,
    sha256: sha256(body),
    headers: [...request.headers],
    env: info.env,
  });
};

Deno.test("serveScgiConnection() answers a request with a CGI response and closes", async () => {
  let seen: { url: string; method: string; host: string | null; info: GatewayInfo } | undefined;
  const { peer, slot } = openConnection((request, info) => {
    seen = { url: request.url, method: request.method, host: request.headers.get("host"), info };
    return new Response("hello", { headers: { "x-a": "1" } });
  });
  peer.send(scgiRequest("/a/b?c=d%20e"));
  const answer = await answerOf(peer);
  assertEquals(answer.status, 200);
  assertEquals(answer.headers[0], ["status", "200 OK"]);
  assertEquals(header(answer, "x-a"), ["1"]);
  assertEquals(text(answer.body), "hello");
  assertEquals(peer.writes, 1, "head and a small body go out in one write");
  if (!seen) throw new Error("the handler did not run");
  assertEquals(seen.url, "http://example.test:8080/a/b?c=d%20e");
  assertEquals(seen.method, "GET");
  assertEquals(seen.host, "example.test:8080");
  assertEquals(seen.info.remoteAddr, { transport: "tcp", hostname: "192.0.2.7", port: 51234 });
  assertEquals(seen.info.protocol, "scgi");
  assertEquals(seen.info.role, "responder");
  assertEquals(seen.info.data, null);
  assertEquals(seen.info.env.SCGI, "1");
  await seen.info.completed;
  await slot.done;
});

Deno.test("serveScgiConnection() serves the blocks captured from nginx, Apache and lighttpd", async () => {
  for (const name of ["nginx", "apache", "lighttpd"]) {
    const bytes = await Deno.readFile(
      new URL(`../../fixtures/scgi/${name}_post.bin`, import.meta.url),
    );
    const { peer } = openConnection(echo);
    peer.send(bytes);
    const body = JSON.parse(text((await answerOf(peer)).body));
    assertEquals(new URL(body.url).pathname, "/app/caf%C3%A9/x", name);
    assertEquals(new URL(body.url).search, "?q=a%20b", name);
    assertEquals(body.method, "POST");
    assertEquals(body.bytes, 15);
    assertEquals(body.sha256, sha256(new TextEncoder().encode("hello=world&x=1")));
    const headers = new Map<string, string>(body.headers);
    assertEquals(headers.get("x-multi"), "first, second", name);
    assertEquals(headers.get("content-type"), "application/x-www-form-urlencoded");
    assertEquals(headers.get("content-length"), "15");
    // Apache joins repeated Cookie lines with ", " itself; nginx and lighttpd give "; ".
    assertEquals(headers.get("cookie"), name === "apache" ? "a=1, b=2" : "a=1; b=2", name);
  }
});

Deno.test("serveScgiConnection() decodes a request split at every offset", async () => {
  const request = scgiRequest("/split?x=1", { REQUEST_METHOD: "POST" }, "body bytes");
  for (let split = 0; split <= request.length; split++) {
    const { peer } = openConnection(echo);
    peer.send(request.subarray(0, split));
    await new Promise((resolve) => setTimeout(resolve, 0));
    peer.send(request.subarray(split));
    const body = JSON.parse(text((await answerOf(peer)).body));
    assertEquals(body.url, "http://example.test:8080/split?x=1", `split at ${split}`);
    assertEquals(body.bytes, 10, `split at ${split}`);
  }
});

Deno.test("serveScgiConnection() streams exactly CONTENT_LENGTH body bytes sent in pieces", async () => {
  const data = patterned(300_000);
  const request = scgiRequest("/upload", { REQUEST_METHOD: "PUT" }, data);
  const { peer } = openConnection(echo);
  for (let at = 0; at < request.length; at += 7777) {
    peer.send(request.subarray(at, at + 7777));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const body = JSON.parse(text((await answerOf(peer)).body));
  assertEquals(body.bytes, data.length);
  assertEquals(body.sha256, sha256(data));
});

Deno.test("serveScgiConnection() reads no further ahead than bodyBufferSize and loses nothing", async () => {
  const release = Promise.withResolvers<void>();
  const data = patterned(1 << 20);
  const request = scgiRequest("/slow", { REQUEST_METHOD: "POST" }, data);
  const { peer, slot } = openConnection(async (request, info) => {
    await release.promise;
    return await echo(request, info);
  }, { bodyBufferSize: 8192 });
  peer.send(request);
  await settle(peer);
  const headerLength = request.length - data.length;
  // The read-ahead: bodyBufferSize queued, plus one read of at most 16 KiB.
  assert(peer.consumed <= headerLength + 8192 + 16384, `read ${peer.consumed} bytes ahead`);
  assert(slot.retainedBytes() <= 2 * 16384 + 8192 + 16384, `holds ${slot.retainedBytes()}`);
  release.resolve();
  const body = JSON.parse(text((await answerOf(peer)).body));
  assertEquals(body.bytes, data.length);
  assertEquals(body.sha256, sha256(data));
});

Deno.test("serveScgiConnection() never reads bytes past CONTENT_LENGTH as a second request", async () => {
  let calls = 0;
  const { peer, logs } = openConnection(async (request, info) => {
    calls++;
    return await echo(request, info);
  });
  const first = scgiRequest("/first", { REQUEST_METHOD: "POST" }, "12345");
  const second = scgiRequest("/second", { REQUEST_METHOD: "POST" }, "67890");
  const smuggled = new Uint8Array([...first, ...second]);
  peer.send(smuggled.subarray(0, first.length + 3)); // some extra bytes come with the body
  await settle(peer);
  peer.send(smuggled.subarray(first.length + 3)); // the rest while the response is written
  const answer = await answerOf(peer);
  assertEquals(calls, 1);
  const body = JSON.parse(text(answer.body));
  assertEquals(body.url, "http://example.test:8080/first");
  assertEquals(body.bytes, 5);
  assertEquals(text(answer.body).includes("/second"), false);
  assert(logs.some((line) => line.includes("past CONTENT_LENGTH")), logs.join("\n"));
});

Deno.test("serveScgiConnection() discards a body the handler does not read and still answers", async () => {
  const { peer } = openConnection(() => new Response("ignored the body"));
  const request = scgiRequest("/", { REQUEST_METHOD: "POST" }, patterned(200_000));
  peer.send(request);
  const answer = await answerOf(peer);
  assertEquals(text(answer.body), "ignored the body");
  assertEquals(peer.consumed, request.length, "the body was read to its end before closing");
});

const BAD_HEADERS: [label: string, bytes: () => Uint8Array, reason: string][] = [
  [
    "a netstring longer than maxParamsBytes",
    () => new TextEncoder().encode("70000:CONTENT_LENGTH"),
    "maxParamsBytes (65536) reached",
  ],
  [
    "more pairs than maxParamsPairs",
    () =>
      encodeScgiHeaders([
        ...nginxPairs("/"),
        ...Array.from({ length: 1000 }, (_, i): [string, string] => [`HTTP_X_${i}`, "v"]),
      ]),
    "maxParamsPairs (1000) reached",
  ],
  [
    "CONTENT_LENGTH not first",
    () => encodeScgiHeaders(nginxPairs("/").reverse()),
    "closed: Cannot decode SCGI header block: the first header is",
  ],
  [
    "a missing comma",
    () => {
      const bytes = encodeScgiHeaders(nginxPairs("/"));
      bytes[bytes.length - 1] = 0x3b;
      return bytes;
    },
    `closed: Cannot decode SCGI header block: "," is missing`,
  ],
  [
    "an HTTP request instead of SCGI",
    () => new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    `closed: Cannot decode SCGI header block: the length has byte "71"`,
  ],
];

for (const [label, bytes, reason] of BAD_HEADERS) {
  Deno.test(`serveScgiConnection() closes on ${label} and logs why`, async () => {
    let called = false;
    const { peer, logs, slot } = openConnection(() => {
      called = true;
      return new Response("");
    });
    peer.send(bytes());
    await slot.done;
    assertEquals(called, false);
    assertEquals(peer.received().length, 0);
    assert(logs.some((line) => line.includes(reason)), logs.join("\n"));
  });
}

Deno.test("serveScgiConnection() logs a header block cut short by the front end", async () => {
  const { peer, logs, slot } = openConnection(() => new Response(""));
  peer.send(encodeScgiHeaders(nginxPairs("/")).subarray(0, 40));
  peer.end();
  await slot.done;
  assert(logs.some((line) => line.includes("inside the header block")), logs.join("\n"));
  // A connection closed before any byte is not worth a line.
  const quiet = openConnection(() => new Response(""));
  quiet.peer.end();
  await quiet.slot.done;
  assertEquals(quiet.logs, []);
});

Deno.test("serveScgiConnection() answers 400 to variables that make no request, and reads the body", async () => {
  const { peer, logs } = openConnection(() => new Response("never"));
  peer.send(scgiRequest("/", { REQUEST_METHOD: "CONNECT" }, "abc"));
  const answer = await answerOf(peer);
  assertEquals(answer.status, 400);
  assertEquals(text(answer.body), "Bad Request\n");
  assertEquals(peer.consumed, scgiRequest("/", { REQUEST_METHOD: "CONNECT" }, "abc").length);
  assert(logs.some((line) => line.includes("answered 400")));
});

Deno.test("serveScgiConnection() answers 413 past maxBodyBytes without calling the handler", async () => {
  let called = false;
  const { peer, logs } = openConnection(() => {
    called = true;
    return new Response("");
  }, { maxBodyBytes: 100 });
  peer.send(scgiRequest("/", { REQUEST_METHOD: "POST" }, patterned(101)));
  const answer = await answerOf(peer);
  assertEquals(answer.status, 413);
  assertEquals(called, false);
  assert(logs.some((line) => line.includes("maxBodyBytes (100) reached")), logs.join("\n"));
});

Deno.test("serveScgiConnection() answers 503 when overloaded", async () => {
  let called = false;
  const { peer } = openConnection(() => {
    called = true;
    return new Response("");
  }, { overloaded: true });
  peer.send(scgiRequest("/"));
  const answer = await answerOf(peer);
  assertEquals(answer.status, 503);
  assertEquals(answer.headers[0], ["status", "503 Service Unavailable"]);
  assertEquals(text(answer.body), "Service Unavailable\n");
  assertEquals(called, false);
});

Deno.test("serveScgiConnection() answers a throwing handler with a generic 500 and calls onError", async () => {
  const errors: unknown[] = [];
  const { peer, logs } = openConnection(() => {
    throw new Error("secret detail");
  }, { onError: (error) => void errors.push(error) });
  peer.send(scgiRequest("/throw"));
  const answer = await answerOf(peer);
  assertEquals(answer.status, 500);
  assertEquals(text(answer.body), "Internal Server Error\n");
  assertEquals(errors.length, 1);
  assert(logs.some((line) => line.includes("secret detail")));
});

Deno.test("serveScgiConnection() sends no body for HEAD, 204 and 304, and every Set-Cookie", async () => {
  const cases: [string, number][] = [["HEAD", 200], ["GET", 204], ["GET", 304]];
  for (const [method, status] of cases) {
    const { peer } = openConnection(() => {
      const headers = new Headers({ "content-type": "text/plain" });
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; HttpOnly");
      return new Response(status === 200 ? "body" : null, { status, headers });
    });
    peer.send(scgiRequest("/", { REQUEST_METHOD: method }));
    const answer = await answerOf(peer);
    assertEquals(answer.status, status);
    assertEquals(answer.body.length, 0, `${method} ${status}`);
    assertEquals(header(answer, "set-cookie"), ["a=1; Path=/", "b=2; HttpOnly"]);
  }
});

Deno.test("serveScgiConnection() flushes streamed chunks as they come", async () => {
  const next = Promise.withResolvers<void>();
  const { peer } = openConnection(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("first\n"));
          await next.promise;
          controller.enqueue(new TextEncoder().encode("second\n"));
          controller.close();
        },
      }),
    )
  );
  peer.send(scgiRequest("/stream"));
  await peer.waitFor(1);
  await settle(peer);
  assertStringIncludes(text(peer.received()), "first\n");
  assertEquals(peer.isClosed, false);
  next.resolve();
  assertEquals(text((await answerOf(peer)).body), "first\nsecond\n");
});

Deno.test("serveScgiConnection() aborts request.signal when the front end closes the connection", async () => {
  const started = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<unknown>();
  let completedError: unknown;
  const { peer, slot, logs } = openConnection((request, info) => {
    info.completed.catch((error) => completedError = error);
    request.signal.addEventListener("abort", () => aborted.resolve(request.signal.reason));
    started.resolve();
    return new Promise(() => {}); // never answers by itself
  });
  peer.send(scgiRequest("/hang"));
  await started.promise;
  peer.end();
  assertInstanceOf(await aborted.promise, RequestAbortedError);
  await slot.done;
  assertEquals(completedError, undefined, "completed settles only once a response is written");
  assertEquals(logs.filter((line) => line.startsWith("warn")), []);
});

Deno.test("serveScgiConnection() stops a streamed response when the front end hangs up", async () => {
  let cancelled: unknown;
  const completed = Promise.withResolvers<unknown>();
  const { peer, slot } = openConnection((_request, info) => {
    info.completed.then(() => completed.resolve("resolved"), (error) => completed.resolve(error));
    return new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("tick\n"));
        },
        cancel(reason) {
          cancelled = reason;
        },
      }),
    );
  });
  peer.send(scgiRequest("/sse"));
  await peer.waitFor(1);
  peer.end();
  await slot.done;
  assertInstanceOf(cancelled, RequestAbortedError);
  assertInstanceOf(await completed.promise, RequestAbortedError);
});

Deno.test("serveScgiConnection() errors the body and closes when the body is cut short", async () => {
  const bodyError = Promise.withResolvers<unknown>();
  const { peer, slot, logs } = openConnection(async (request) => {
    try {
      await request.arrayBuffer();
    } catch (error) {
      bodyError.resolve(error);
    }
    return new Response("");
  });
  const request = scgiRequest("/", { REQUEST_METHOD: "POST" }, patterned(100));
  peer.send(request.subarray(0, request.length - 30));
  await settle(peer);
  peer.end();
  await slot.done;
  assert((await bodyError.promise) instanceof Error);
  assert(
    logs.some((line) => line.includes(`"30" of CONTENT_LENGTH bytes missing`)),
    logs.join("\n"),
  );
});

Deno.test("serveScgiConnection() splits SCRIPT_NAME and PATH_INFO with scriptName", async () => {
  const run = async (
    scriptName: string | undefined,
    uri: string,
    extra: Record<string, string> = {},
  ): Promise<Record<string, unknown>> => {
    const { peer } = openConnection((request, info) =>
      Response.json({
        url: request.url,
        SCRIPT_NAME: info.env.SCRIPT_NAME,
        PATH_INFO: info.env.PATH_INFO,
        QUERY_STRING: info.env.QUERY_STRING,
      }), scriptName === undefined ? {} : { scriptName });
    peer.send(scgiRequest(uri, extra));
    return JSON.parse(text((await answerOf(peer)).body));
  };
  // Unset: SCRIPT_NAME and PATH_INFO as sent (nginx sends neither).
  assertEquals(await run(undefined, "/app/x"), {
    url: "http://example.test:8080/app/x",
    QUERY_STRING: "",
  });
  // Mounted at /app: the rest of the decoded path is PATH_INFO; the URL is unchanged.
  assertEquals(await run("/app", "/app/caf%C3%A9/x?q=1"), {
    url: "http://example.test:8080/app/caf%C3%A9/x?q=1",
    SCRIPT_NAME: "/app",
    PATH_INFO: "/café/x",
    QUERY_STRING: "q=1",
  });
  assertEquals((await run("/app", "/app")).PATH_INFO, "");
  // "/application" is not below "/app": the whole path is PATH_INFO.
  assertEquals(await run("/app", "/application/x"), {
    url: "http://example.test:8080/application/x",
    SCRIPT_NAME: "",
    PATH_INFO: "/application/x",
    QUERY_STRING: "",
  });
  // Mounted at the root.
  assertEquals((await run("", "/a/b")).PATH_INFO, "/a/b");
  // A PATH_INFO the front end sent is kept; SCRIPT_NAME is the option's.
  const sent = await run("/app", "/app/x", { SCRIPT_NAME: "/other", PATH_INFO: "/kept" });
  assertEquals([sent.SCRIPT_NAME, sent.PATH_INFO], ["/app", "/kept"]);
  // A front end that sends no QUERY_STRING gets it from REQUEST_URI.
  const pairs = nginxPairs("/app/x?a=b").filter(([name]) => name !== "QUERY_STRING");
  const { peer } = openConnection(
    (_request, info) => new Response(info.env.QUERY_STRING),
    { scriptName: "/app" },
  );
  peer.send(encodeScgiHeaders(pairs));
  assertEquals(text((await answerOf(peer)).body), "a=b");
});

Deno.test("serveScgiConnection() logs info.writeStderr() to the server log", async () => {
  const { peer, logs } = openConnection((_request, info) => {
    info.writeStderr("something odd\n");
    info.writeStderr(new TextEncoder().encode("bytes too"));
    return new Response("");
  });
  peer.send(scgiRequest("/"));
  await answerOf(peer);
  assertEquals(logs, [
    "warn: SCGI application: something odd",
    "warn: SCGI application: bytes too",
  ]);
});

Deno.test("serveScgiConnection() drain() closes an idle connection and lets a request finish", async () => {
  const idle = openConnection(() => new Response(""));
  idle.slot.drain();
  await idle.slot.done;
  assert(idle.peer.isClosed);
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const busy = openConnection(async () => {
    started.resolve();
    await release.promise;
    return new Response("finished");
  });
  busy.peer.send(scgiRequest("/"));
  await started.promise;
  busy.slot.drain();
  release.resolve();
  assertEquals(text((await answerOf(busy.peer)).body), "finished");
  // A request whose header completes after the drain began is refused.
  const late = openConnection(() => new Response("never"));
  late.peer.send(scgiRequest("/").subarray(0, 10));
  await settle(late.peer);
  late.slot.drain();
  late.peer.send(scgiRequest("/").subarray(10));
  assertEquals((await answerOf(late.peer)).status, 503);
});

Deno.test("serveScgiConnection() reports timeouts to the listener by option name", async () => {
  const { peer, slot } = openConnection(async (request) => {
    await request.arrayBuffer().catch(() => {});
    return new Response("");
  }, {
    paramsTimeout: 1000,
    bodyTimeout: 2000,
  });
  assertEquals([slot.deadlineOption, slot.deadlineLimit], ["paramsTimeout", 1000]);
  const request = scgiRequest("/", { REQUEST_METHOD: "POST" }, patterned(50));
  peer.send(request.subarray(0, request.length - 10));
  await settle(peer);
  assertEquals([slot.deadlineOption, slot.deadlineLimit], ["bodyTimeout", 2000]);
  assert(slot.deadline < Infinity);
  slot.abort("bodyTimeout exceeded");
  await slot.done;
  assertEquals(peer.received().length, 0);
});
