// The application every conformance case talks to. It coordinates with the test over HTTP
// (acks, abort reports), so it works the same in-process and in a process a front end spawns.

import { createHash } from "node:crypto";
import type { GatewayInfo, ServeModule } from "../../server/types.ts";

/** Deterministic download bytes: byte `i` of the stream. */
export function patternByte(i: number): number {
  return (i * 31 + (i >>> 13)) & 0xff;
}

/** `length` pattern bytes starting at stream offset `offset`. */
export function patternBytes(offset: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = patternByte(offset + i);
  return bytes;
}

const encoder = new TextEncoder();

/** Makes a fresh case app (its coordination state is its own). */
export function createCaseApp(): ServeModule {
  const waits = new Map<string, PromiseWithResolvers<void>>();
  const deferred = (key: string): PromiseWithResolvers<void> => {
    let entry = waits.get(key);
    if (!entry) {
      entry = Promise.withResolvers<void>();
      waits.set(key, entry);
    }
    return entry;
  };
  const timeout = <T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      promise,
      new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms)),
    ]).finally(() => clearTimeout(timer));
  };

  async function fetch(request: Request, info: GatewayInfo): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname;
    const id = url.searchParams.get("id") ?? "";
    if (path.startsWith("/echo")) {
      return Response.json({
        method: request.method,
        url: request.url,
        pathname: path,
        query: Object.fromEntries(url.searchParams),
        headers: [...request.headers],
        remoteAddr: info.remoteAddr,
        protocol: info.protocol,
        env: info.env,
      });
    }
    if (path === "/upload") {
      const hash = createHash("sha256");
      let bytes = 0;
      if (request.body) {
        for await (const chunk of request.body) {
          hash.update(chunk);
          bytes += chunk.length;
        }
      }
      return Response.json({ bytes, sha256: hash.digest("hex") });
    }
    if (path === "/download") {
      const size = Number(url.searchParams.get("size") ?? 0);
      let offset = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (offset >= size) return controller.close();
            const length = Math.min(65536, size - offset);
            controller.enqueue(patternBytes(offset, length));
            offset += length;
          },
        }),
        { headers: { "content-type": "application/octet-stream" } },
      );
    }
    if (path === "/stream") {
      const count = Number(url.searchParams.get("n") ?? 100);
      let i = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (i > 0) {
              // The next chunk is made only once the client has seen the previous one.
              if (await timeout(deferred(`${id}:${i - 1}`).promise, 15_000) === "timeout") {
                controller.error(new Error(`no ack for chunk ${i - 1}`));
                return;
              }
              waits.delete(`${id}:${i - 1}`);
            }
            if (i === count) return controller.close();
            controller.enqueue(encoder.encode(`chunk ${i}\n`));
            i++;
          },
        }),
        { headers: { "content-type": "text/plain", "cache-control": "no-cache" } },
      );
    }
    if (path === "/ack") {
      deferred(`${id}:${url.searchParams.get("i")}`).resolve();
      return new Response(null, { status: 204 });
    }
    if (path.startsWith("/status/")) {
      const status = Number(path.slice(8));
      const empty = status === 204 || status === 304;
      return new Response(empty ? null : `status ${status}\n`, { status });
    }
    if (path === "/cookies") {
      const headers = new Headers({ "content-type": "text/plain" });
      headers.append("set-cookie", "first=1; Path=/; HttpOnly");
      headers.append("set-cookie", "second=2; Path=/; SameSite=Lax");
      return new Response("two cookies\n", { headers });
    }
    if (path === "/throw") throw new Error("case app failure: secret detail");
    if (path === "/hang") {
      const aborted = deferred(`aborted:${id}`);
      request.signal.addEventListener("abort", () => aborted.resolve(), { once: true });
      let timer: ReturnType<typeof setInterval> | undefined;
      return new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode("started\n"));
            // Keep writing so front ends that only notice a gone client on write do notice.
            timer = setInterval(() => {
              try {
                controller.enqueue(encoder.encode("tick\n"));
              } catch {
                clearInterval(timer);
              }
            }, 50);
            request.signal.addEventListener("abort", () => {
              clearInterval(timer);
              try {
                controller.close();
              } catch { /* already cancelled */ }
            }, { once: true });
          },
          cancel() {
            clearInterval(timer);
          },
        }),
        { headers: { "content-type": "text/plain", "cache-control": "no-cache" } },
      );
    }
    if (path === "/aborted") {
      const result = await timeout(deferred(`aborted:${id}`).promise, 10_000);
      waits.delete(`aborted:${id}`);
      return result === "timeout"
        ? new Response("not aborted\n", { status: 504 })
        : new Response("aborted\n");
    }
    return new Response("not found\n", { status: 404 });
  }

  return { fetch };
}
