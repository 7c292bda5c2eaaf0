// The conformance cases every protocol and front end must pass (issue 2 section 5). A target
// that cannot run a case lists it in `skip` with the reason, which the run prints.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createHash } from "node:crypto";
import { rawRequest } from "../_helpers/http_client.ts";
import { patternBytes } from "./case_app.ts";

/** The case names, for `skip`. */
export type CaseName =
  | "query"
  | "repeated headers"
  | "upload"
  | "chunked upload"
  | "download"
  | "streaming"
  | "statuses"
  | "cookies"
  | "head"
  | "throwing handler"
  | "client disconnect"
  | "kept connection";

/** What the suite runs against. */
export interface GatewayTarget {
  /** Shown in step names. */
  name: string;
  /** The HTTP origin of the front end. */
  origin: string;
  /** Cases this target cannot run, each with the reason. */
  skip?: Partial<Record<CaseName, string>>;
  /** Counts backend connections the server accepted (for the kept-connection case). */
  acceptedConnections?: () => number;
  /** `true`: sequential requests must reuse connections; `false`: one connection each. */
  expectReuse?: boolean;
}

let nextId = 0;
const uniqueId = (): string => `${Date.now().toString(36)}-${nextId++}`;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

async function json(response: Response): Promise<Record<string, unknown>> {
  assertEquals(response.status, 200, `status of ${response.url}`);
  return await response.json() as Record<string, unknown>;
}

