import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { join } from "@std/path";
import { serveScgi } from "../../../server/scgi/server.ts";
import { encodeScgiHeaders } from "../../../server/scgi/netstring.ts";
import type { LogLevel } from "../../../server/types.ts";
import { type CgiAnswer, nginxPairs, parseCgiAnswer, scgiRequest } from "./_harness.ts";

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

/** Sends `bytes` on a new connection and reads until the server closes it (at most 5 s). */
async function exchange(
  connect: Deno.ConnectOptions | Deno.UnixConnectOptions,
  bytes: Uint8Array,
): Promise<Uint8Array> {
  const conn = await Deno.connect(connect as Deno.ConnectOptions);
  conn.write(bytes).catch(() => {}); // the server may close before it reads everything
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    return await new Response(conn.readable).bytes();
  } catch {
    return new Uint8Array(0);
  } finally {
    clearTimeout(timer);
  }
}

const tcp = (port: number): Deno.ConnectOptions => ({ hostname: "127.0.0.1", port });

async function ask(port: number, bytes: Uint8Array): Promise<CgiAnswer> {
  return parseCgiAnswer(await exchange(tcp(port), bytes));
}

Deno.test("serveScgi() serves over TCP on 127.0.0.1 and shuts down", async () => {
  const server = serveScgi(
    async (request) => new Response(`tcp ok ${(await request.text()).length}`),
    { port: 0, log: () => {} },
  );
  const addr = await server.ready;
  if (!("hostname" in addr)) throw new TypeError("not a TCP address");
  assertEquals(addr.hostname, "127.0.0.1");
  const answer = await ask(addr.port, scgiRequest("/", { REQUEST_METHOD: "POST" }, "12345"));
  assertEquals(answer.status, 200);
  assertEquals(text(answer.body), "tcp ok 5");
  await server.shutdown();
  await assertRejects(() => Deno.connect(tcp(addr.port)));
});

Deno.test("serveScgi() accepts a module in the export default { fetch } shape", async () => {
  const app = {
    greeting: "module ok",
    fetch(): Response {
      return new Response(this.greeting);
    },
  };
  await using server = serveScgi(app, { port: 0, log: () => {} });
  const answer = await ask(await tcpPort(server), scgiRequest("/"));
  assertEquals(text(answer.body), "module ok");
});

Deno.test("serveScgi() listens on a Unix socket with mode 0660 and removes it on close", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "app.sock");
    const server = serveScgi(() => new Response("unix ok"), { path, log: () => {} });
    const addr = await server.ready;
    assertEquals(addr.transport, "unix");
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o660);
    const answer = parseCgiAnswer(await exchange({ transport: "unix", path }, scgiRequest("/")));
    assertEquals(text(answer.body), "unix ok");
    await server.shutdown();
    assertThrows(() => Deno.lstatSync(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveScgi() closes connections from outside allowedAddresses and logs it", async () => {
  const { lines, log } = collectLogs();
  await using server = serveScgi(() => new Response("no"), {
    port: 0,
    allowedAddresses: ["10.0.0.0/8"],
    log,
  });
  const bytes = await exchange(tcp(await tcpPort(server)), scgiRequest("/"));
  assertEquals(bytes.length, 0);
  assert(lines.some((line) => line.includes("allowedAddresses: refused connection")));
});

Deno.test("serveScgi() closes a connection past paramsTimeout and names the option", async () => {
  const { lines, log } = collectLogs();
  await using server = serveScgi(() => new Response(""), { port: 0, paramsTimeout: 150, log });
  const bytes = await exchange(tcp(await tcpPort(server)), scgiRequest("/").subarray(0, 30));
  assertEquals(bytes.length, 0);
  assert(lines.some((line) => line.includes("paramsTimeout (150) reached")), lines.join("\n"));
});

Deno.test("serveScgi() aborts a stalled body past bodyTimeout and names the option", async () => {
  const { lines, log } = collectLogs();
  const bodyError = Promise.withResolvers<unknown>();
  await using server = serveScgi(async (request) => {
    try {
      await request.arrayBuffer();
    } catch (error) {
      bodyError.resolve(error);
    }
    return new Response("");
  }, { port: 0, bodyTimeout: 150, log });
  const request = scgiRequest("/", { REQUEST_METHOD: "POST" }, new Uint8Array(100));
  await exchange(tcp(await tcpPort(server)), request.subarray(0, request.length - 30));
  assert((await bodyError.promise) instanceof Error);
  assert(lines.some((line) => line.includes("bodyTimeout (150) reached")), lines.join("\n"));
});

Deno.test("serveScgi() answers 503 past handlerTimeout and aborts request.signal", async () => {
  const { lines, log } = collectLogs();
  const aborted = Promise.withResolvers<void>();
  await using server = serveScgi((request) =>
    new Promise<Response>((resolve) => {
      request.signal.addEventListener("abort", () => {
        aborted.resolve();
        resolve(new Response("late"));
      });
    }), { port: 0, handlerTimeout: 100, log });
  const answer = await ask(await tcpPort(server), scgiRequest("/slow"));
  await aborted.promise;
  assertEquals(answer.status, 503);
  assert(lines.some((line) => line.includes("handlerTimeout (100) reached")));
});

Deno.test("serveScgi() answers 503 past maxConnections and names the option", async () => {
  const { lines, log } = collectLogs();
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  await using server = serveScgi(async () => {
    started.resolve();
    await release.promise;
    return new Response("first");
  }, { port: 0, maxConnections: 1, log });
  const port = await tcpPort(server);
  const first = ask(port, scgiRequest("/"));
  await started.promise;
  const second = await ask(port, scgiRequest("/"));
  assertEquals(second.status, 503);
  assertEquals(second.headers[0], ["status", "503 Service Unavailable"]);
  assert(lines.some((line) => line.includes("maxConnections (1) reached")));
  release.resolve();
  assertEquals(text((await first).body), "first");
});

