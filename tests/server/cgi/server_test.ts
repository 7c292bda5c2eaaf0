import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { serveCgi, shouldServeCgi } from "../../../server/cgi/server.ts";
import { RequestAbortedError } from "../../../server/errors.ts";
import type { GatewayInfo } from "../../../server/types.ts";
import {
  apacheEnv,
  countingStdin,
  headerValues,
  parseCgiOutput,
  runCgi,
  unreadStdin,
} from "./_harness.ts";

const encoder = new TextEncoder();
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function bytesOf(length: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * seed + (i >>> 9)) & 0xff;
  return bytes;
}

Deno.test("serveCgi() rebuilds the Request from RFC 3875 meta-variables", async () => {
  let seen: { request: Request; info: GatewayInfo } | undefined;
  const output = await runCgi((request, info) => {
    seen = { request, info };
    return new Response("ok");
  }, {
    env: apacheEnv("/echo/caf%C3%A9?q=a%20b", {
      HTTP_X_TRACE: "abc",
      HTTP_PROXY: "http://evil.test",
      HTTP_COOKIE: "a=1; b=2",
      HTTPS: "on",
      SERVER_PORT: "443",
    }),
  });
  assertEquals(output.status, 200);
  if (seen === undefined) throw new Error("the handler did not run");
  const { request, info } = seen;
  assertEquals(request.url, "https://cgi.test:8080/echo/caf%C3%A9?q=a%20b");
  assertEquals(request.method, "GET");
  assertEquals(request.headers.get("x-trace"), "abc");
  assertEquals(request.headers.get("cookie"), "a=1; b=2");
  assertEquals(request.headers.has("proxy"), false);
  assertEquals(request.body, null);
  assertEquals(info.protocol, "cgi");
  assertEquals(info.role, "responder");
  assertEquals(info.data, null);
  assertEquals(info.remoteAddr, { transport: "tcp", hostname: "192.0.2.7", port: 51234 });
  assertEquals(info.env.SCRIPT_NAME, "/app.cgi");
  assertEquals(info.env.PATH, "/usr/bin:/bin");
});

Deno.test("serveCgi() rebuilds the URL from SCRIPT_NAME, PATH_INFO and QUERY_STRING without REQUEST_URI", async () => {
  let url = "";
  await runCgi((request) => {
    url = request.url;
    return new Response(null, { status: 204 });
  }, {
    env: {
      REQUEST_METHOD: "GET",
      SCRIPT_NAME: "/cgi-bin/app.cgi",
      PATH_INFO: "/a b/ü",
      QUERY_STRING: "x=1",
      SERVER_NAME: "example.test",
      SERVER_PORT: "8081",
    },
  });
  assertEquals(url, "http://example.test:8081/cgi-bin/app.cgi/a%20b/%C3%BC?x=1");
});

Deno.test("serveCgi() accepts a module in the export default { fetch } shape", async () => {
  const app = {
    greeting: "module ok",
    fetch(): Response {
      return new Response(this.greeting);
    },
  };
  const output = await runCgi(app, { env: apacheEnv("/") });
  assertEquals(text(output.body), "module ok");
});

Deno.test("serveCgi() writes Status:, every header and the body", async () => {
  const output = await runCgi(() => {
    const headers = new Headers({ "content-type": "text/plain", "x-app": "1" });
    headers.append("set-cookie", "first=1; Path=/; HttpOnly");
    headers.append("set-cookie", "second=2; Path=/; SameSite=Lax");
    return new Response("teapot body", { status: 418, headers });
  }, { env: apacheEnv("/") });
  const head = text(output.raw).split("\r\n\r\n")[0]!;
  assert(head.startsWith("Status: 418 I'm a teapot\r\n"), head);
  assertEquals(output.status, 418);
  assertEquals(headerValues(output.headers, "set-cookie"), [
    "first=1; Path=/; HttpOnly",
    "second=2; Path=/; SameSite=Lax",
  ]);
  assertEquals(headerValues(output.headers, "x-app"), ["1"]);
  assertEquals(text(output.body), "teapot body");
  // A small response goes out in one write.
  assertEquals(output.writes.length, 1);
});

Deno.test("serveCgi() writes no body for HEAD, 204 and 304", async () => {
  for (
    const [method, status] of [["HEAD", 200], ["GET", 204], ["GET", 304], ["HEAD", 404]] as const
  ) {
    let cancelled = false;
    const output = await runCgi(() =>
      new Response(
        status === 204 || status === 304 ? null : new ReadableStream({
          pull: (controller) => controller.enqueue(encoder.encode("x")),
          cancel: () => void (cancelled = true),
        }),
        { status, headers: { "content-type": "application/json" } },
      ), { env: apacheEnv("/", { REQUEST_METHOD: method }) });
    assertEquals(output.status, status);
    assertEquals(output.body.length, 0, `${method} ${status}`);
    assertEquals(headerValues(output.headers, "content-type"), ["application/json"]);
    if (status === 200 || status === 404) assert(cancelled, "the unsent body is cancelled");
  }
});

