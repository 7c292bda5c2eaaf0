import { assert, assertEquals, assertThrows } from "@std/assert";
import { join } from "@std/path";
import { serveAjp } from "../../../server/ajp/server.ts";
import type { LogLevel } from "../../../server/types.ts";
import { bodyPackets, concat, forwardRequest, parseAnswers } from "./_wire.ts";
import { prng } from "./_random.ts";

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

/** Sends `bytes`, reads until an END_RESPONSE (or close) arrives, returns what came. */
async function exchange(port: number, bytes: Uint8Array, hostname = "127.0.0.1") {
  const conn = await Deno.connect({ hostname, port });
  try {
    await conn.write(bytes);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
      if (parseAnswers(concat(...chunks)).some((a) => a.ended)) break;
    }
    return parseAnswers(concat(...chunks));
  } finally {
    conn.close();
  }
}

Deno.test("serveAjp() serves over TCP on 127.0.0.1 without a secret and shuts down", async () => {
  const server = serveAjp(() => new Response("tcp ok"), { port: 0, log: () => {} });
  const port = await tcpPort(server);
  const [answer] = await exchange(port, forwardRequest());
  assertEquals(text(answer!.body), "tcp ok");
  assertEquals(answer!.reuse, true);
  await server.shutdown();
});

Deno.test("serveAjp() requires a secret on a non-loopback address, unless insecureNoSecret", async () => {
  const handler = () => new Response("");
  const error = assertThrows(() => serveAjp(handler, { hostname: "0.0.0.0", port: 0 }), TypeError);
  assert(error.message.includes('"secret"') && error.message.includes("insecureNoSecret"));
  const listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  assertThrows(() => serveAjp(handler, { listener }), TypeError);
  listener.close();
  const { lines, log } = collectLogs();
  const insecure = serveAjp(handler, { hostname: "0.0.0.0", port: 0, insecureNoSecret: true, log });
  await insecure.ready;
  assert(lines.some((line) => line.startsWith("warn: insecureNoSecret")), lines.join("\n"));
  await insecure.shutdown();
  const withSecret = serveAjp(handler, { hostname: "0.0.0.0", port: 0, secret: "s", log });
  await withSecret.ready;
  await withSecret.shutdown();
  const dir = await Deno.makeTempDir();
  try {
    const unix = serveAjp(handler, { path: join(dir, "ajp.sock"), log: () => {} });
    assertEquals((await unix.ready).transport, "unix");
    await unix.shutdown();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveAjp() rejects bad options with RangeError or TypeError", () => {
  const handler = () => new Response("");
  assertThrows(() => serveAjp(handler, { packetSize: 4096 }), RangeError);
  assertThrows(() => serveAjp(handler, { packetSize: 65537 }), RangeError);
  assertThrows(() => serveAjp(handler, { secret: "" }), TypeError);
  assertThrows(() => serveAjp(handler, { maxConnections: 0 }), RangeError);
});

Deno.test("serveAjp() takes packets up to packetSize 65536", async () => {
  const big = "x".repeat(30000);
  const server = serveAjp((request) => new Response(request.headers.get("x-big")?.length + ""), {
    port: 0,
    packetSize: 65536,
    log: () => {},
  });
  const port = await tcpPort(server);
  const [answer] = await exchange(
    port,
    forwardRequest({ headers: [["Host", "h"], ["X-Big", big]] }),
  );
  assertEquals(text(answer!.body), "30000");
  await server.shutdown();
  const { lines, log } = collectLogs();
  const small = serveAjp(() => new Response(""), { port: 0, log });
  const answers = await exchange(
    await tcpPort(small),
    forwardRequest({ headers: [["Host", "h"], ["X-Big", big]] }),
  );
  assertEquals(answers.length, 0);
  assert(lines.some((line) => line.includes("packetSize (8192) reached")), lines.join("\n"));
  await small.shutdown();
});

Deno.test("serveAjp() closes connections past paramsTimeout, keepAliveTimeout and bodyTimeout, naming each", async () => {
  const { lines, log } = collectLogs();
  const server = serveAjp(async (request) => {
    if (request.body) await request.arrayBuffer().catch(() => {});
    return new Response("ok");
  }, { port: 0, paramsTimeout: 150, keepAliveTimeout: 150, bodyTimeout: 150, log });
  const port = await tcpPort(server);
  // A partial FORWARD_REQUEST.
  const partial = await Deno.connect({ hostname: "127.0.0.1", port });
  await partial.write(forwardRequest().subarray(0, 20));
  assertEquals((await new Response(partial.readable).bytes()).length, 0);
  // A kept connection left idle.
  const kept = await Deno.connect({ hostname: "127.0.0.1", port });
  await kept.write(forwardRequest());
  assertEquals(text(parseAnswers(await new Response(kept.readable).bytes())[0]!.body), "ok");
  // A body that stops.
  const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
  await stalled.write(forwardRequest({
    method: "POST",
    headers: [["Host", "h"], ["Content-Length", "100"]],
  }));
  await new Response(stalled.readable).bytes();
  for (const option of ["paramsTimeout (150)", "keepAliveTimeout (150)", "bodyTimeout (150)"]) {
    assert(
      lines.some((line) => line.includes(`${option} reached`)),
      `${option}\n${lines.join("\n")}`,
    );
  }
  await server.shutdown();
});

Deno.test("serveAjp() refuses requests past maxConnections with 503", async () => {
  const { lines, log } = collectLogs();
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  await using server = serveAjp(async () => {
    started.resolve();
    await release.promise;
    return new Response("first");
  }, { port: 0, maxConnections: 1, log });
  const port = await tcpPort(server);
  const first = exchange(port, forwardRequest());
  await started.promise;
  const [second] = await exchange(port, forwardRequest());
  assertEquals([second!.status, second!.reuse], [503, false]);
  assert(lines.some((line) => line.includes("maxConnections (1) reached")));
  release.resolve();
  assertEquals(text((await first)[0]!.body), "first");
});

Deno.test("serveAjp() drains in-flight requests on shutdown with END_RESPONSE reuse 0", async () => {
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const server = serveAjp(async () => {
    started.resolve();
    await release.promise;
    return new Response("finished during drain");
  }, { port: 0, log: () => {} });
  const port = await tcpPort(server);
  const inFlight = exchange(port, forwardRequest());
  await started.promise;
  const finished = server.shutdown();
  release.resolve();
  const [answer] = await inFlight;
  assertEquals([text(answer!.body), answer!.reuse], ["finished during drain", false]);
  await finished;
});

/** A bad (or randomly still good) packet stream. */
function badStream(random: () => number): { kind: string; bytes: Uint8Array } {
  const int = (n: number): number => Math.floor(random() * n);
  const base = concat(
    forwardRequest({
      method: random() < 0.5 ? "GET" : "POST",
      requestUri: `/m/${int(100)}`,
      headers: [["Host", "h"], ["Content-Length", "10"], ["X-Pad", "p".repeat(int(3000))]],
    }),
    ...bodyPackets(new Uint8Array(10)),
  );
  switch (int(7)) {
    case 0:
      return { kind: "truncated", bytes: base.subarray(0, int(base.length)) };
    case 1: {
      const bytes = base.slice();
      for (let i = 0; i < 1 + int(20); i++) bytes[4 + int(bytes.length - 4)] = int(256);
      return { kind: "bytes flipped", bytes };
    }
    case 2: {
      const bytes = base.slice(0, 8 + int(200));
      bytes[2] = 0xff;
      bytes[3] = 0xff;
      return { kind: "oversized length", bytes };
    }
    case 3: {
      const bytes = base.slice();
      bytes[0] = 0x41;
      return { kind: "wrong magic", bytes };
    }
    case 4:
      return {
        kind: "unknown prefixes",
        bytes: new Uint8Array([0x12, 0x34, 0, 1, 2 + int(250)]),
      };
    case 5: {
      const bytes = new Uint8Array(int(5000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      return { kind: "random bytes", bytes };
    }
    default:
      return {
        kind: "ghostcat attribute",
        bytes: forwardRequest({
          attributes: { requestAttributes: [["javax.servlet.include.path_info", "/x"]] },
        }),
      };
  }
}

Deno.test("serveAjp() survives 200 random and mutated packet streams while serving good requests", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? 20261122);
  const random = prng(seed);
  const logs: string[] = [];
  const server = serveAjp(async (request) => {
    const body = request.body ? await request.bytes() : new Uint8Array(0);
    return new Response(`${new URL(request.url).pathname} ${body.length}`);
  }, {
    port: 0,
    paramsTimeout: 400,
    bodyTimeout: 400,
    keepAliveTimeout: 400,
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  const port = await tcpPort(server);
  let fuzzing = true;
  let goodAnswered = 0;
  const goodTraffic = (async () => {
    for (let i = 0; fuzzing || i < 5; i++) {
      const body = new TextEncoder().encode(`body ${i}`);
      const [answer] = await exchange(
        port,
        concat(
          forwardRequest({
            method: "POST",
            requestUri: `/good/${i}`,
            headers: [["Host", "h"], ["Content-Length", String(body.length)]],
          }),
          ...bodyPackets(body),
        ),
      );
      assertEquals(text(answer!.body), `/good/${i} ${body.length}`, `good ${i} (seed ${seed})`);
      goodAnswered++;
    }
  })();
  const kinds = new Set<string>();
  for (let batch = 0; batch < 20; batch++) {
    await Promise.all(Array.from({ length: 10 }, async () => {
      const { kind, bytes } = badStream(random);
      kinds.add(kind);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        conn.write(bytes).catch(() => {});
        const ended = await Promise.race([
          new Response(conn.readable).arrayBuffer().then(() => true, () => true),
          new Promise<false>((resolve) => setTimeout(() => resolve(false), 5000)),
        ]);
        assert(ended, `a "${kind}" connection was left open (seed ${seed})`);
      } finally {
        try {
          conn.close();
        } catch { /* closed by the readable */ }
      }
    }));
  }
  fuzzing = false;
  await goodTraffic;
  assert(goodAnswered >= 5, `only ${goodAnswered} good requests answered`);
  assertEquals(kinds.size, 7, [...kinds].join(", "));
  assert(logs.some((line) => line.includes("closed: Cannot")), logs.slice(0, 5).join("\n"));
  assert(logs.some((line) => line.includes("allowedRequestAttributesPattern")));
  await server.shutdown();
});
