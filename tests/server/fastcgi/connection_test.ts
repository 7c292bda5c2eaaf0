import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { createHash } from "node:crypto";
import {
  encodeParams,
  encodeRecord,
  PROTOCOL_STATUS,
  RECORD_TYPE,
  ROLE,
} from "../../../server/fastcgi/mod.ts";
import { RequestAbortedError } from "../../../server/errors.ts";
import type { GatewayInfo } from "../../../server/types.ts";
import {
  encodeWireRequest,
  nginxParams,
  parseWireAnswer,
  streamRecords,
} from "../../_helpers/fastcgi_wire.ts";
import { openConnection, settle } from "./_harness.ts";

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

async function answerOf(
  peer: ReturnType<typeof openConnection>["peer"],
) {
  await peer.closed;
  return parseWireAnswer(peer.received());
}

Deno.test("serveFastCgiConnection() answers a responder request and closes without KEEP_CONN", async () => {
  let seen: { url: string; method: string; host: string | null; info: GatewayInfo } | undefined;
  const { peer } = openConnection((request, info) => {
    seen = { url: request.url, method: request.method, host: request.headers.get("host"), info };
    return new Response("hello", { headers: { "x-a": "1" } });
  });
  peer.send(encodeWireRequest({ params: nginxParams("/a/b?c=d%20e") }));
  const answer = await answerOf(peer);
  const response = answer.responses.get(1)!;
  assertEquals(response.status, 200);
  assertEquals(text(response.body), "hello");
  assert(response.headers.some(([n, v]) => n === "x-a" && v === "1"));
  assertEquals(response.protocolStatus, PROTOCOL_STATUS.RequestComplete);
  assertEquals(seen!.url, "http://example.test:8080/a/b?c=d%20e");
  assertEquals(seen!.method, "GET");
  assertEquals(seen!.info.remoteAddr, { transport: "tcp", hostname: "192.0.2.7", port: 51234 });
  assertEquals(seen!.info.protocol, "fastcgi");
  assertEquals(seen!.info.role, "responder");
  assertEquals(seen!.info.env.DOCUMENT_ROOT, "/srv");
  await seen!.info.completed;
});

Deno.test("serveFastCgiConnection() writes head, small body and END_REQUEST in one write", async () => {
  const { peer } = openConnection(() => new Response("small"));
  peer.send(encodeWireRequest({ params: nginxParams("/") }));
  await peer.closed;
  assertEquals(peer.writes, 1);
});

Deno.test("serveFastCgiConnection() keeps the connection with FCGI_KEEP_CONN", async () => {
  let count = 0;
  const { peer, slot } = openConnection(() => new Response(`n=${++count}`));
  peer.send(encodeWireRequest({ keepConn: true, params: nginxParams("/1") }));
  await peer.waitFor(1);
  await settle(peer);
  const first = peer.received().length;
  peer.send(encodeWireRequest({ keepConn: true, params: nginxParams("/2") }));
  await peer.waitFor(first + 1);
  await settle(peer);
  assertEquals(peer.isClosed, false);
  peer.send(encodeWireRequest({ keepConn: false, params: nginxParams("/3") }));
  const answer = await answerOf(peer);
  assertEquals(count, 3);
  assertEquals(text(answer.responses.get(1)!.stdout).endsWith("n=3"), true);
  await slot.done;
});

