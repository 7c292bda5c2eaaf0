import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { join } from "@std/path";
import { serveFastCgi } from "../../../server/fastcgi/server.ts";
import { PROTOCOL_STATUS } from "../../../server/fastcgi/constants.ts";
import type { LogLevel } from "../../../server/types.ts";
import {
  encodeWireRequest,
  exchangeOverTcp,
  nginxParams,
  parseWireAnswer,
} from "../../_helpers/fastcgi_wire.ts";

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function collectLogs(): { lines: string[]; log: (level: LogLevel, message: string) => void } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level}: ${message}`) };
}

async function tcpPort(server: { ready: Promise<Deno.Addr> }): Promise<number> {
  const addr = await server.ready;
  if (!("port" in addr)) throw new TypeError("not a TCP address");
  return addr.port;
}

/** Reads until the server closes; resolves with what it sent. */
async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  return await new Response(conn.readable).bytes();
}

Deno.test("serveFastCgi() serves over TCP on 127.0.0.1 by default and shuts down", async () => {
  const server = serveFastCgi(() => new Response("tcp ok"), { port: 0, log: () => {} });
  const addr = await server.ready;
  if (!("hostname" in addr)) throw new TypeError("not a TCP address");
  assertEquals(addr.hostname, "127.0.0.1");
  const answer = parseWireAnswer(
    await exchangeOverTcp(addr.port, encodeWireRequest({ params: nginxParams("/") })),
  );
  assertEquals(text(answer.responses.get(1)!.body), "tcp ok");
  await server.shutdown();
  await assertRejects(() => Deno.connect({ hostname: "127.0.0.1", port: addr.port }));
});

Deno.test("serveFastCgi() accepts a module in the export default { fetch } shape", async () => {
  const app = {
    greeting: "module ok",
    fetch(): Response {
      return new Response(this.greeting);
    },
  };
  await using server = serveFastCgi(app, { port: 0, log: () => {} });
  const port = await tcpPort(server);
  const answer = parseWireAnswer(
    await exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") })),
  );
  assertEquals(text(answer.responses.get(1)!.body), "module ok");
});

Deno.test("serveFastCgi() listens on a Unix socket with mode 0660, replaces a stale one, removes it on close", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "app.sock");
    // A stale socket file: a process that listened there was killed before it could clean up.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${
          JSON.stringify(path)
        } }); console.log("up"); setTimeout(() => {}, 60000);`,
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = holder.stdout.getReader();
    await reader.read();
    holder.kill("SIGKILL");
    await holder.status;
    reader.releaseLock();
    await holder.stdout.cancel();
    assert(Deno.lstatSync(path).isSocket, "the stale socket file exists");
    const server = serveFastCgi(() => new Response("unix ok"), { path, log: () => {} });
    const addr = await server.ready;
    assertEquals(addr.transport, "unix");
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o660);
    const conn = await Deno.connect({ transport: "unix", path });
    await conn.write(encodeWireRequest({ params: nginxParams("/") }));
    const answer = parseWireAnswer(await readToEnd(conn));
    assertEquals(text(answer.responses.get(1)!.body), "unix ok");
    // A second server on the same live socket is refused.
    const second = serveFastCgi(() => new Response(""), { path, log: () => {} });
    await assertRejects(() => second.ready, Deno.errors.AddrInUse);
    await second.finished.catch(() => {});
    await server.shutdown();
    assertThrows(() => Deno.lstatSync(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveFastCgi() leaves a busy server's socket alone: a full accept queue is not stale", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "busy.sock");
  // A live server that accepts nothing: connect until its accept queue is full (EAGAIN).
  const busy = Deno.listen({ transport: "unix", path });
  const queued: Deno.Conn[] = [];
  try {
    for (let full = false; !full;) {
      try {
        queued.push(await Deno.connect({ transport: "unix", path }));
      } catch (error) {
        if (!(error instanceof Deno.errors.WouldBlock)) throw error;
        full = true;
      }
      assert(queued.length <= 4097, "the accept queue never filled (somaxconn is at most 4096)");
    }
    const { lines, log } = collectLogs();
    const server = serveFastCgi(() => new Response(""), { path, log });
    await assertRejects(() => server.ready, Deno.errors.AddrInUse, "a server may be listening");
    await server.finished.catch(() => {});
    assert(lines.some((line) => line.includes("Resource temporarily unavailable")), lines.join());
    // The busy server's socket is still there and still its own: it accepts a queued peer.
    assert(Deno.lstatSync(path).isSocket);
    const accepted = await busy.accept();
    accepted.close();
  } finally {
    for (const conn of queued) conn.close();
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveFastCgi() on close removes only its own socket file, not a successor's", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "app.sock");
  const server = serveFastCgi(() => new Response(""), { path, log: () => {} });
  let successor: Deno.Listener | undefined;
  try {
    await server.ready;
    // Another server took the path over (an operator removed the file and started it).
    Deno.removeSync(path);
    successor = Deno.listen({ transport: "unix", path });
    await server.shutdown();
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    (await successor.accept()).close();
  } finally {
    successor?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveFastCgi() refuses a Unix path that is a regular file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "not-a-socket");
    await Deno.writeTextFile(path, "data");
    const server = serveFastCgi(() => new Response(""), { path, log: () => {} });
    await assertRejects(() => server.ready, Deno.errors.AddrInUse, "not a socket");
    await server.finished.catch(() => {});
    assertEquals(await Deno.readTextFile(path), "data");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveFastCgi() serves a ready Deno.Listener", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = serveFastCgi(() => new Response("listener ok"), { listener, log: () => {} });
  const port = await tcpPort(server);
  const answer = parseWireAnswer(
    await exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") })),
  );
  assertEquals(text(answer.responses.get(1)!.body), "listener ok");
  await server.shutdown();
});

Deno.test("serveFastCgi() closes connections from outside allowedAddresses and logs it", async () => {
  const { lines, log } = collectLogs();
  await using server = serveFastCgi(() => new Response("no"), {
    port: 0,
    allowedAddresses: ["10.0.0.0/8", "::1"],
    log,
  });
  const port = await tcpPort(server);
  const bytes = await exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") }));
  assertEquals(bytes.length, 0);
  assert(
    lines.some((line) => line.includes("allowedAddresses: refused connection from 127.0.0.1")),
  );
});

Deno.test("serveFastCgi() admits allowedAddresses peers, IPv6 included", async () => {
  await using server = serveFastCgi(() => new Response("v6 ok"), {
    hostname: "::1",
    port: 0,
    allowedAddresses: ["::1/128"],
    log: () => {},
  });
  const port = await tcpPort(server);
  const answer = parseWireAnswer(
    await exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") }), "::1"),
  );
  assertEquals(text(answer.responses.get(1)!.body), "v6 ok");
});

Deno.test("serveFastCgi() closes a connection past paramsTimeout and names the option", async () => {
  const { lines, log } = collectLogs();
  await using server = serveFastCgi(() => new Response(""), { port: 0, paramsTimeout: 150, log });
  const port = await tcpPort(server);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = encodeWireRequest({ params: nginxParams("/") });
  await conn.write(request.subarray(0, 20)); // BEGIN_REQUEST and part of PARAMS, then nothing
  const rest = await readToEnd(conn);
  assertEquals(rest.length, 0);
  assert(lines.some((line) => line.includes("paramsTimeout (150) reached")), lines.join("\n"));
});

Deno.test("serveFastCgi() closes an idle kept-alive connection past keepAliveTimeout", async () => {
  const { lines, log } = collectLogs();
  await using server = serveFastCgi(() => new Response("once"), {
    port: 0,
    keepAliveTimeout: 150,
    log,
  });
  const port = await tcpPort(server);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encodeWireRequest({ keepConn: true, params: nginxParams("/") }));
  const answer = parseWireAnswer(await readToEnd(conn));
  assertEquals(text(answer.responses.get(1)!.body), "once");
  assert(lines.some((line) => line.includes("keepAliveTimeout (150) reached")), lines.join("\n"));
});

