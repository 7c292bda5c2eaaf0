// A kept-alive front end in memory for the FastCGI connection code: 50 connections, each sent
// the same request again as soon as its answer is complete, with the next requests of all
// connections handed out in one event-loop turn. It measures everything the gateway does per
// request except the kernel's part. Used by bench/fastcgi_bench.ts.

import { setImmediate } from "node:timers";
import type { GatewayConn } from "../../server/_conn.ts";
import { resolveOptions } from "../../server/_options.ts";
import { RECORD_TYPE, ROLE } from "../../server/fastcgi/constants.ts";
import { serveFastCgiConnection } from "../../server/fastcgi/_connection.ts";

/** A kept-alive front end in memory: sends `request` again each time the answer is complete. */
class LoopConn implements GatewayConn {
  readonly remoteAddr: Deno.Addr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };
  #request: Uint8Array;
  #remaining = 0;
  #sent = 0;
  #done: (() => void) | null = null;
  #reader: ((n: number | null) => void) | null = null;
  #target: Uint8Array | null = null;
  #turn: LoopTurn;

  constructor(request: Uint8Array, turn: LoopTurn) {
    this.#request = request;
    this.#turn = turn;
  }

  /** Sends the request `count` times, one after the other answer; resolves after the last. */
  run(count: number): Promise<void> {
    this.#remaining = count;
    return new Promise((resolve) => {
      this.#done = resolve;
      this.next();
    });
  }

  next(): void {
    if (this.#remaining === 0) {
      this.#done?.();
      return;
    }
    this.#remaining--;
    this.#sent = this.#request.length;
    this.#deliver();
  }

  #deliver(): void {
    const reader = this.#reader;
    if (reader === null || this.#sent === 0) return;
    const count = Math.min(this.#sent, this.#target!.length);
    const start = this.#request.length - this.#sent;
    this.#target!.set(this.#request.subarray(start, start + count));
    this.#sent -= count;
    this.#reader = null;
    reader(count);
  }

  read(p: Uint8Array): Promise<number | null> {
    return new Promise((resolve) => {
      this.#reader = resolve;
      this.#target = p;
      this.#deliver();
    });
  }

  write(p: Uint8Array): Promise<number> {
    // The answer is complete when the write ends with END_REQUEST.
    if (p.length >= 16 && p[p.length - 15] === RECORD_TYPE.EndRequest) this.#turn.add(this);
    return Promise.resolve(p.length);
  }

  close(): void {
    this.#reader?.(null);
  }
}

/**
 * Batches the next requests of all connections into one event-loop turn (`setImmediate`), as
 * the server sees many reads complete per turn. A turn boundary also matters for memory: V8
 * keeps WeakRef targets (Request signals use them) alive until the current task ends.
 */
class LoopTurn {
  #ready: LoopConn[] = [];
  #scheduled = false;
  #run = (): void => {
    this.#scheduled = false;
    for (const conn of this.#ready.splice(0)) conn.next();
  };

  add(conn: LoopConn): void {
    this.#ready.push(conn);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }
}

const GATEWAY_CONNECTIONS = 50;

/** 50 kept-alive connections serving `handler`; `run(n)` serves about `n` requests. */
export function gatewayLoop(
  handler: (request: Request) => Response | Promise<Response>,
  request: Uint8Array,
): { run: (count: number) => Promise<number>; close: () => void } {
  const turn = new LoopTurn();
  const context = {
    handler,
    options: resolveOptions({ log: () => {} }),
    roles: new Set<number>([ROLE.Responder]),
    maxRequestsPerConnection: 1,
  };
  const conns = Array.from({ length: GATEWAY_CONNECTIONS }, () => {
    const conn = new LoopConn(request, turn);
    serveFastCgiConnection(conn, false, context);
    return conn;
  });
  return {
    run: async (count) => {
      const each = Math.max(1, Math.round(count / conns.length));
      await Promise.all(conns.map((conn) => conn.run(each)));
      return each * conns.length;
    },
    close: () => {
      for (const conn of conns) conn.close();
    },
  };
}