Deno.test("serveFastCgiConnection() answers FCGI_GET_VALUES truthfully", async () => {
  for (const [perConnection, mpxs] of [[1, "0"], [4, "1"]] as const) {
    const { peer, slot } = openConnection(() => new Response(""), {
      maxRequestsPerConnection: perConnection,
      maxConnections: 10,
    });
    const names = encodeParams([["FCGI_MAX_CONNS", ""], ["FCGI_MAX_REQS", ""], [
      "FCGI_MPXS_CONNS",
      "",
    ], ["OTHER", ""]]);
    const bytes = new Uint8Array(names.length + 16);
    peer.send(bytes.subarray(0, encodeRecord(bytes, 0, RECORD_TYPE.GetValues, 0, names)));
    await peer.waitFor(8);
    const answer = parseWireAnswer(peer.received());
    assertEquals(answer.management[0]!.type, RECORD_TYPE.GetValuesResult);
    const { decodeParams } = await import("../../../server/fastcgi/params.ts");
    assertEquals(decodeParams(answer.management[0]!.content), [
      "FCGI_MAX_CONNS",
      "10",
      "FCGI_MAX_REQS",
      String(10 * perConnection),
      "FCGI_MPXS_CONNS",
      mpxs,
    ]);
    slot.abort("test over");
    await slot.done;
  }
});

Deno.test("serveFastCgiConnection() answers FCGI_UNKNOWN_TYPE to an unknown record type", async () => {
  const { peer, slot } = openConnection(() => new Response(""));
  const bytes = new Uint8Array(32);
  let at = encodeRecord(bytes, 0, 42, 0, new Uint8Array(0));
  at = encodeRecord(bytes, at, 77, 3, new Uint8Array([1]));
  peer.send(bytes.subarray(0, at));
  await peer.waitFor(32);
  const answer = parseWireAnswer(peer.received());
  assertEquals(answer.management.map((m) => [m.type, m.content[0]]), [
    [RECORD_TYPE.UnknownType, 42],
    [RECORD_TYPE.UnknownType, 77],
  ]);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveFastCgiConnection() answers FCGI_UNKNOWN_ROLE for a role not enabled", async () => {
  const { peer, logs } = openConnection(() => new Response("no"));
  peer.send(encodeWireRequest({ role: ROLE.Filter, params: nginxParams("/") }));
  const answer = await answerOf(peer);
  assertEquals(answer.responses.get(1)!.protocolStatus, PROTOCOL_STATUS.UnknownRole);
  assertEquals(answer.responses.get(1)!.stdout.length, 0);
  assert(logs.some((line) => line.includes("roles")));
});

Deno.test("serveFastCgiConnection() runs the Authorizer role and passes Variable-* headers", async () => {
  const { peer } = openConnection((request, info) => {
    assertEquals(info.role, "authorizer");
    assertEquals(request.body, null);
    return request.headers.get("authorization") === "Bearer ok"
      ? new Response(null, { headers: { "Variable-User": "alice" } })
      : new Response("denied", { status: 403 });
  }, { roles: [ROLE.Authorizer] });
  // An Authorizer gets no STDIN (spec section 6.3): the answer must not wait for one.
  peer.send(encodeWireRequest({
    role: ROLE.Authorizer,
    keepConn: true,
    stdin: null,
    params: nginxParams("/p", { HTTP_AUTHORIZATION: "Bearer ok" }),
  }));
  await peer.waitFor(40);
  let answer = parseWireAnswer(peer.received());
  assertEquals(answer.responses.get(1)!.status, 200);
  assert(answer.responses.get(1)!.headers.some(([n, v]) => n === "variable-user" && v === "alice"));
  assert(answer.responses.get(1)!.ended);
  peer.send(encodeWireRequest({ id: 2, role: ROLE.Authorizer, params: nginxParams("/p") }));
  answer = await answerOf(peer);
  assertEquals(answer.responses.get(2)!.status, 403);
});

Deno.test("serveFastCgiConnection() gives the Filter role its FCGI_DATA as info.data", async () => {
  const { peer } = openConnection(async (request, info) => {
    assertEquals(info.role, "filter");
    const body = await request.text();
    const data = await new Response(info.data).text();
    return new Response(`${body}|${data.toUpperCase()}`);
  }, { roles: [ROLE.Filter] });
  peer.send(encodeWireRequest({
    role: ROLE.Filter,
    params: nginxParams("/f", {
      REQUEST_METHOD: "POST",
      CONTENT_LENGTH: "2",
      FCGI_DATA_LENGTH: "5",
    }),
    stdin: new TextEncoder().encode("in"),
    data: new TextEncoder().encode("hello"),
  }));
  const answer = await answerOf(peer);
  assertEquals(text(answer.responses.get(1)!.body), "in|HELLO");
});