Deno.test("serveCgi() reads exactly CONTENT_LENGTH bytes of stdin", async () => {
  const data = bytesOf(100_000);
  const extra = encoder.encode("never read");
  const { stream, pulled } = countingStdin([
    data.subarray(0, 40_000),
    data.subarray(40_000),
    extra,
  ]);
  let received = new Uint8Array();
  const output = await runCgi(async (request) => {
    received = await request.bytes();
    assertEquals(request.headers.get("content-length"), "100000");
    assertEquals(request.headers.get("content-type"), "application/octet-stream");
    return new Response(`${received.length}`);
  }, {
    env: apacheEnv("/upload", {
      REQUEST_METHOD: "POST",
      CONTENT_LENGTH: "100000",
      CONTENT_TYPE: "application/octet-stream",
    }),
    stdin: stream,
  });
  assertEquals(output.status, 200);
  assertEquals(received, data);
  assertEquals(pulled(), 100_000, "stdin is not read past CONTENT_LENGTH");
});

Deno.test("serveCgi() cuts a last stdin chunk that runs past CONTENT_LENGTH", async () => {
  let body = "";
  await runCgi(async (request) => {
    body = await request.text();
    return new Response("ok");
  }, {
    env: apacheEnv("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "5" }),
    stdin: encoder.encode("hello, and more"),
  });
  assertEquals(body, "hello");
});

Deno.test("serveCgi() answers 400 when stdin ends before CONTENT_LENGTH", async () => {
  let readError: unknown;
  const output = await runCgi(async (request) => {
    try {
      await request.bytes();
    } catch (error) {
      readError = error;
      throw error;
    }
    return new Response("unreachable");
  }, {
    env: apacheEnv("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "10" }),
    stdin: encoder.encode("short"),
  });
  assertEquals(output.status, 400);
  assertEquals(text(output.body), "Bad Request\n");
  assert(readError !== undefined);
  assertStringIncludes(String(readError), 'CONTENT_LENGTH is "10" but "5" bytes arrived');
});

Deno.test("serveCgi() reads to the end of stdin when there is no CONTENT_LENGTH (Apache, chunked upload)", async () => {
  const parts = [bytesOf(70_000, 3), bytesOf(5, 5), bytesOf(30_000, 11)];
  let length = 0;
  let header: string | null = "unset";
  await runCgi(async (request) => {
    header = request.headers.get("content-length");
    length = (await request.bytes()).length;
    return new Response("ok");
  }, {
    env: apacheEnv("/", { REQUEST_METHOD: "POST" }),
    stdin: countingStdin(parts).stream,
  });
  assertEquals(header, null);
  assertEquals(length, 100_005);
});

Deno.test("serveCgi() never reads stdin for GET, HEAD or CONTENT_LENGTH 0", async () => {
  for (
    const env of [
      apacheEnv("/"),
      apacheEnv("/", { REQUEST_METHOD: "HEAD" }),
      apacheEnv("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "0" }),
    ]
  ) {
    const output = await runCgi((request) => new Response(`${request.body === null}`), {
      env,
      stdin: unreadStdin(),
    });
    assertEquals(output.status, 200);
  }
});

Deno.test("serveCgi() streams the body with backpressure: stdin is read no further ahead than bodyBufferSize", async () => {
  const chunk = 16384;
  const chunks = Array.from({ length: 64 }, (_, i) => bytesOf(chunk, i + 1));
  const { stream, pulled } = countingStdin(chunks);
  let maxAhead = 0;
  let total = 0;
  const output = await runCgi(async (request) => {
    const reader = request.body!.getReader();
    while (true) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      maxAhead = Math.max(maxAhead, pulled() - total);
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
    }
    return new Response(`${total}`);
  }, {
    env: apacheEnv("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: String(64 * chunk) }),
    stdin: stream,
    bodyBufferSize: 65536,
  });
  assertEquals(text(output.body), String(64 * chunk));
  assert(maxAhead <= 65536 + 2 * chunk, `read ${maxAhead} bytes ahead of the handler`);
});

Deno.test("serveCgi() drains stdin a handler ignored, so the web server is never stuck writing it", async () => {
  const { stream, pulled } = countingStdin(Array.from({ length: 40 }, () => bytesOf(65536)));
  const output = await runCgi(() => new Response("ignored the body"), {
    env: apacheEnv("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: String(40 * 65536) }),
    stdin: stream,
  });
  assertEquals(text(output.body), "ignored the body");
  assertEquals(pulled(), 40 * 65536);
});

Deno.test("serveCgi() answers a throwing handler with a generic 500; details go to the log only", async () => {
  for (
    const handler of [
      () => {
        throw new Error("secret detail");
      },
      () => Promise.reject(new Error("secret detail")),
      () => "not a response" as unknown as Response,
    ]
  ) {
    const output = await runCgi(handler, { env: apacheEnv("/throw"), defaultLog: true });
    assertEquals(output.status, 500);
    assertEquals(text(output.body), "Internal Server Error\n");
    assertEquals(text(output.raw).includes("secret detail"), false);
    assertEquals(text(output.raw).includes("    at "), false);
    // The default log writes to stderr, which the web server puts in its error log.
    assertStringIncludes(output.stderr, "flup error: Handler failed for GET");
  }
  const thrown = await runCgi(() => {
    throw new Error("secret detail");
  }, { env: apacheEnv("/throw"), defaultLog: true });
  assertStringIncludes(thrown.stderr, "secret detail");
  assertStringIncludes(thrown.stderr, "    at ");
});

Deno.test("serveCgi() sends onError's response, and details with debug", async () => {
  const seen: unknown[] = [];
  const custom = await runCgi(() => {
    throw new Error("boom");
  }, {
    env: apacheEnv("/"),
    onError: (error) => {
      seen.push(error);
      return new Response("custom", { status: 502 });
    },
  });
  assertEquals(custom.status, 502);
  assertEquals(text(custom.body), "custom");
  assertEquals(seen.length, 1);
  const debug = await runCgi(() => {
    throw new Error("visible detail");
  }, { env: apacheEnv("/"), debug: true });
  assertEquals(debug.status, 500);
  assertStringIncludes(text(debug.body), "visible detail");
  assert(debug.logs.some((line) => line.includes("debug is on")));
});

Deno.test("serveCgi() flushes each streamed chunk before the next is produced", async () => {
  const writes: string[] = [];
  let wrote: (() => void) | null = null;
  const written = () => new Promise<void>((resolve) => wrote = resolve);
  let next = written();
  let i = 0;
  await serveCgi(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (i > 0) await next; // the previous chunk has reached stdout
          next = written();
          if (i === 5) return controller.close();
          controller.enqueue(encoder.encode(`event ${i++}\n`));
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    ), {
    env: apacheEnv("/events"),
    stdout: new WritableStream({
      write(chunk) {
        writes.push(text(chunk));
        wrote?.();
      },
    }),
    log: () => {},
  });
  assertEquals(writes.length, 5, JSON.stringify(writes));
  assert(writes[0]!.startsWith("Status: 200 OK\r\n"));
  assert(writes[0]!.endsWith("\r\n\r\nevent 0\n"), "the head goes out with the first chunk");
  assertEquals(writes.slice(1), ["event 1\n", "event 2\n", "event 3\n", "event 4\n"]);
});

Deno.test("serveCgi() aborts request.signal and rejects info.completed when stdout breaks", async () => {
  let signal: AbortSignal | undefined;
  let completed: Promise<void> | undefined;
  let cancelled = false;
  const logs: string[] = [];
  await serveCgi((request, info) => {
    signal = request.signal;
    completed = info.completed;
    return new Response(
      new ReadableStream({
        pull: (controller) => controller.enqueue(new Uint8Array(1024)),
        cancel: () => void (cancelled = true),
      }),
    );
  }, {
    env: apacheEnv("/"),
    stdout: new WritableStream({
      write() {
        throw new Error("Broken pipe (os error 32)");
      },
    }),
    stderr: new WritableStream(),
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  assert(signal?.aborted);
  assert(signal?.reason instanceof RequestAbortedError);
  assert(completed !== undefined);
  await assertRejects(() => completed!, RequestAbortedError);
  assert(cancelled, "the response body is cancelled");
  assert(logs.some((line) => line.includes("Broken pipe")), logs.join("\n"));
});

Deno.test("serveCgi() resolves info.completed once the response is written", async () => {
  let completed: Promise<void> | undefined;
  await runCgi((_request, info) => {
    completed = info.completed;
    return new Response("done");
  }, { env: apacheEnv("/") });
  await completed;
});

Deno.test("serveCgi() sends info.writeStderr to stderr, never to the client", async () => {
  const output = await runCgi((_request, info) => {
    info.writeStderr("note for the error log\n");
    info.writeStderr(encoder.encode("bytes too\n"));
    return new Response("ok");
  }, { env: apacheEnv("/") });
  assertEquals(output.stderr, "note for the error log\nbytes too\n");
  assertEquals(text(output.raw).includes("error log"), false);
});

Deno.test("serveCgi() answers 431 past maxParamsPairs and maxParamsBytes, naming the option", async () => {
  const pairs = await runCgi(() => new Response("unreachable"), {
    env: apacheEnv("/"),
    maxParamsPairs: 5,
  });
  assertEquals(pairs.status, 431);
  assert(pairs.logs.some((line) => line.startsWith("warn: maxParamsPairs (5) reached")));
  const bytes = await runCgi(() => new Response("unreachable"), {
    env: apacheEnv("/", { HTTP_X_BIG: "x".repeat(2000) }),
    maxParamsBytes: 1024,
  });
  assertEquals(bytes.status, 431);
  assert(bytes.logs.some((line) => line.startsWith("warn: maxParamsBytes (1024) reached")));
});

Deno.test("serveCgi() answers 413 past maxBodyBytes, naming the option", async () => {
  for (const env of [{ CONTENT_LENGTH: "4096" }, {}]) {
    const output = await runCgi(async (request) => {
      await request.bytes();
      return new Response("unreachable");
    }, {
      env: apacheEnv("/", { REQUEST_METHOD: "POST", ...env }),
      stdin: new Uint8Array(4096),
      maxBodyBytes: 1000,
    });
    assertEquals(output.status, 413);
    assert(output.logs.some((line) => line.startsWith("warn: maxBodyBytes (1000) reached")));
  }
});

Deno.test("serveCgi() answers 408 when stdin stays idle past bodyTimeout, naming the option", async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode("part"));
    },
    pull: () => new Promise<void>((resolve) => timer = setTimeout(resolve, 2000)),
  }, { highWaterMark: 0 });
  let signal: AbortSignal | undefined;
  const output = await runCgi(async (request) => {
    signal = request.signal;
    await request.text();
    return new Response("unreachable");
  }, {
    env: apacheEnv("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "100" }),
    stdin: stalled,
    bodyTimeout: 50,
  });
  clearTimeout(timer);
  assertEquals(output.status, 408);
  assert(output.logs.some((line) => line.startsWith("warn: bodyTimeout (50) reached")));
  assertEquals(signal?.aborted, false);
});

Deno.test("serveCgi() answers 503 past handlerTimeout and aborts request.signal", async () => {
  let signal: AbortSignal | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const output = await runCgi((request) => {
    signal = request.signal;
    return new Promise<Response>((resolve) => {
      timer = setTimeout(() => resolve(new Response("late")), 2000);
    });
  }, { env: apacheEnv("/"), handlerTimeout: 30 });
  clearTimeout(timer);
  assertEquals(output.status, 503);
  assert(signal?.aborted);
  assert(output.logs.some((line) => line.startsWith("warn: handlerTimeout (30) reached")));
});

Deno.test("serveCgi() answers 400 for a bad CONTENT_LENGTH or a forbidden method", async () => {
  for (
    const env of [
      apacheEnv("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "12abc" }),
      apacheEnv("/", { REQUEST_METHOD: "CONNECT" }),
    ]
  ) {
    const output = await runCgi(() => new Response("unreachable"), { env });
    assertEquals(output.status, 400);
    assert(output.logs.some((line) => line.startsWith("warn: CGI request answered 400")));
  }
});

Deno.test("serveCgi() aborts the request when its signal aborts", async () => {
  const controller = new AbortController();
  let aborted = false;
  const output = await runCgi((request) => {
    request.signal.addEventListener("abort", () => aborted = true);
    controller.abort();
    return new Response("after abort");
  }, { env: apacheEnv("/"), signal: controller.signal });
  assert(aborted);
  assertEquals(output.raw.length, 0, "nothing is written after the abort");
});

Deno.test("serveCgi() rejects bad options with RangeError or TypeError", async () => {
  await assertRejects(
    () => serveCgi(() => new Response(), { maxBodyBytes: 0, stderr: new WritableStream() }),
    RangeError,
  );
  await assertRejects(
    () => serveCgi({} as unknown as () => Response, { stderr: new WritableStream() }),
    TypeError,
  );
});

Deno.test("shouldServeCgi() is true when standard input is not a socket", () => {
  // Under `deno test` stdin is a terminal, a pipe or /dev/null, never a listening socket.
  assertEquals(shouldServeCgi(), true);
});

Deno.test("parseCgiOutput() reads what serveCgi() wrote (test helper)", () => {
  const parsed = parseCgiOutput(encoder.encode("Status: 201 Created\r\nx: 1\r\n\r\nbody"));
  assertEquals(parsed.status, 201);
  assertEquals(parsed.headers, [["x", "1"]]);
  assertEquals(text(parsed.body), "body");
});
