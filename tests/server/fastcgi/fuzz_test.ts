// Bad input, bounded: random and mutated record streams against a running server, and an
// adversarial memory test. The server must never crash or hang, must close only the bad
// connection (with a logged reason), and must keep answering good requests meanwhile.

import { assert, assertEquals } from "@std/assert";
import { serveFastCgi } from "../../../server/fastcgi/server.ts";
import { RECORD_TYPE, ROLE } from "../../../server/fastcgi/constants.ts";
import { encodeParams } from "../../../server/fastcgi/params.ts";
import {
  encodeWireRequest,
  exchangeOverTcp,
  nginxParams,
  parseWireAnswer,
  streamRecords,
} from "../../_helpers/fastcgi_wire.ts";
import { openConnection } from "./_harness.ts";

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

const handler = async (request: Request): Promise<Response> => {
  const body = request.body ? await request.bytes() : new Uint8Array(0);
  return new Response(`${new URL(request.url).pathname} ${body.length}`);
};

function goodRequest(i: number): Uint8Array {
  const body = new TextEncoder().encode(`body ${i}`);
  return encodeWireRequest({
    params: nginxParams(`/good/${i}`, {
      REQUEST_METHOD: "POST",
      CONTENT_LENGTH: String(body.length),
    }),
    stdin: body,
  });
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Makes one bad (or randomly still good) stream from the seed's random source. */
function badStream(random: () => number): { kind: string; bytes: Uint8Array } {
  const int = (n: number): number => Math.floor(random() * n);
  const base = random() < 0.5 ? goodRequest(int(1000)) : encodeWireRequest({
    id: 1 + int(3),
    keepConn: random() < 0.5,
    role: random() < 0.8 ? ROLE.Responder : 1 + int(5),
    params: nginxParams(`/m/${int(100)}`, { HTTP_X_PAD: "p".repeat(int(3000)) }),
    stdin: new Uint8Array(int(70000)),
  });
  switch (int(10)) {
    case 0:
      return { kind: "truncated", bytes: base.subarray(0, int(base.length)) };
    case 1: {
      const bytes = base.slice();
      for (let i = 0; i < 1 + int(20); i++) bytes[int(bytes.length)] = int(256);
      return { kind: "bytes flipped", bytes };
    }
    case 2: {
      // A header that promises more content than ever arrives.
      const bytes = base.slice(0, 8 + int(200));
      bytes[4] = 0xff;
      bytes[5] = 0xff;
      return { kind: "oversized length", bytes };
    }
    case 3: {
      const bytes = base.slice();
      bytes[0] = int(256) || 2;
      return { kind: "wrong version", bytes };
    }
    case 4:
      return {
        kind: "unknown types",
        bytes: concat(
          ...Array.from(
            { length: 1 + int(20) },
            () => streamRecords(12 + int(240), int(4), new Uint8Array(int(100))),
          ),
          base,
        ),
      };
    case 5:
      return {
        kind: "PARAMS after STDIN",
        bytes: concat(base, streamRecords(RECORD_TYPE.Params, 1, encodeParams([["A", "B"]]))),
      };
    case 6: {
      const begin = base.subarray(0, 16);
      return { kind: "duplicate request id", bytes: concat(begin, begin, base.subarray(16)) };
    }
    case 7: {
      // A name-value pair claiming a 2 GiB name.
      const params = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 65, 66]);
      return {
        kind: "huge pair length",
        bytes: concat(base.subarray(0, 16), streamRecords(RECORD_TYPE.Params, 1, params)),
      };
    }
    case 8: {
      const bytes = new Uint8Array(int(5000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      return { kind: "random bytes", bytes };
    }
    default: {
      // Records for request ids that were never begun, mixed with management records.
      return {
        kind: "inactive ids",
        bytes: concat(
          streamRecords(RECORD_TYPE.Stdin, 9, new Uint8Array(10)),
          streamRecords(RECORD_TYPE.GetValues, 0, encodeParams([["FCGI_MAX_CONNS", ""]])),
          base,
        ),
      };
    }
  }
}

Deno.test("serveFastCgi() survives 300 random and mutated record streams while serving good requests", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? 20261122);
  const random = prng(seed);
  const logs: string[] = [];
  const server = serveFastCgi(handler, {
    port: 0,
    paramsTimeout: 400,
    bodyTimeout: 400,
    keepAliveTimeout: 400,
    maxRequestsPerConnection: 4,
    roles: ["responder", "filter"],
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  const addr = await server.ready;
  if (!("port" in addr)) throw new TypeError("not TCP");
  const port = addr.port;
  let fuzzing = true;
  let goodAnswered = 0;
  const goodTraffic = (async () => {
    for (let i = 0; fuzzing || i < 5; i++) {
      const answer = parseWireAnswer(await exchangeOverTcp(port, goodRequest(i)));
      const text = new TextDecoder().decode(answer.responses.get(1)?.body);
      assertEquals(text, `/good/${i} ${`body ${i}`.length}`, `good request ${i} (seed ${seed})`);
      goodAnswered++;
    }
  })();
  const kinds = new Map<string, number>();
  for (let batch = 0; batch < 30; batch++) {
    await Promise.all(Array.from({ length: 10 }, async () => {
      const { kind, bytes } = badStream(random);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        conn.write(bytes).catch(() => {}); // the server may close before it reads it all
        // Bounded: the server must end every connection (answer, close or time out) by itself.
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
  // Every kind of bad input was tried, and bad connections were closed with a reason.
  assertEquals(kinds.size, 10, [...kinds.keys()].join(", "));
  assert(logs.some((line) => line.includes("closed: Cannot")), logs.slice(0, 5).join("\n"));
  assert(logs.some((line) => /paramsTimeout|bodyTimeout/.test(line)));
  await server.shutdown();
});

Deno.test("serveFastCgiConnection() holds bounded memory whatever the peer sends", async () => {
  const bound = 2 * 65536 + 16384 + // receive buffer at most one record, doubled once
    65536 + // params up to maxParamsBytes
    2 * 65536; // queued body and data up to bodyBufferSize each
  const release = Promise.withResolvers<void>();
  const { peer, slot } = openConnection(async (request) => {
    await release.promise;
    return handler(request);
  }, { maxRequestsPerConnection: 8 });
  let peak = 0;
  const feed = async (bytes: Uint8Array): Promise<void> => {
    for (let at = 0; at < bytes.length; at += 65536) {
      peer.send(bytes.subarray(at, at + 65536));
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
      peak = Math.max(peak, slot.retainedBytes());
    }
  };
  // 1: a params flood of 4 MiB for one request (refused with 431 once over maxParamsBytes).
  const pad = encodeParams([["HTTP_X_PAD", "x".repeat(60000)]]);
  await feed(concat(
    encodeWireRequest({ id: 1, keepConn: true, params: {}, stdin: null }).subarray(0, 16),
    ...Array.from({ length: 70 }, () => streamRecords(RECORD_TYPE.Params, 1, pad).subarray(0, -8)),
  ));
  // 2: a 16 MiB body for a handler that does not read it yet.
  await feed(encodeWireRequest({
    id: 2,
    keepConn: true,
    params: nginxParams("/", { REQUEST_METHOD: "POST", CONTENT_LENGTH: String(16 << 20) }),
    stdin: new Uint8Array(16 << 20),
  }));
  assert(peak <= bound, `the connection held ${peak} bytes, over ${bound}`);
  assert(peak > 0);
  release.resolve();
  slot.abort("test over");
  await slot.done;
});
