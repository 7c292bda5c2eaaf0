import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { createServer } from "node:net";
import { join } from "@std/path";
import { type Backend, SECRET_TEXT, startApache, startLighttpd, startNginx } from "./frontends.ts";
import { freePort, tempDir } from "./ports.ts";
import { rawRequest } from "./http_client.ts";

// A minimal FastCGI responder (FastCGI 1.0 spec, section 3 and 5) used only by these tests:
// it answers every request with the REQUEST_URI param. As an authorizer it allows requests
// that carry "Authorization: letmein" and denies the rest with 403.

const BEGIN_REQUEST = 1;
const END_REQUEST = 3;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const ROLE_AUTHORIZER = 2;
const FLAG_KEEP_CONN = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds one record (spec section 3.3) with no padding. */
function record(type: number, requestId: number, content: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + content.length);
  out.set([1, type, requestId >> 8, requestId & 0xff, content.length >> 8, content.length & 0xff]);
  out.set(content, 8);
  return out;
}

/** A request's params in the order received; a name may repeat. */
type Params = [string, string][];

/** Decodes name-value pairs (spec section 3.4). */
function decodeParams(bytes: Uint8Array): Params {
  const params: Params = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const length = (): number => {
    const first = view.getUint8(at);
    if (first < 128) return (at += 1, first);
    return (at += 4, view.getUint32(at - 4) & 0x7fffffff);
  };
  while (at < bytes.length) {
    const nameLength = length();
    const valueLength = length();
    const name = decoder.decode(bytes.subarray(at, at + nameLength));
    const value = decoder.decode(bytes.subarray(at + nameLength, at + nameLength + valueLength));
    at += nameLength + valueLength;
    params.push([name, value]);
  }
  return params;
}

/** Every value of `name` in `params`. */
function values(params: Params | undefined, name: string): string[] {
  return (params ?? []).filter(([n]) => n === name).map(([, v]) => v);
}

/** The first value of `name` in `params`. */
function param(params: Params | undefined, name: string): string | undefined {
  return values(params, name)[0];
}

/** Concatenates byte arrays. */
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Serves one connection until EOF, or until a request without FCGI_KEEP_CONN is answered.
 * Each response carries `X-Mark: <mark>` and the REQUEST_URI as its body.
 */
async function serveConnection(
  chunks: AsyncIterable<Uint8Array>,
  write: (bytes: Uint8Array) => Promise<void>,
  mark: string,
  seen: Params[],
): Promise<void> {
  let buffer: Uint8Array = new Uint8Array(0);
  let params: Uint8Array[] = [];
  let env: Params = [];
  let role = 1;
  let keepConn = false;
  for await (const chunk of chunks) {
    buffer = concat([buffer, chunk]);
    while (buffer.length >= 8) {
      const type = buffer[1] ?? 0;
      const requestId = ((buffer[2] ?? 0) << 8) | (buffer[3] ?? 0);
      const contentLength = ((buffer[4] ?? 0) << 8) | (buffer[5] ?? 0);
      const total = 8 + contentLength + (buffer[6] ?? 0);
      if (buffer.length < total) break;
      const content = buffer.slice(8, 8 + contentLength);
      buffer = buffer.slice(total);
      let head: string | undefined;
      if (type === BEGIN_REQUEST) {
        role = ((content[0] ?? 0) << 8) | (content[1] ?? 0);
        keepConn = ((content[2] ?? 0) & FLAG_KEEP_CONN) !== 0;
        params = [];
      } else if (type === PARAMS && contentLength > 0) {
        params.push(content);
      } else if (type === PARAMS) {
        env = decodeParams(concat(params));
        seen.push(env);
        // An authorizer may get no STDIN (spec section 6.3): answer now.
        if (role === ROLE_AUTHORIZER) {
          head = param(env, "HTTP_AUTHORIZATION") === "letmein"
            ? "Status: 200 OK\r\nVariable-USER: tester\r\n\r\n"
            : "Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\ndenied";
        }
      } else if (type === STDIN && contentLength === 0 && role !== ROLE_AUTHORIZER) {
        head = `Status: 200 OK\r\nContent-Type: text/plain\r\nX-Mark: ${mark}\r\n\r\n` +
          (param(env, "REQUEST_URI") ?? "");
      }
      if (head === undefined) continue;
      await write(concat([
        record(STDOUT, requestId, encoder.encode(head)),
        record(STDOUT, requestId, new Uint8Array(0)),
        record(END_REQUEST, requestId, new Uint8Array(8)), // appStatus 0, REQUEST_COMPLETE
      ]));
      if (!keepConn) return;
    }
  }
}

