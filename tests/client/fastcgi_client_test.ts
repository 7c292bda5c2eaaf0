// FastCgiClient behaviour beyond the conformance cases: params as nginx builds them, CGI
// Status/Location handling, STDERR, FCGI_ABORT_REQUEST, the pool (keep-alive, retry of a dead
// kept connection, maxConnections/maxQueued, idleTimeout), every timeout, GET_VALUES.

import { assert, assertEquals, assertInstanceOf, assertRejects } from "@std/assert";
import { ConnectionClosedError, LimitExceededError, ProtocolError } from "../../server/errors.ts";
import { FastCgiClient, fastCgiFetch } from "../../server/fastcgi/client.ts";
import { RECORD_TYPE } from "../../server/fastcgi/constants.ts";
import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { createCaseApp } from "../conformance/case_app.ts";
import { startFakeBackend } from "./_fake_fastcgi.ts";
import { collectLog } from "./_front.ts";

const quiet = { log: () => {} };

async function withCaseServer(
  fn: (address: string, accepted: () => number) => Promise<void>,
): Promise<void> {
  let accepted = 0;
  const inner = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = {
    get addr() {
      return inner.addr;
    },
    async accept() {
      const conn = await inner.accept();
      accepted++;
      return conn;
    },
    close: () => inner.close(),
    [Symbol.asyncIterator]: undefined,
  } as unknown as Deno.Listener;
  const server = serveFastCgi(createCaseApp(), { listener, ...quiet });
  const addr = (await server.ready) as Deno.NetAddr;
  try {
    await fn(`127.0.0.1:${addr.port}`, () => accepted);
  } finally {
    await server.shutdown();
  }
}

async function echoEnv(response: Response): Promise<Record<string, string>> {
  assertEquals(response.status, 200);
  return (await response.json()).env;
}

Deno.test("FastCgiClient.fetch() builds params as nginx fastcgi_params does", async () => {
  await withCaseServer(async (address) => {
    await using client = new FastCgiClient({
      address,
      documentRoot: "/srv/www",
      splitPath: /^(\/echo)(\/.*)$/,
      ...quiet,
    });
    const env = await echoEnv(
      await client.fetch(
        new Request("https://example.test:8443/echo/a%20b/c?x=1&y=%C3%A9", {
          method: "POST",
          headers: {
            "content-type": "text/plain",
            "x-custom": "yes",
            "x_sneaky": "no",
            proxy: "http://evil/",
          },
          body: "hello",
        }),
        {
          remoteAddr: { transport: "tcp", hostname: "192.0.2.7", port: 51000 },
          serverAddr: { transport: "tcp", hostname: "127.0.0.1", port: 8443 },
        },
      ),
    );
    assertEquals(env.REQUEST_METHOD, "POST");
    assertEquals(env.QUERY_STRING, "x=1&y=%C3%A9");
    assertEquals(env.REQUEST_URI, "/echo/a%20b/c?x=1&y=%C3%A9");
    assertEquals(env.DOCUMENT_URI, "/echo/a b/c");
    assertEquals(env.SCRIPT_NAME, "/echo");
    assertEquals(env.PATH_INFO, "/a b/c");
    assertEquals(env.DOCUMENT_ROOT, "/srv/www");
    assertEquals(env.SCRIPT_FILENAME, "/srv/www/echo");
    assertEquals(env.PATH_TRANSLATED, "/srv/www/a b/c");
    assertEquals(env.CONTENT_TYPE, "text/plain");
    assertEquals(env.CONTENT_LENGTH, "5");
    assertEquals(env.HTTPS, "on");
    assertEquals(env.REQUEST_SCHEME, "https");
    assertEquals(env.SERVER_NAME, "example.test");
    assertEquals(env.SERVER_PORT, "8443");
    assertEquals(env.SERVER_ADDR, "127.0.0.1");
    assertEquals(env.REMOTE_ADDR, "192.0.2.7");
    assertEquals(env.REMOTE_PORT, "51000");
    assertEquals(env.GATEWAY_INTERFACE, "CGI/1.1");
    assertEquals(env.SERVER_PROTOCOL, "HTTP/1.1");
    assertEquals(env.REDIRECT_STATUS, "200");
    assertEquals(env.HTTP_HOST, "example.test:8443");
    assertEquals(env.HTTP_X_CUSTOM, "yes");
    // Underscore names would alias dash names; Proxy would be httpoxy.
    assertEquals(env.HTTP_X_SNEAKY, undefined);
    assertEquals(env.HTTP_PROXY, undefined);
    assertEquals(env.HTTP_CONTENT_TYPE, undefined);
  });
});