Deno.test("serveFastCgiConnection() aborts request.signal on FCGI_ABORT_REQUEST and ends the request", async () => {
  let resolveStarted!: () => void;
  const started = new Promise<void>((resolve) => resolveStarted = resolve);
  let reason: unknown;
  let completedError: unknown;
  const { peer } = openConnection((request, info) => {
    info.completed.catch((error) => completedError = error);
    return new Promise((resolve) => {
      request.signal.addEventListener("abort", () => {
        reason = request.signal.reason;
        resolve(new Response("too late"));
      });
      resolveStarted();
    });
  });
  peer.send(encodeWireRequest({ keepConn: true, params: nginxParams("/slow") }));
  await started;
  const abort = new Uint8Array(8);
  encodeRecord(abort, 0, RECORD_TYPE.AbortRequest, 1, new Uint8Array(0));
  peer.send(abort);
  await peer.waitFor(16);
  await settle(peer);
  const answer = parseWireAnswer(peer.received());
  const response = answer.responses.get(1)!;
  assert(response.ended);
  assertEquals(response.stdout.length, 0);
  assert(reason instanceof RequestAbortedError);
  assert(completedError instanceof RequestAbortedError);
  peer.end();
  await peer.closed;
});

Deno.test("serveFastCgiConnection() aborts request.signal when the front end closes the connection", async () => {
  let resolveStarted!: () => void;
  const started = new Promise<void>((resolve) => resolveStarted = resolve);
  const aborted = Promise.withResolvers<unknown>();
  const { peer, slot } = openConnection((request) => {
    request.signal.addEventListener("abort", () => aborted.resolve(request.signal.reason));
    resolveStarted();
    return new Response(new ReadableStream({ pull: () => new Promise(() => {}) }));
  });
  peer.send(encodeWireRequest({ params: nginxParams("/hang") }));
  await started;
  peer.end();
  assert(await aborted.promise instanceof RequestAbortedError);
  await slot.done;
});

Deno.test("serveFastCgiConnection() multiplexes up to maxRequestsPerConnection", async () => {
  const gates = new Map<string, PromiseWithResolvers<void>>();
  const { peer, slot, logs } = openConnection(async (request) => {
    const path = new URL(request.url).pathname;
    const gate = Promise.withResolvers<void>();
    gates.set(path, gate);
    await gate.promise;
    return new Response(path);
  }, { maxRequestsPerConnection: 2 });
  peer.send(encodeWireRequest({ id: 1, keepConn: true, params: nginxParams("/one") }));
  peer.send(encodeWireRequest({ id: 2, keepConn: true, params: nginxParams("/two") }));
  peer.send(encodeWireRequest({ id: 3, keepConn: true, params: nginxParams("/three") }));
  await peer.waitFor(16);
  await settle(peer);
  assertEquals(
    parseWireAnswer(peer.received()).responses.get(3)!.protocolStatus,
    PROTOCOL_STATUS.Overloaded,
  );
  assert(logs.some((line) => line.includes("maxRequestsPerConnection (2) reached")));
  gates.get("/two")!.resolve();
  gates.get("/one")!.resolve();
  await settle(peer);
  const answer = parseWireAnswer(peer.received());
  assertEquals(text(answer.responses.get(1)!.body), "/one");
  assertEquals(text(answer.responses.get(2)!.body), "/two");
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveFastCgiConnection() refuses a concurrent request with FCGI_CANT_MPX_CONN by default", async () => {
  const gate = Promise.withResolvers<void>();
  const { peer, slot } = openConnection(async () => {
    await gate.promise;
    return new Response("ok");
  });
  peer.send(encodeWireRequest({ id: 1, keepConn: true, params: nginxParams("/") }));
  peer.send(encodeWireRequest({ id: 2, keepConn: true, params: nginxParams("/") }));
  await peer.waitFor(16);
  assertEquals(
    parseWireAnswer(peer.received()).responses.get(2)!.protocolStatus,
    PROTOCOL_STATUS.CantMpxConn,
  );
  gate.resolve();
  await peer.waitFor(40);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveFastCgiConnection() answers overloaded connections with 503 and FCGI_OVERLOADED", async () => {
  const { peer } = openConnection(() => new Response("never"), { overloaded: true });
  peer.send(encodeWireRequest({ params: nginxParams("/") }));
  const answer = await answerOf(peer);
  assertEquals(answer.responses.get(1)!.status, 503);
  assertEquals(answer.responses.get(1)!.protocolStatus, PROTOCOL_STATUS.Overloaded);
});

