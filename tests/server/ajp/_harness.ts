// Runs the AJP connection engine over an in-memory connection pair.

import { resolveOptions } from "../../../server/_options.ts";
import { serveAjpConnection } from "../../../server/ajp/_connection.ts";
import type { GatewayOptions, Handler, LogLevel } from "../../../server/types.ts";
import { memoryConnPair, type MemoryPeer } from "../../_helpers/memory_conn.ts";
import type { ConnectionSlot } from "../../../server/_listen.ts";

/** Options of {@linkcode openConnection}. */
export interface HarnessOptions extends GatewayOptions {
  secret?: string;
  allowedRequestAttributesPattern?: RegExp;
  packetSize?: number;
  overloaded?: boolean;
}

/** A served memory connection and the log lines it produced. */
export interface Harness {
  peer: MemoryPeer;
  slot: ConnectionSlot;
  logs: string[];
}

/** Serves `handler` on a fresh memory connection. */
export function openConnection(handler: Handler, options: HarnessOptions = {}): Harness {
  const logs: string[] = [];
  const resolved = resolveOptions({
    ...options,
    log: (level: LogLevel, message: string) => logs.push(`${level}: ${message}`),
  });
  const [conn, peer] = memoryConnPair();
  const slot = serveAjpConnection(conn, options.overloaded ?? false, {
    handler,
    options: resolved,
    secret: options.secret === undefined ? null : new TextEncoder().encode(options.secret),
    allowedRequestAttributesPattern: options.allowedRequestAttributesPattern ?? null,
    packetSize: options.packetSize ?? 8192,
  });
  return { peer, slot, logs };
}

/** Lets pending I/O settle: resolves once `consumed` stops changing for 20 macrotask turns. */
export async function settle(peer: MemoryPeer): Promise<void> {
  let last = -1;
  let still = 0;
  for (let turns = 0; turns < 10_000 && still < 20; turns++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (peer.consumed === last) still++;
    else {
      still = 0;
      last = peer.consumed;
    }
  }
}