Deno.test("FastCgiClient.fetch() splits .php paths by default, mounts with scriptName, adds params", async () => {
  await withCaseServer(async (address) => {
    await using php = new FastCgiClient({ address, documentRoot: "/var/www/", ...quiet });
    let env = await echoEnv(await php.fetch(new Request("http://h/echo/index.php/extra")));
    assertEquals(env.SCRIPT_NAME, "/echo/index.php");
    assertEquals(env.PATH_INFO, "/extra");
    assertEquals(env.SCRIPT_FILENAME, "/var/www/echo/index.php");
    env = await echoEnv(await php.fetch(new Request("http://h/echo/dir/")));
    assertEquals(env.SCRIPT_NAME, "/echo/dir/index.php");
    assertEquals(env.PATH_INFO, "");
    await using mounted = new FastCgiClient({
      address,
      scriptName: "/echo",
      params: { APP_ENV: "test", SERVER_SOFTWARE: "custom" },
      ...quiet,
    });
    env = await echoEnv(
      await mounted.fetch(new Request("http://h/echo/x"), { params: { APP_ENV: "call" } }),
    );
    assertEquals(env.SCRIPT_NAME, "/echo");
    assertEquals(env.PATH_INFO, "/x");
    assertEquals(env.APP_ENV, "call");
    assertEquals(env.SERVER_SOFTWARE, "custom");
    assertEquals(env.SCRIPT_FILENAME, undefined);
  });
});