for (
  const [name, bytes, reason] of [
    [
      "a duplicate request id",
      () => {
        const one = encodeWireRequest({
          id: 1,
          keepConn: true,
          params: nginxParams("/"),
          stdin: null,
        });
        return new Uint8Array([...one, ...one]);
      },
      /request id "1" is active/,
    ],
    [
      "PARAMS after STDIN",
      () =>
        new Uint8Array([
          ...encodeWireRequest({ id: 1, keepConn: true, params: nginxParams("/"), stdin: null }),
          ...streamRecords(RECORD_TYPE.Stdin, 1, new Uint8Array([1])).subarray(0, 16),
          ...streamRecords(RECORD_TYPE.Params, 1, new Uint8Array([1, 1, 65, 66])).subarray(0, 16),
        ]),
      /PARAMS after the end of params/,
    ],
    [
      "a wrong version",
      () => new Uint8Array([2, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      /version is "2"/,
    ],
    [
      "a STDOUT record from the front end",
      () => streamRecords(RECORD_TYPE.Stdout, 1, new Uint8Array([1])),
      /record type "6"/,
    ],
  ] as const
) {
  Deno.test(`serveFastCgiConnection() closes the connection on ${name} and logs why`, async () => {
    const { peer, logs, slot } = openConnection(
      () => new Promise<Response>(() => {}),
      { maxRequestsPerConnection: 4 },
    );
    peer.send(bytes());
    await slot.done;
    assert(peer.isClosed);
    assert(logs.some((line) => reason.test(line)), logs.join("\n"));
  });
}

Deno.test("serveFastCgiConnection() answers 431 past maxParamsBytes and maxParamsPairs, naming the option", async () => {
  for (
    const [options, option] of [
      [{ maxParamsBytes: 2048 }, "maxParamsBytes"],
      [{ maxParamsPairs: 10 }, "maxParamsPairs"],
    ] as const
  ) {
    let called = false;
    const { peer, logs } = openConnection(() => {
      called = true;
      return new Response("no");
    }, options);
    peer.send(encodeWireRequest({ params: nginxParams("/", { HTTP_X_BIG: "x".repeat(3000) }) }));
    const answer = await answerOf(peer);
    assertEquals(answer.responses.get(1)!.status, 431);
    assertEquals(called, false);
    assert(logs.some((line) => line.includes(`${option} (`)), logs.join("\n"));
  }
});

Deno.test("serveFastCgiConnection() answers 413 past maxBodyBytes and 400 on a CONTENT_LENGTH mismatch", async () => {
  const cases = [
    [{ maxBodyBytes: 1000 }, "5000", 5000, 413],
    [{}, "10", 20, 400],
    [{}, "30", 20, 400],
  ] as const;
  for (const [options, declared, sent, status] of cases) {
    const { peer } = openConnection(async (request) => {
      await request.arrayBuffer();
      return new Response("read it all");
    }, options);
    peer.send(encodeWireRequest({
      params: nginxParams("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: declared }),
      stdin: new Uint8Array(sent),
    }));
    const answer = await answerOf(peer);
    assertEquals(answer.responses.get(1)!.status, status, `${declared} vs ${sent}`);
  }
});

Deno.test("serveFastCgiConnection() answers a throwing handler with a generic 500 and calls onError", async () => {
  const errors: unknown[] = [];
  for (const debug of [false, true]) {
    const { peer, logs } = openConnection(() => {
      throw new Error("secret detail");
    }, { debug, onError: (error) => void errors.push(error) });
    peer.send(encodeWireRequest({ params: nginxParams("/") }));
    const answer = await answerOf(peer);
    const response = answer.responses.get(1)!;
    assertEquals(response.status, 500);
    assertEquals(text(response.body).includes("secret detail"), debug);
    assert(logs.some((line) => line.includes("secret detail")));
  }
  assertEquals(errors.length, 2);
});

Deno.test("serveFastCgiConnection() uses the Response onError returns, and 500s a non-Response", async () => {
  const { peer } = openConnection(() => ({}) as Response, {
    onError: () => new Response("custom", { status: 502 }),
  });
  peer.send(encodeWireRequest({ params: nginxParams("/") }));
  assertEquals((await answerOf(peer)).responses.get(1)!.status, 502);
});

Deno.test("serveFastCgiConnection() sends no body for HEAD, 204 and 304, and every Set-Cookie", async () => {
  for (const [method, status] of [["HEAD", 200], ["GET", 204], ["GET", 304]] as const) {
    const { peer } = openConnection(() =>
      new Response(status === 200 ? "body" : null, { status, headers: { etag: '"x"' } })
    );
    peer.send(encodeWireRequest({ params: nginxParams("/", { REQUEST_METHOD: method }) }));
    const response = (await answerOf(peer)).responses.get(1)!;
    assertEquals(response.status, status);
    assertEquals(response.body.length, 0);
  }
  const { peer } = openConnection(() => {
    const headers = new Headers();
    headers.append("set-cookie", "a=1; Path=/");
    headers.append("set-cookie", "b=2; HttpOnly");
    return new Response("c", { headers });
  });
  peer.send(encodeWireRequest({ params: nginxParams("/") }));
  const response = (await answerOf(peer)).responses.get(1)!;
  assertEquals(response.headers.filter(([n]) => n === "set-cookie").map(([, v]) => v), [
    "a=1; Path=/",
    "b=2; HttpOnly",
  ]);
});

Deno.test("serveFastCgiConnection() flushes streamed chunks as they come", async () => {
  const { peer } = openConnection(() => {
    let i = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          const before = peer.received().length;
          if (i === 5) return controller.close();
          controller.enqueue(new TextEncoder().encode(`chunk${i++};`));
          // The next pull only runs after this chunk reached the peer.
          await peer.waitFor(before + 1);
        },
      }),
    );
  });
  peer.send(encodeWireRequest({ params: nginxParams("/") }));
  const response = (await answerOf(peer)).responses.get(1)!;
  assertEquals(text(response.body), "chunk0;chunk1;chunk2;chunk3;chunk4;");
});