/** A running test responder. */
interface Responder extends AsyncDisposable {
  /** Where front ends reach it. */
  readonly backend: Backend;
  /** The params of every request, in order. */
  readonly seen: Params[];
  /** How many connections it accepted. */
  readonly connections: number;
}

/** Starts the responder on a free port of 127.0.0.1, or on a Unix socket path. */
function startResponder(path?: string): Responder {
  const listener = path === undefined
    ? Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" })
    : Deno.listen({ path, transport: "unix" });
  const seen: Params[] = [];
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let connections = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conns.add(conn);
      const task = serveConnection(
        readChunks(conn),
        async (bytes) => {
          for (let n = 0; n < bytes.length;) n += await conn.write(bytes.subarray(n));
        },
        path === undefined ? "tcp" : "unix",
        seen,
      ).catch(() => {}).finally(() => {
        conns.delete(conn);
        tasks.delete(task);
        closeQuietly(conn);
      });
      tasks.add(task);
    }
  })().catch(() => {});
  const backend: Backend = path === undefined
    ? { protocol: "fastcgi", hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port }
    : { protocol: "fastcgi", path };
  return {
    backend,
    seen,
    get connections() {
      return connections;
    },
    async [Symbol.asyncDispose]() {
      closeQuietly(listener);
      await accepting;
      for (const conn of conns) closeQuietly(conn);
      await Promise.all(tasks);
    },
  };
}

/** Yields what the connection reads until EOF or close. */
async function* readChunks(conn: Deno.Conn): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return;
    yield buffer.slice(0, n);
  }
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}

/**
 * The body of the app lighttpd spawns in the "bin-path" test: this same file run with
 * `deno run` and FD0_MARK set serves the responder on the socket lighttpd passes as fd 0.
 * (Deno.test is a no-op under `deno run`.)
 */
function serveOnFd0(mark: string): void {
  const pidFile = Deno.env.get("FD0_PID_FILE");
  if (pidFile !== undefined) Deno.writeTextFileSync(pidFile, String(Deno.pid));
  const server = createServer((socket) => {
    const write = (bytes: Uint8Array) =>
      new Promise<void>((resolve, reject) =>
        socket.write(bytes, (error) => error ? reject(error) : resolve())
      );
    serveConnection(socket, write, mark, []).catch(() => {}).finally(() => socket.end());
  });
  server.listen({ fd: 0 });
}

const FD0_MARK = Deno.env.get("FD0_MARK");
if (FD0_MARK !== undefined) serveOnFd0(FD0_MARK);

async function getText(url: string, init?: RequestInit): Promise<[number, string, Headers]> {
  const response = await fetch(url, init);
  return [response.status, await response.text(), response.headers];
}

const PATH = "/a/b?x=1";

Deno.test("startNginx() proxies FastCGI per request", async () => {
  await using app = startResponder();
  await using nginx = await startNginx({ backend: app.backend });
  assertEquals(nginx.name, "nginx fastcgi");
  assertEquals(await getText(nginx.origin + PATH).then(([s, b]) => [s, b]), [200, PATH]);
  assertEquals(await getText(nginx.origin + PATH).then(([s, b]) => [s, b]), [200, PATH]);
  assertEquals(app.connections, 2);
  const env = app.seen[0];
  assertEquals(param(env, "REQUEST_METHOD"), "GET");
  assertEquals(param(env, "QUERY_STRING"), "x=1");
  assertEquals(param(env, "HTTP_HOST"), new URL(nginx.origin).host);
  assertEquals(param(env, "SERVER_PORT"), new URL(nginx.origin).port);
  assertEquals(param(env, "GATEWAY_INTERFACE"), "CGI/1.1");
});

Deno.test("startNginx() proxies FastCGI with keepalive connections", async () => {
  await using app = startResponder();
  await using nginx = await startNginx({ backend: app.backend, keepConn: true });
  assertEquals(nginx.name, "nginx fastcgi keepalive");
  for (let i = 0; i < 3; i++) {
    assertEquals(await getText(nginx.origin + PATH).then(([s, b]) => [s, b]), [200, PATH]);
  }
  assertEquals(app.connections, 1);
});

