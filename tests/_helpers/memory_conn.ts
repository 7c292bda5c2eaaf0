// An in-memory connection pair for unit tests: the server side is a GatewayConn, the peer side
// writes bytes and reads what the server wrote. The peer's supply can be counted to prove how
// far ahead the server reads.

import type { GatewayConn } from "../../server/_conn.ts";

/** The peer (front end) side of a memory connection. */
export interface MemoryPeer {
  /** Queues bytes for the server to read. */
  send(bytes: Uint8Array): void;
  /** Ends the peer's output (the server reads null after what is queued). */
  end(): void;
  /** Everything the server has written so far. */
  received(): Uint8Array;
  /** Resolves when the server has written at least `length` bytes in total, or closed. */
  waitFor(length: number): Promise<void>;
  /** Bytes the server has read so far. */
  readonly consumed: number;
  /** Resolves when the server closes its side. */
  readonly closed: Promise<void>;
  /** `true` once the server closed its side. */
  readonly isClosed: boolean;
  /** Number of server reads waiting for bytes right now. */
  readonly waitingReads: number;
  /** Number of write calls the server made. */
  readonly writes: number;
}

/** Makes a server-side GatewayConn and its peer. */
export function memoryConnPair(
  remoteAddr: Deno.Addr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
): [GatewayConn, MemoryPeer] {
  const inbound: Uint8Array[] = [];
  let ended = false;
  let closed = false;
  let consumed = 0;
  let waitingReads = 0;
  let writes = 0;
  let wakeReader: (() => void) | null = null;
  const outbound: Uint8Array[] = [];
  let outboundLength = 0;
  const outWaiters: { length: number; resolve: () => void }[] = [];
  let resolveClosed!: () => void;
  const closedPromise = new Promise<void>((resolve) => resolveClosed = resolve);
  const wake = (): void => {
    const resolve = wakeReader;
    wakeReader = null;
    resolve?.();
  };
  const notifyOut = (): void => {
    for (let i = outWaiters.length - 1; i >= 0; i--) {
      const waiter = outWaiters[i]!;
      if (closed || outboundLength >= waiter.length) {
        outWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  };
  const conn: GatewayConn = {
    remoteAddr,
    async read(p: Uint8Array): Promise<number | null> {
      while (inbound.length === 0) {
        if (closed) throw new Deno.errors.BadResource("closed");
        if (ended) return null;
        waitingReads++;
        await new Promise<void>((resolve) => wakeReader = resolve);
        waitingReads--;
      }
      const chunk = inbound[0]!;
      const take = Math.min(chunk.length, p.length);
      p.set(chunk.subarray(0, take));
      if (take === chunk.length) inbound.shift();
      else inbound[0] = chunk.subarray(take);
      consumed += take;
      return take;
    },
    write(p: Uint8Array): Promise<number> {
      if (closed) return Promise.reject(new Deno.errors.BrokenPipe("closed"));
      outbound.push(p.slice());
      writes++;
      outboundLength += p.length;
      notifyOut();
      return Promise.resolve(p.length);
    },
    close(): void {
      if (closed) return;
      closed = true;
      wake();
      notifyOut();
      resolveClosed();
    },
  };
  const peer: MemoryPeer = {
    send(bytes) {
      inbound.push(bytes.slice());
      wake();
    },
    end() {
      ended = true;
      wake();
    },
    received() {
      const all = new Uint8Array(outboundLength);
      let at = 0;
      for (const chunk of outbound) {
        all.set(chunk, at);
        at += chunk.length;
      }
      return all;
    },
    waitFor(length) {
      if (closed || outboundLength >= length) return Promise.resolve();
      return new Promise((resolve) => outWaiters.push({ length, resolve }));
    },
    get consumed() {
      return consumed;
    },
    closed: closedPromise,
    get isClosed() {
      return closed;
    },
    get waitingReads() {
      return waitingReads;
    },
    get writes() {
      return writes;
    },
  };
  return [conn, peer];
}