Deno.test("serveFastCgi() aborts a stalled body past bodyTimeout", async () => {
  const { lines, log } = collectLogs();
  const bodyError = Promise.withResolvers<unknown>();
  await using server = serveFastCgi(async (request) => {
    try {
      await request.arrayBuffer();
    } catch (error) {
      bodyError.resolve(error);
    }
    return new Response("");
  }, { port: 0, bodyTimeout: 150, log });
  const port = await tcpPort(server);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = encodeWireRequest({
    params: nginxParams("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "100" }),
    stdin: new Uint8Array(100),
  });
  await conn.write(request.subarray(0, request.length - 30)); // the body stops short
  await readToEnd(conn);
  assert((await bodyError.promise) instanceof Error);
  assert(lines.some((line) => line.includes("bodyTimeout (150) reached")), lines.join("\n"));
});

Deno.test("serveFastCgi() answers 503 past handlerTimeout and aborts request.signal", async () => {
  const { lines, log } = collectLogs();
  const aborted = Promise.withResolvers<void>();
  await using server = serveFastCgi((request) =>
    new Promise<Response>((resolve) => {
      request.signal.addEventListener("abort", () => {
        aborted.resolve();
        resolve(new Response("late"));
      });
    }), {
    port: 0,
    handlerTimeout: (request) => request.url.endsWith("/slow") ? 100 : undefined,
    log,
  });
  const port = await tcpPort(server);
  const answer = parseWireAnswer(
    await exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/slow") })),
  );
  await aborted.promise;
  assertEquals(answer.responses.get(1)!.status, 503);
  assert(lines.some((line) => line.includes("handlerTimeout (100) reached")));
});

Deno.test("serveFastCgi() refuses requests past maxConnections with FCGI_OVERLOADED", async () => {
  const { lines, log } = collectLogs();
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  await using server = serveFastCgi(async () => {
    started.resolve();
    await release.promise;
    return new Response("first");
  }, { port: 0, maxConnections: 1, log });
  const port = await tcpPort(server);
  const first = exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") }));
  await started.promise;
  const second = parseWireAnswer(
    await exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") })),
  );
  assertEquals(second.responses.get(1)!.status, 503);
  assertEquals(second.responses.get(1)!.protocolStatus, PROTOCOL_STATUS.Overloaded);
  assert(lines.some((line) => line.includes("maxConnections (1) reached")));
  release.resolve();
  assertEquals(text(parseWireAnswer(await first).responses.get(1)!.body), "first");
});

Deno.test("serveFastCgi() drains in-flight requests on shutdown and refuses new connections", async () => {
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const server = serveFastCgi(async () => {
    started.resolve();
    await release.promise;
    return new Response("finished during drain");
  }, { port: 0, log: () => {} });
  const port = await tcpPort(server);
  const inFlight = exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") }));
  await started.promise;
  const finished = server.shutdown();
  await assertRejects(() => Deno.connect({ hostname: "127.0.0.1", port }));
  release.resolve();
  const answer = parseWireAnswer(await inFlight);
  assertEquals(text(answer.responses.get(1)!.body), "finished during drain");
  await finished;
});

Deno.test("serveFastCgi() aborts requests still running after drainTimeout", async () => {
  const { lines, log } = collectLogs();
  const started = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<void>();
  const server = serveFastCgi((request) => {
    started.resolve();
    return new Promise<Response>((resolve) =>
      request.signal.addEventListener("abort", () => {
        aborted.resolve();
        resolve(new Response(""));
      })
    );
  }, { port: 0, drainTimeout: 100, log });
  const port = await tcpPort(server);
  const inFlight = exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") }));
  await started.promise;
  await server.shutdown();
  await aborted.promise;
  await inFlight;
  assert(lines.some((line) => line.includes("drainTimeout (100) reached")));
});

Deno.test("serveFastCgi() shuts down when its signal aborts", async () => {
  const controller = new AbortController();
  const server = serveFastCgi(() => new Response(""), {
    port: 0,
    signal: controller.signal,
    log: () => {},
  });
  await server.ready;
  controller.abort();
  await server.finished;
});

Deno.test("serveFastCgi() rejects bad options with RangeError or TypeError", () => {
  assertThrows(() => serveFastCgi(() => new Response(""), { maxConnections: 0 }), RangeError);
  assertThrows(
    () => serveFastCgi(() => new Response(""), { maxRequestsPerConnection: 1.5 }),
    RangeError,
  );
  assertThrows(
    () => serveFastCgi(() => new Response(""), { allowedAddresses: ["not-an-ip"] }),
    TypeError,
  );
});

Deno.test("serveFastCgi() takes its allow-list from FCGI_WEB_SERVER_ADDRS when allowedAddresses is not given", async () => {
  const { lines, log } = collectLogs();
  Deno.env.set("FCGI_WEB_SERVER_ADDRS", "10.1.2.3, 192.0.2.0/24");
  try {
    await using refusing = serveFastCgi(() => new Response("no"), { port: 0, log });
    const refused = await exchangeOverTcp(
      await tcpPort(refusing),
      encodeWireRequest({ params: nginxParams("/") }),
    );
    assertEquals(refused.length, 0);
    assert(lines.some((line) => line.includes("allowedAddresses: refused connection")));
    Deno.env.set("FCGI_WEB_SERVER_ADDRS", "10.1.2.3,127.0.0.1");
    await using admitting = serveFastCgi(() => new Response("yes"), { port: 0, log });
    const answer = parseWireAnswer(
      await exchangeOverTcp(
        await tcpPort(admitting),
        encodeWireRequest({ params: nginxParams("/") }),
      ),
    );
    assertEquals(text(answer.responses.get(1)!.body), "yes");
    // An explicit option wins over the variable.
    Deno.env.set("FCGI_WEB_SERVER_ADDRS", "10.1.2.3");
    await using explicit = serveFastCgi(() => new Response("explicit"), {
      port: 0,
      allowedAddresses: ["127.0.0.0/8"],
      log,
    });
    const explicitAnswer = parseWireAnswer(
      await exchangeOverTcp(
        await tcpPort(explicit),
        encodeWireRequest({ params: nginxParams("/") }),
      ),
    );
    assertEquals(text(explicitAnswer.responses.get(1)!.body), "explicit");
  } finally {
    Deno.env.delete("FCGI_WEB_SERVER_ADDRS");
  }
});

Deno.test("serveFastCgi() times out a refused connection past maxConnections that sends nothing", async () => {
  const { lines, log } = collectLogs();
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  await using server = serveFastCgi(async () => {
    started.resolve();
    await release.promise;
    return new Response("first");
  }, { port: 0, maxConnections: 1, paramsTimeout: 150, log });
  const port = await tcpPort(server);
  const first = exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") }));
  await started.promise;
  const silent = await Deno.connect({ hostname: "127.0.0.1", port });
  assertEquals((await readToEnd(silent)).length, 0);
  assert(lines.some((line) => line.includes("paramsTimeout (150) reached")), lines.join("\n"));
  release.resolve();
  await first;
});