Deno.test("serveScgi() drains in-flight requests on shutdown and refuses new connections", async () => {
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const server = serveScgi(async () => {
    started.resolve();
    await release.promise;
    return new Response("finished during drain");
  }, { port: 0, log: () => {} });
  const port = await tcpPort(server);
  const inFlight = ask(port, scgiRequest("/"));
  await started.promise;
  const finished = server.shutdown();
  await assertRejects(() => Deno.connect(tcp(port)));
  release.resolve();
  assertEquals(text((await inFlight).body), "finished during drain");
  await finished;
});

Deno.test("serveScgi() shuts down when its signal aborts", async () => {
  const controller = new AbortController();
  const server = serveScgi(() => new Response(""), {
    port: 0,
    signal: controller.signal,
    log: () => {},
  });
  await server.ready;
  controller.abort();
  await server.finished;
});

Deno.test("serveScgi() rejects bad options with RangeError or TypeError", () => {
  assertThrows(() => serveScgi(() => new Response(""), { maxConnections: 0 }), RangeError);
  for (const scriptName of ["app", "/app/", "/"]) {
    assertThrows(() => serveScgi(() => new Response(""), { scriptName }), TypeError, "scriptName");
  }
  assertThrows(
    () => serveScgi({} as unknown as Parameters<typeof serveScgi>[0], { port: 0 }),
    TypeError,
  );
});

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

/** One bad (or by chance still good) request from the seed's random source. */
function badRequest(random: () => number): { kind: string; bytes: Uint8Array } {
  const int = (n: number): number => Math.floor(random() * n);
  const base = scgiRequest(`/m/${int(100)}`, {
    REQUEST_METHOD: "POST",
    HTTP_X_PAD: "p".repeat(int(3000)),
  }, new Uint8Array(int(70000)));
  switch (int(8)) {
    case 0:
      return { kind: "truncated", bytes: base.subarray(0, int(base.length)) };
    case 1: {
      const bytes = base.slice();
      for (let i = 0; i < 1 + int(20); i++) bytes[int(Math.min(bytes.length, 3000))] = int(256);
      return { kind: "bytes flipped", bytes };
    }
    case 2:
      return { kind: "huge length", bytes: new TextEncoder().encode(`${1e9 + int(1e9)}:`) };
    case 3: {
      const pairs = nginxPairs("/", {}, 0);
      pairs.push(["REQUEST_URI", "/twice"]);
      return { kind: "repeated variable", bytes: encodeScgiHeaders(pairs) };
    }
    case 4:
      return {
        kind: "too many pairs",
        bytes: encodeScgiHeaders([
          ...nginxPairs("/"),
          ...Array.from({ length: 1001 }, (_, i): [string, string] => [`HTTP_${i}`, ""]),
        ]),
      };
    case 5: {
      const bytes = new Uint8Array(int(5000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      return { kind: "random bytes", bytes };
    }
    case 6:
      return {
        kind: "body past CONTENT_LENGTH",
        bytes: new Uint8Array([...base, ...scgiRequest("/smuggled")]),
      };
    default:
      return {
        kind: "body cut short",
        bytes: base.subarray(0, base.length - 1 - int(100)),
      };
  }
}

Deno.test("serveScgi() survives 200 random and mutated requests while serving good ones", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? 20261122);
  const random = prng(seed);
  const logs: string[] = [];
  const seen: string[] = [];
  const server = serveScgi(async (request) => {
    const body = request.body ? await request.bytes() : new Uint8Array(0);
    const path = new URL(request.url).pathname;
    seen.push(path);
    return new Response(`${path} ${body.length}`);
  }, {
    port: 0,
    paramsTimeout: 400,
    bodyTimeout: 400,
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  const port = await tcpPort(server);
  let fuzzing = true;
  let goodAnswered = 0;
  const goodTraffic = (async () => {
    for (let i = 0; fuzzing || i < 5; i++) {
      const body = `body ${i}`;
      const answer = await ask(port, scgiRequest(`/good/${i}`, { REQUEST_METHOD: "POST" }, body));
      assertEquals(text(answer.body), `/good/${i} ${body.length}`, `good ${i} (seed ${seed})`);
      goodAnswered++;
    }
  })();
  const kinds = new Map<string, number>();
  for (let batch = 0; batch < 20; batch++) {
    await Promise.all(Array.from({ length: 10 }, async () => {
      const { kind, bytes } = badRequest(random);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      const started = performance.now();
      await exchange(tcp(port), bytes);
      // Bounded: every connection ends (answered, closed or timed out) well within 5 s.
      assert(performance.now() - started < 4500, `a "${kind}" connection hung (seed ${seed})`);
    }));
  }
  fuzzing = false;
  await goodTraffic;
  assert(goodAnswered >= 5, `only ${goodAnswered} good requests answered`);
  assertEquals(kinds.size, 8, [...kinds.keys()].join(", "));
  assertEquals(seen.includes("/smuggled"), false, "bytes past CONTENT_LENGTH made a request");
  assert(logs.some((line) => line.includes("closed: Cannot decode SCGI header block")));
  assert(logs.some((line) => line.includes("maxParamsBytes (65536) reached")));
  assert(logs.some((line) => line.includes("maxParamsPairs (1000) reached")));
  assert(logs.some((line) => line.includes("past CONTENT_LENGTH")));
  await server.shutdown();
});
