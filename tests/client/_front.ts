// An HTTP front for client tests: Deno.serve on 127.0.0.1 (free port) forwarding through
// createProxyHandler, and a Unix listener that counts accepted connections.

import { createProxyHandler, type ProxyClient } from "../../server/proxy.ts";
import type { GatewayLogger } from "../../server/types.ts";

/** A running front. */
export interface Front {
  /** `http://127.0.0.1:PORT`. */
  origin: string;
  /** Stops the front. */
  stop(): Promise<void>;
}

/** Starts Deno.serve forwarding every request through `client`. */
export async function startFront(client: ProxyClient, log?: GatewayLogger): Promise<Front> {
  const handler = createProxyHandler({ client, ...(log ? { log } : {}) });
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (addr) => listening.resolve(addr) },
    (request, info) => handler(request, info),
  );
  const addr = await listening.promise;
  return {
    origin: `http://127.0.0.1:${addr.port}`,
    stop: () => server.shutdown(),
  };
}

/** A Unix socket listener at `path` that counts accepted connections. */
export function countingUnixListener(path: string): {
  listener: Deno.Listener;
  accepted: () => number;
} {
  const inner = Deno.listen({ transport: "unix", path });
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

/** Collects log lines. */
export function collectLog(): { log: GatewayLogger; lines: string[] } {
  const lines: string[] = [];
  return { log: (level, message) => lines.push(`${level}: ${message}`), lines };
}