Deno.test("FastCgiClient.fetch() refuses paths that decode to dot segments or NUL, before connecting", async () => {
  const backend = startFakeBackend(() => {});
  await using client = new FastCgiClient({ address: backend.address, ...quiet });
  try {
    for (const path of ["/a/..%2F..%2Fetc/passwd", "/x%2F%2E%2E%2Fy", "/bad%00.php", "/%E0%A4%A"]) {
      const error = await assertRejects(() => client.fetch(new Request(`http://h${path}`)));
      assertInstanceOf(error, ProtocolError);
      assertEquals(error.protocol, "http");
    }
    assertEquals(backend.accepted(), 0);
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient.fetch() handles Status, Location and bad heads as CGI defines", async () => {
  const backend = startFakeBackend(async ({ env }, io) => {
    const heads: Record<string, string> = {
      "/status": "Status: 404 Not Here\r\nX-A: 1\r\n\r\nmissing",
      "/plain": "Content-Type: text/plain\n\nno status line",
      "/absolute": "Location: https://example.test/elsewhere\r\n\r\n",
      "/local": "Location: /plain\r\n\r\n",
      "/loop": "Location: /loop\r\n\r\n",
      "/bad": "this is not a header\r\n\r\n",
      "/badstatus": "Status: 99 Weird\r\n\r\n",
      "/hop": "Status: 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nok",
    };
    const head = heads[env.REQUEST_URI!] ?? "Status: 500\r\n\r\n";
    // Split the head across records to exercise the incremental reader.
    await io.stdout(head.slice(0, 5));
    await io.stdout(head.slice(5));
    await io.end();
  });
  const { log, lines } = collectLog();
  await using client = new FastCgiClient({ address: backend.address, log });
  try {
    let response = await client.fetch(new Request("http://h/status"));
    assertEquals([response.status, response.statusText], [404, "Not Here"]);
    assertEquals(response.headers.get("x-a"), "1");
    assertEquals(await response.text(), "missing");
    response = await client.fetch(new Request("http://h/plain"));
    assertEquals(response.status, 200);
    assertEquals(await response.text(), "no status line");
    response = await client.fetch(new Request("http://h/absolute"));
    assertEquals(response.status, 302);
    assertEquals(response.headers.get("location"), "https://example.test/elsewhere");
    await response.body?.cancel();
    // A local redirect is followed inside: the caller sees /plain's answer.
    response = await client.fetch(new Request("http://h/local"));
    assertEquals(await response.text(), "no status line");
    // One that loops ends after maxLocalRedirects, as a 302, logged with the option's name.
    response = await client.fetch(new Request("http://h/loop"));
    assertEquals(response.status, 302);
    await response.body?.cancel();
    assert(lines.some((line) => line.includes("maxLocalRedirects (5) reached")), lines.join("\n"));
    response = await client.fetch(new Request("http://h/hop"));
    assertEquals(response.headers.get("transfer-encoding"), null);
    assertEquals(response.headers.get("connection"), null);
    assertEquals(await response.text(), "ok");
    for (const path of ["/bad", "/badstatus"]) {
      const error = await assertRejects(() => client.fetch(new Request(`http://h${path}`)));
      assertInstanceOf(error, ProtocolError);
      assertEquals(error.protocol, "fastcgi");
    }
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient.fetch() refuses a head over maxResponseHeadBytes and logs the option", async () => {
  const backend = startFakeBackend(async (_request, io) => {
    await io.stdout(`X-Big: ${"a".repeat(5000)}\r\n\r\n`);
    await io.end();
  });
  const { log, lines } = collectLog();
  await using client = new FastCgiClient({
    address: backend.address,
    maxResponseHeadBytes: 1024,
    log,
  });
  try {
    const error = await assertRejects(() => client.fetch(new Request("http://h/")));
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "maxResponseHeadBytes");
  } finally {
    await backend.stop();
  }
  assertEquals(lines.length, 0, "a refused head is the caller's to report");
});

Deno.test("FastCgiClient passes FCGI_STDERR to onStderr, or logs it", async () => {
  const backend = startFakeBackend(async (_request, io) => {
    await io.stderr("PHP Notice: something\n");
    await io.stdout("Status: 200 OK\r\n\r\nbody");
    await io.stderr("second line");
    await io.end();
  });
  const seen: string[] = [];
  await using client = new FastCgiClient({
    address: backend.address,
    onStderr: (message, request) => seen.push(`${new URL(request.url).pathname}: ${message}`),
    ...quiet,
  });
  const { log, lines } = collectLog();
  await using logging = new FastCgiClient({ address: backend.address, log });
  try {
    assertEquals(await (await client.fetch(new Request("http://h/s"))).text(), "body");
    assertEquals(seen, ["/s: PHP Notice: something\n", "/s: second line"]);
    assertEquals(await (await logging.fetch(new Request("http://h/t"))).text(), "body");
    assertEquals(lines, [
      "warn: FastCGI stderr (GET http://h/t): PHP Notice: something",
      "warn: FastCGI stderr (GET http://h/t): second line",
    ]);
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient: request.signal sends FCGI_ABORT_REQUEST and the kept connection is reused", async () => {
  const backend = startFakeBackend(async ({ env }, io) => {
    if (env.REQUEST_URI === "/slow") {
      await io.stdout("Status: 200 OK\r\n\r\nfirst ");
      await io.aborted; // the client's FCGI_ABORT_REQUEST
      await io.end();
      return;
    }
    await io.stdout("Status: 200 OK\r\n\r\nfine");
    await io.end();
  });
  await using client = new FastCgiClient({ address: backend.address, ...quiet });
  try {
    const controller = new AbortController();
    const response = await client.fetch(
      new Request("http://h/slow", { signal: controller.signal }),
    );
    const reader = response.body!.getReader();
    assertEquals(new TextDecoder().decode((await reader.read()).value), "first ");
    controller.abort();
    await assertRejects(() => reader.read());
    // The backend answers the abort with END_REQUEST; then the connection is parked again.
    for (let i = 0; i < 200 && client.stats.idle === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assertEquals(client.stats, { open: 1, idle: 1, queued: 0 });
    assertEquals(await (await client.fetch(new Request("http://h/next"))).text(), "fine");
    assert(backend.records.includes(RECORD_TYPE.AbortRequest));
    assertEquals(backend.accepted(), 1, "the aborted request's connection was reused");
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient: an abort before the head rejects fetch() with the signal's reason", async () => {
  const backend = startFakeBackend(async (_request, io) => {
    await io.aborted;
    await io.end();
  });
  await using client = new FastCgiClient({ address: backend.address, ...quiet });
  try {
    const controller = new AbortController();
    const pending = client.fetch(new Request("http://h/", { signal: controller.signal }));
    // Wait until the backend has the request, then abort.
    while (!backend.records.includes(RECORD_TYPE.Stdin)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    controller.abort(new Error("caller gave up"));
    const error = await assertRejects(() => pending);
    assertEquals((error as Error).message, "caller gave up");
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient retries once when a kept connection turns out dead", async () => {
  // The first connection answers one request, then closes on the next without a word (a
  // backend child that exited); the client must resend on a new connection.
  const backend = startFakeBackend(async ({ connection, index }, io) => {
    if (connection === 0 && index === 1) return io.close();
    await io.stdout(`Status: 200 OK\r\n\r\nconnection ${connection}`);
    await io.end();
  });
  await using client = new FastCgiClient({ address: backend.address, ...quiet });
  try {
    assertEquals(await (await client.fetch(new Request("http://h/1"))).text(), "connection 0");
    assertEquals(await (await client.fetch(new Request("http://h/2"))).text(), "connection 1");
    assertEquals(backend.accepted(), 2);
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient: a kept connection the backend closes while idle is dropped at once", async () => {
  const backend = startFakeBackend(async (_request, io) => {
    await io.stdout("Status: 200 OK\r\n\r\nok");
    await io.end();
    io.close();
  });
  await using client = new FastCgiClient({ address: backend.address, ...quiet });
  try {
    assertEquals(await (await client.fetch(new Request("http://h/"))).text(), "ok");
    await backend.closed(0);
    for (let i = 0; i < 100 && client.stats.open > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assertEquals(client.stats, { open: 0, idle: 0, queued: 0 });
    assertEquals(await (await client.fetch(new Request("http://h/"))).text(), "ok");
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient: maxConnections queues, maxQueued refuses, a released connection is handed on", async () => {
  const gate = Promise.withResolvers<void>();
  const backend = startFakeBackend(async ({ env }, io) => {
    if (env.REQUEST_URI === "/wait") await gate.promise;
    await io.stdout(`Status: 200 OK\r\n\r\n${env.REQUEST_URI}`);
    await io.end();
  });
  const { log, lines } = collectLog();
  await using client = new FastCgiClient({
    address: backend.address,
    maxConnections: 1,
    maxQueued: 1,
    log,
  });
  try {
    const first = client.fetch(new Request("http://h/wait"));
    while (client.stats.open === 0 || backend.accepted() === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const second = client.fetch(new Request("http://h/second"));
    await new Promise((resolve) => setTimeout(resolve, 0));
    assertEquals(client.stats.queued, 1);
    const error = await assertRejects(() => client.fetch(new Request("http://h/third")));
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "maxQueued");
    assert(lines.some((line) => line.includes("maxQueued (1) reached")));
    gate.resolve();
    assertEquals(await (await first).text(), "/wait");
    assertEquals(await (await second).text(), "/second");
    assertEquals(backend.accepted(), 1);
  } finally {
    gate.resolve();
    await backend.stop();
  }
});

Deno.test("FastCgiClient: idleTimeout closes kept connections and is logged by the backend seeing EOF", async () => {
  const backend = startFakeBackend(async (_request, io) => {
    await io.stdout("Status: 200 OK\r\n\r\nok");
    await io.end();
  });
  await using client = new FastCgiClient({ address: backend.address, idleTimeout: 40, ...quiet });
  try {
    assertEquals(await (await client.fetch(new Request("http://h/"))).text(), "ok");
    assertEquals(client.stats.idle, 1);
    await backend.closed(0);
    assertEquals(client.stats.open, 0);
  } finally {
    await backend.stop();
  }
});

Deno.test("FastCgiClient: requestTimeout and readTimeout end silent backends, logged by name", async () => {
  const release = Promise.withResolvers<void>();
  const backend = startFakeBackend(async ({ env }, io) => {
    if (env.REQUEST_URI === "/body") await io.stdout("Status: 200 OK\r\n\r\nstart");
    await release.promise;
  });
  const { log, lines } = collectLog();
  await using client = new FastCgiClient({
    address: backend.address,
    requestTimeout: 100,
    readTimeout: 100,
    log,
  });
  try {
    const started = Date.now();
    let error = await assertRejects(() => client.fetch(new Request("http://h/head")));
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "requestTimeout");
    assert(Date.now() - started < 2000);
    const response = await client.fetch(new Request("http://h/body"));
    const reader = response.body!.getReader();
    assertEquals(new TextDecoder().decode((await reader.read()).value), "start");
    error = await assertRejects(() => reader.read());
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "readTimeout");
    assert(lines.some((line) => line.startsWith("warn: requestTimeout (100) reached")));
    assert(lines.some((line) => line.startsWith("warn: readTimeout (100) reached")));
    assertEquals(client.stats.open, 0, "timed-out connections are closed");
  } finally {
    release.resolve();
    await backend.stop();
  }
});

Deno.test("FastCgiClient: connectTimeout ends a connect to a backend whose accept queue is full", async () => {
  // A listener that never accepts: once its accept queue is full the kernel drops further
  // SYNs, so the next connect hangs until the client gives up.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const fillers: Deno.Conn[] = [];
  const { log, lines } = collectLog();
  try {
    for (let i = 0; i < 4096; i++) {
      const attempt = Deno.connect({ hostname: "127.0.0.1", port });
      const conn = await Promise.race([
        attempt,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 100)),
      ]);
      if (conn === null) {
        // This one hangs: the queue is full. Let it finish (or fail) after the listener closes.
        attempt.then((late) => late.close(), () => {});
        break;
      }
      fillers.push(conn);
    }
    await using client = new FastCgiClient({
      address: `127.0.0.1:${port}`,
      connectTimeout: 200,
      log,
    });
    const started = Date.now();
    const error = await assertRejects(() => client.fetch(new Request("http://h/")));
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "connectTimeout");
    assert(Date.now() - started < 1000);
    assert(lines.some((line) => line.startsWith("warn: connectTimeout (200) reached")));
  } finally {
    listener.close();
    for (const conn of fillers) conn.close();
  }
});

Deno.test("FastCgiClient.getValues() asks FCGI_GET_VALUES on a connection of its own", async () => {
  const server = serveFastCgi(() => new Response("x"), {
    port: 0,
    maxConnections: 7,
    maxRequestsPerConnection: 3,
    ...quiet,
  });
  const { port } = (await server.ready) as Deno.NetAddr;
  await using client = new FastCgiClient({ address: { hostname: "127.0.0.1", port }, ...quiet });
  try {
    assertEquals(await client.getValues(), {
      FCGI_MAX_CONNS: "7",
      FCGI_MAX_REQS: "21",
      FCGI_MPXS_CONNS: "1",
    });
    assertEquals(await client.getValues(["FCGI_MAX_CONNS", "UNKNOWN"]), { FCGI_MAX_CONNS: "7" });
    assertEquals(client.stats.open, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("FastCgiClient: unknown-length bodies are buffered up to maxBufferedBodyBytes, or streamed", async () => {
  await withCaseServer(async (address) => {
    const body = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(3000));
          controller.enqueue(new Uint8Array(3000));
          controller.close();
        },
      });
    const upload = (client: FastCgiClient) =>
      client.fetch(
        new Request(
          "http://h/upload",
          { method: "POST", body: body(), duplex: "half" } as RequestInit,
        ),
      );
    await using buffered = new FastCgiClient({ address, ...quiet });
    assertEquals((await (await upload(buffered)).json()).bytes, 6000);
    await using small = new FastCgiClient({ address, maxBufferedBodyBytes: 4096, ...quiet });
    const error = await assertRejects(() => upload(small));
    assertInstanceOf(error, LimitExceededError);
    assertEquals(error.option, "maxBufferedBodyBytes");
    await using streaming = new FastCgiClient({
      address,
      maxBufferedBodyBytes: 4096,
      streamUnknownLength: true,
      ...quiet,
    });
    assertEquals((await (await upload(streaming)).json()).bytes, 6000);
  });
});

Deno.test("fastCgiFetch() sends one request on its own connection and closes it", async () => {
  await withCaseServer(async (address, accepted) => {
    const env = await echoEnv(
      await fastCgiFetch(new Request("http://h/echo/one"), { address, ...quiet }, {
        remoteAddr: { transport: "tcp", hostname: "127.0.0.9", port: 1 },
      }),
    );
    assertEquals(env.REMOTE_ADDR, "127.0.0.9");
    assertEquals(accepted(), 1);
  });
});

Deno.test("FastCgiClient refuses bad options and a closed client", async () => {
  for (const address of ["nope", "unix:", "127.0.0.1:0", "host:70000"]) {
    let threw = false;
    try {
      new FastCgiClient({ address });
    } catch (error) {
      threw = error instanceof TypeError;
    }
    assert(threw, address);
  }
  let threw = false;
  try {
    new FastCgiClient({ address: "127.0.0.1:9", requestTimeout: 0 });
  } catch (error) {
    threw = error instanceof RangeError;
  }
  assert(threw);
  const client = new FastCgiClient({ address: "127.0.0.1:9", ...quiet });
  await client.close();
  await assertRejects(() => client.fetch(new Request("http://h/")), TypeError);
});

Deno.test("FastCgiClient: a backend that is not there is a ConnectionClosedError", async () => {
  const dir = await Deno.makeTempDir();
  await using client = new FastCgiClient({ address: `unix:${dir}/none.sock`, ...quiet });
  try {
    await assertRejects(() => client.fetch(new Request("http://h/")), ConnectionClosedError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