const CASES: Record<CaseName, (target: GatewayTarget) => Promise<void>> = {
  async query({ origin }) {
    const body = await json(
      await fetch(`${origin}/echo/caf%C3%A9/x?q=a%20b&u=%E2%9C%93&plus=1%2B1&raw=ü`),
    );
    assertEquals(body.pathname, "/echo/caf%C3%A9/x");
    assertEquals(body.query, { q: "a b", u: "✓", plus: "1+1", raw: "ü" });
    assertEquals(body.method, "GET");
  },

  async "repeated headers"({ origin }) {
    const response = await rawRequest(origin, {
      path: "/echo/headers",
      headers: [["X-Multi", "first"], ["X-Multi", "second"], ["X-Single", "one"]],
    });
    assertEquals(response.status, 200);
    const body = JSON.parse(new TextDecoder().decode(response.body));
    const headers = new Map<string, string>(body.headers);
    assertEquals(headers.get("x-multi"), "first, second");
    assertEquals(headers.get("x-single"), "one");
  },

  async upload({ origin }) {
    const data = randomBytes(5 * 1024 * 1024);
    const body = await json(await fetch(`${origin}/upload`, { method: "POST", body: data }));
    assertEquals(body, { bytes: data.length, sha256: sha256(data) });
  },

  async "chunked upload"({ origin }) {
    const parts = Array.from({ length: 5 }, () => randomBytes(1024 * 1024));
    const hash = createHash("sha256");
    for (const part of parts) hash.update(part);
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i === parts.length) controller.close();
        else controller.enqueue(parts[i++]!);
      },
    });
    const body = await json(
      await fetch(
        `${origin}/upload`,
        { method: "POST", body: stream, duplex: "half" } as RequestInit,
      ),
    );
    assertEquals(body, { bytes: 5 * 1024 * 1024, sha256: hash.digest("hex") });
  },

  async download({ origin }) {
    const size = 10 * 1024 * 1024;
    const response = await fetch(`${origin}/download?size=${size}`);
    assertEquals(response.status, 200);
    const bytes = await response.bytes();
    assertEquals(bytes.length, size);
    assertEquals(sha256(bytes), sha256(patternBytes(0, size)));
  },

  async streaming({ origin }) {
    // Chunk i+1 is produced only after the client acks chunk i, so finishing at all proves each
    // chunk crossed the front end on its own.
    const id = uniqueId();
    const count = 100;
    const response = await fetch(`${origin}/stream?id=${id}&n=${count}`, {
      signal: AbortSignal.timeout(30_000),
    });
    assertEquals(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let acked = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
      while (text.includes(`chunk ${acked}\n`)) {
        const ack = await fetch(`${origin}/ack?id=${id}&i=${acked}`);
        await ack.body?.cancel();
        assertEquals(ack.status, 204);
        acked++;
      }
    }
    assertEquals(acked, count);
    assertEquals(text, Array.from({ length: count }, (_, i) => `chunk ${i}\n`).join(""));
  },

  async statuses({ origin }) {
    for (const status of [204, 304, 404, 418, 500]) {
      const response = await rawRequest(origin, { path: `/status/${status}` });
      assertEquals(response.status, status, `status ${status}`);
      if (status === 204 || status === 304) assertEquals(response.body.length, 0);
      else assertStringIncludes(new TextDecoder().decode(response.body), `status ${status}`);
    }
  },

  async cookies({ origin }) {
    const response = await fetch(`${origin}/cookies`);
    await response.body?.cancel();
    assertEquals(response.headers.getSetCookie(), [
      "first=1; Path=/; HttpOnly",
      "second=2; Path=/; SameSite=Lax",
    ]);
  },

  async head({ origin }) {
    const response = await rawRequest(origin, { method: "HEAD", path: "/echo/head" });
    assertEquals(response.status, 200);
    assertEquals(response.body.length, 0);
    const type = response.headers.find(([name]) => name.toLowerCase() === "content-type")?.[1];
    assertEquals(type, "application/json");
  },

  async "throwing handler"({ origin }) {
    const response = await fetch(`${origin}/throw`, { signal: AbortSignal.timeout(2000) });
    const text = await response.text();
    assertEquals(response.status, 500);
    assertEquals(text.includes("secret detail"), false);
  },

  async "client disconnect"({ origin }) {
    const id = uniqueId();
    const controller = new AbortController();
    const response = await fetch(`${origin}/hang?id=${id}`, { signal: controller.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert(!first.done);
    controller.abort();
    await reader.cancel().catch(() => {});
    const report = await fetch(`${origin}/aborted?id=${id}`);
    assertEquals(await report.text(), "aborted\n");
  },

  async "kept connection"({ origin, acceptedConnections, expectReuse }) {
    if (!acceptedConnections) throw new Error("the target counts no connections");
    const before = acceptedConnections();
    const count = 50;
    for (let i = 0; i < count; i++) {
      const body = await json(await fetch(`${origin}/echo/seq/${i}`));
      assertEquals(body.pathname, `/echo/seq/${i}`);
    }
    const opened = acceptedConnections() - before;
    if (expectReuse) assert(opened <= 4, `${count} requests opened ${opened} connections`);
    else assertEquals(opened, count);
  },
};

/**
 * Runs every case against `target` as steps of `t`. Skipped cases print their reason and
 * count as ignored steps, never as passes.
 */
export async function runGatewaySuite(t: Deno.TestContext, target: GatewayTarget): Promise<void> {
  for (
    const [name, run] of Object.entries(CASES) as [CaseName, (t: GatewayTarget) => Promise<void>][]
  ) {
    const reason = target.skip?.[name];
    if (reason) console.log(`SKIP ${target.name}: ${name}: ${reason}`);
    await t.step({
      name: `${target.name}: ${name}`,
      ignore: reason !== undefined,
      fn: () => run(target),
    });
  }
}

/** A TCP listener that counts accepted connections. */
export function countingListener(): { listener: Deno.Listener; accepted: () => number } {
  const inner = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
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
    ref: () => inner.ref(),
    unref: () => inner.unref(),
    [Symbol.dispose]: () => inner.close(),
    async *[Symbol.asyncIterator]() {
      while (true) yield await listener.accept();
    },
  };
  return { listener: listener as unknown as Deno.Listener, accepted: () => accepted };
}