Deno.test("serveFastCgiConnection() reads no further ahead than bodyBufferSize and loses nothing", async () => {
  const total = 32 * 1024 * 1024;
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const { peer } = openConnection(async (request) => {
    started.resolve();
    await release.promise;
    const hash = createHash("sha256");
    let length = 0;
    for await (const chunk of request.body!) {
      hash.update(chunk);
      length += chunk.length;
    }
    return new Response(`${length} ${hash.digest("hex")}`);
  }, { bodyBufferSize: 65536 });
  const body = new Uint8Array(total);
  for (let i = 0; i < total; i += 4096) body[i] = (i / 4096) & 0xff;
  peer.send(encodeWireRequest({
    params: nginxParams("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: String(total) }),
    stdin: body,
  }));
  await started.promise;
  await settle(peer);
  // Read-ahead: the queue (64 KiB) + one record being decoded + one read buffer.
  assert(
    peer.consumed < 65536 + 65536 + 2 * 16384 + 4096,
    `server read ${peer.consumed} bytes ahead`,
  );
  release.resolve();
  const response = (await answerOf(peer)).responses.get(1)!;
  assertEquals(text(response.body), `${total} ${createHash("sha256").update(body).digest("hex")}`);
});

Deno.test("serveFastCgiConnection() discards an unread body and still ends the request", async () => {
  const { peer } = openConnection(() => new Response("ignored your body"), {
    bodyBufferSize: 1024,
  });
  const bytes = encodeWireRequest({
    params: nginxParams("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "300000" }),
    stdin: new Uint8Array(300000),
  });
  peer.send(bytes);
  const response = (await answerOf(peer)).responses.get(1)!;
  assertEquals(text(response.body), "ignored your body");
  // The rest of the body was read to its end before END_REQUEST: the front end is never cut off.
  assertEquals(peer.consumed, bytes.length);
});

Deno.test("serveFastCgiConnection() sends info.writeStderr() as FCGI_STDERR", async () => {
  const { peer } = openConnection((_request, info) => {
    info.writeStderr("something odd\n");
    return new Response("ok");
  });
  peer.send(encodeWireRequest({ params: nginxParams("/") }));
  const response = (await answerOf(peer)).responses.get(1)!;
  assertEquals(response.stderr, "something odd\n");
  assertStringIncludes(text(response.body), "ok");
});

Deno.test("serveFastCgiConnection() drops HTTP_PROXY (httpoxy) and joins repeated headers", async () => {
  const { peer } = openConnection((request) =>
    new Response(JSON.stringify([...request.headers]), {
      headers: { "content-type": "application/json" },
    })
  );
  peer.send(encodeWireRequest({
    params: [
      ...Object.entries(nginxParams("/")),
      ["HTTP_PROXY", "http://evil.test"],
      ["HTTP_X_MULTI", "a"],
      ["HTTP_X_MULTI", "b"],
      ["HTTP_COOKIE", "a=1"],
      ["HTTP_COOKIE", "b=2"],
    ],
  }));
  const headers = new Map<string, string>(
    JSON.parse(text((await answerOf(peer)).responses.get(1)!.body)),
  );
  assertEquals(headers.has("proxy"), false);
  assertEquals(headers.get("x-multi"), "a, b");
  assertEquals(headers.get("cookie"), "a=1; b=2");
  assertMatch(headers.get("host")!, /example\.test/);
});

Deno.test("serveFastCgiConnection() decodes records already buffered when a paused body resumes", async () => {
  // The first STDIN record fills the tiny body buffer and pauses reading; the rest of the
  // request (more STDIN, the end of STDIN) is already buffered and the front end sends nothing
  // more until it gets the answer, as nginx does on a kept connection.
  const release = Promise.withResolvers<void>();
  const { peer, slot } = openConnection(async (request) => {
    await release.promise;
    return new Response(`${(await request.bytes()).length}`);
  }, { bodyBufferSize: 1 });
  const head = encodeWireRequest({
    keepConn: true,
    params: nginxParams("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "8000" }),
    stdin: null,
  });
  const parts: number[] = [...head];
  for (let i = 0; i < 16; i++) {
    parts.push(1, RECORD_TYPE.Stdin, 0, 1, 500 >> 8, 500 & 0xff, 4, 0, ...new Uint8Array(504));
  }
  parts.push(1, RECORD_TYPE.Stdin, 0, 1, 0, 0, 0, 0);
  peer.send(new Uint8Array(parts));
  await settle(peer);
  release.resolve();
  await peer.waitFor(40);
  const response = parseWireAnswer(peer.received()).responses.get(1)!;
  assertEquals(text(response.body), "8000");
  slot.abort("test over");
  await slot.done;
});