Deno.test("startNginx() proxies FastCGI over a Unix socket without request buffering", async () => {
  const dir = await tempDir("flup_test_");
  try {
    await using app = startResponder(join(dir, "app.sock"));
    await using nginx = await startNginx({ backend: app.backend, requestBuffering: false });
    const [status, body, headers] = await getText(nginx.origin + PATH);
    assertEquals([status, body, headers.get("x-mark")], [200, PATH, "unix"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startNginx() accepts an SCGI backend and answers 502 when it is down", async () => {
  await using nginx = await startNginx({
    backend: { protocol: "scgi", hostname: "127.0.0.1", port: freePort() },
  });
  const [status] = await getText(nginx.origin + PATH);
  assertEquals(status, 502);
  assertStringIncludes(await nginx.errorLog(), "connect() failed");
});

Deno.test("startApache() proxies FastCGI per request and with enablereuse", async () => {
  for (const enableReuse of [false, true]) {
    await using app = startResponder();
    await using apache = await startApache({ backend: app.backend, enableReuse });
    assertEquals(await getText(apache.origin + PATH).then(([s, b]) => [s, b]), [200, PATH]);
    assertEquals(await getText(apache.origin + PATH).then(([s, b]) => [s, b]), [200, PATH]);
    assertEquals(param(app.seen[0], "HTTP_HOST"), new URL(apache.origin).host);
  }
});

Deno.test("startApache() proxies FastCGI over a Unix socket", async () => {
  const dir = await tempDir("flup_test_");
  try {
    await using app = startResponder(join(dir, "app.sock"));
    await Deno.chmod(join(dir, "app.sock"), 0o660);
    await Deno.chmod(dir, 0o711);
    await using apache = await startApache({ backend: app.backend });
    const [status, body, headers] = await getText(apache.origin + PATH);
    assertEquals([status, body, headers.get("x-mark")], [200, PATH, "unix"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startApache() accepts an AJP backend with a secret and answers 503 when it is down", async () => {
  await using apache = await startApache({
    backend: { protocol: "ajp", hostname: "127.0.0.1", port: freePort() },
    secret: "s3cret",
  });
  const [status] = await getText(apache.origin + PATH);
  assertEquals(status, 503);
});

Deno.test("startLighttpd() proxies FastCGI over TCP", async () => {
  await using app = startResponder();
  await using lighttpd = await startLighttpd({ backend: app.backend });
  assertEquals(await getText(lighttpd.origin + PATH).then(([s, b]) => [s, b]), [200, PATH]);
  assertEquals(param(app.seen[0], "SCRIPT_NAME"), "");
  assertEquals(param(app.seen[0], "PATH_INFO"), "/a/b");
});

Deno.test("startLighttpd() proxies FastCGI over a Unix socket", async () => {
  const dir = await tempDir("flup_test_");
  try {
    await using app = startResponder(join(dir, "app.sock"));
    await Deno.chmod(join(dir, "app.sock"), 0o660);
    await using lighttpd = await startLighttpd({ backend: app.backend });
    const [status, body, headers] = await getText(lighttpd.origin + PATH);
    assertEquals([status, body, headers.get("x-mark")], [200, PATH, "unix"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startLighttpd() accepts an SCGI backend and answers 503 when it is down", async () => {
  await using lighttpd = await startLighttpd({
    backend: { protocol: "scgi", hostname: "127.0.0.1", port: freePort() },
  });
  const [status] = await getText(lighttpd.origin + PATH);
  assertEquals(status, 503);
});

Deno.test("startLighttpd() accepts an AJP backend and answers 503 when it is down", async () => {
  await using lighttpd = await startLighttpd({
    backend: { protocol: "ajp", hostname: "127.0.0.1", port: freePort() },
  });
  const [status] = await getText(lighttpd.origin + PATH);
  assertEquals(status, 503);
});

Deno.test("startLighttpd() spawns binPath with its socket on fd 0 and bin-environment", async () => {
  const dir = await tempDir("flup_test_");
  try {
    const pidFile = join(dir, "app.pid");
    const lighttpd = await startLighttpd({
      binPath: [
        Deno.execPath(),
        "run",
        "--quiet",
        "--allow-all",
        "--no-lock",
        "--config",
        new URL("../../deno.json", import.meta.url).pathname,
        new URL(import.meta.url).pathname,
      ],
      binEnvironment: { FD0_MARK: "spawned", FD0_PID_FILE: pidFile },
    });
    try {
      const [status, body, headers] = await getText(lighttpd.origin + PATH);
      assertEquals([status, body, headers.get("x-mark")], [200, PATH, "spawned"]);
    } finally {
      await lighttpd.stop();
    }
    // The spawned app is gone (or a zombie waiting for its new parent to reap it).
    const pid = (await Deno.readTextFile(pidFile)).trim();
    const state = await Deno.readTextFile(`/proc/${pid}/stat`).then(
      (stat) => stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3),
      () => "gone",
    );
    assertEquals(["gone", "Z"].includes(state), true, `the app is still running (${state})`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startLighttpd() guards /protected/ with a FastCGI authorizer", async () => {
  await using app = startResponder();
  await using auth = startResponder();
  await using lighttpd = await startLighttpd({ backend: app.backend, authorizer: auth.backend });
  const secret = lighttpd.origin + "/protected/secret.txt";
  assertEquals(await getText(secret).then(([s, b]) => [s, b]), [403, "denied"]);
  assertEquals(
    await getText(secret, { headers: { Authorization: "letmein" } }).then(([s, b]) => [s, b]),
    [200, SECRET_TEXT],
  );
  assertEquals(await getText(lighttpd.origin + PATH).then(([s, b]) => [s, b]), [200, PATH]);
  assertEquals(auth.seen.length, 2);
  assertEquals(app.seen.length, 1);
});

Deno.test("startNginx() throws with the error log when nginx cannot start", async () => {
  const error = await assertRejects(
    () => startNginx({ backend: { protocol: "fastcgi", hostname: "bad host", port: 9 } }),
    Error,
  );
  assertStringIncludes(error.message, "Cannot start nginx fastcgi: the process exited");
  assertStringIncludes(error.message, "nginx.conf");
});

Deno.test("stop() is idempotent and errorLog() still answers afterwards", async () => {
  await using app = startResponder();
  const nginx = await startNginx({ backend: app.backend });
  await nginx.stop();
  await nginx.stop();
  assertEquals(typeof await nginx.errorLog(), "string");
  await assertRejects(() => fetch(nginx.origin));
});

Deno.test("rawRequest() sends repeated headers in order and reads HEAD and chunked bodies", async () => {
  await using app = startResponder();
  await using nginx = await startNginx({ backend: app.backend, keepConn: true });
  const get = await rawRequest(nginx.origin, {
    method: "GET",
    path: PATH,
    headers: [["X-Twice", "1"], ["X-Twice", "2"]],
  });
  assertEquals(get.status, 200);
  assertEquals(new TextDecoder().decode(get.body), PATH);
  // The app sends no length, so nginx answers with chunked transfer coding.
  assertEquals(
    get.headers.find(([name]) => name.toLowerCase() === "transfer-encoding")?.[1],
    "chunked",
  );
  // nginx passes a repeated header as repeated params, in order.
  assertEquals(values(app.seen[0], "HTTP_X_TWICE"), ["1", "2"]);
  const head = await rawRequest(nginx.origin, { method: "HEAD", path: PATH });
  assertEquals([head.status, head.body.length], [200, 0]);
});

Deno.test("rawRequest() reads Content-Length, close-delimited, 204 and interim responses", async () => {
  const canned = [
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close",
    "HTTP/1.1 204 No Content\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
  ];
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
  const origin = `http://127.0.0.1:${listener.addr.port}`;
  const serving = (async () => {
    for (const text of canned) {
      const conn = await listener.accept();
      try {
        await conn.read(new Uint8Array(4096));
        await conn.write(new TextEncoder().encode(text));
      } finally {
        conn.close();
      }
    }
  })();
  const results = [];
  for (let i = 0; i < canned.length; i++) {
    const response = await rawRequest(origin, { path: `/${i}` });
    results.push([response.status, new TextDecoder().decode(response.body)]);
    if (i === 2) assertEquals(response.headers, [["X-A", "1"], ["X-A", "2"]]);
  }
  await serving;
  assertEquals(results, [
    [200, "hello"],
    [200, "until close"],
    [204, ""],
    [201, "ok"],
    [200, "abc"],
  ]);
});

Deno.test("rawRequest() times out", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
  const accepted = listener.accept();
  const error = await assertRejects(
    () => rawRequest(`http://127.0.0.1:${listener.addr.port}`, { timeout: 200 }),
    Error,
  );
  assertStringIncludes(error.message, "timed out after 200 ms");
  (await accepted).close();
});
