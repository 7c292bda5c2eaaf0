// Accept-in-the-parent-and-dispatch: the parent owns the public listener (a Unix socket, the
// inherited fd 0, or TCP when kernel balancing is not wanted), picks the member with the
// fewest open connections, connects to that member's private Unix socket and copies bytes
// both ways. A member taken out of dispatch gets no new connection; the ones it has stay
// until it closes them (it drains, then closes kept-alive connections between requests).

import { createServer, type Server as NodeServer, type Socket } from "node:net";
import { compileAllowList } from "./_address.ts";
import { type GatewayConn, NodeSocketConn, writeAll } from "./_conn.ts";
import { socketFileRemover } from "./_listen.ts";
import type { GatewayLogger } from "./types.ts";

/** The public side: a bound Deno listener or the inherited fd 0. */
export type DispatchFront = { listener: Deno.Listener } | { fd: 0 };

interface Target {
  key: number;
  path: string;
  active: number;
  /** Connects in progress; `settled` waits for them. */
  connecting: number;
  idle: (() => void)[];
}

const COPY_SIZE = 65536;

/**
 * The byte a member writes first on every dispatched connection it accepts (see
 * _pool_listen.ts): until it arrives, the connection may still sit in a dying member's
 * accept queue, and its bytes are kept for replay.
 */
export const MEMBER_ACCEPTED = 0x06;

/** Front bytes kept for replay while a member has not acknowledged the connection. */
const REPLAY_LIMIT = 256 * 1024;

/** How long a connection may wait for a member to accept connections (e.g. during respawn). */
const WAIT_FOR_MEMBER_MS = 10_000;

/** Spreads accepted connections over the members' private Unix sockets. */
export class Dispatcher {
  #targets = new Map<number, Target>();
  #waiting: (() => void)[] = [];
  #conns = new Set<GatewayConn>();
  #emptied: (() => void)[] = [];
  #log: GatewayLogger;
  #allow: ReturnType<typeof compileAllowList>;
  #closeFront: () => void = () => {};
  #closed = false;
  #next = 0;
  /** Resolves with the public address once listening. */
  readonly addr: Promise<Deno.Addr>;

  constructor(front: DispatchFront, log: GatewayLogger, allowedAddresses: readonly string[]) {
    this.#log = log;
    this.#allow = compileAllowList(allowedAddresses);
    this.addr = "listener" in front ? this.#runListener(front.listener) : this.#runFd0();
  }

  /** Adds a member that accepts on `path`. */
  add(key: number, path: string): void {
    this.#targets.set(key, { key, path, active: 0, connecting: 0, idle: [] });
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const wake of waiting) wake();
  }

  /**
   * Takes a member out of dispatch; its open connections stay.
   *
   * @returns Resolves once no connect to the member is in progress any more.
   */
  remove(key: number): Promise<void> {
    const target = this.#targets.get(key);
    this.#targets.delete(key);
    if (!target || target.connecting === 0) return Promise.resolve();
    return new Promise((resolve) => target.idle.push(resolve));
  }

  /** Stops accepting; open connections stay until their member or front end closes them. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeFront();
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const wake of waiting) wake();
  }

  /**
   * Waits until no connection is open, or `ms` have passed.
   *
   * @returns Resolves either way.
   */
  settled(ms: number): Promise<void> {
    if (this.#conns.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiter = (): void => done();
      this.#emptied.push(waiter);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /** Closes every open connection now. */
  abortAll(): void {
    for (const conn of this.#conns) closeQuietly(conn);
  }

  #runListener(listener: Deno.Listener): Promise<Deno.Addr> {
    const removeSocketFile = listener.addr.transport === "unix"
      ? socketFileRemover(listener.addr.path)
      : () => {};
    this.#closeFront = () => {
      try {
        listener.close();
      } catch { /* already closed */ }
      removeSocketFile();
    };
    (async () => {
      while (!this.#closed) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (error) {
          if (this.#closed || error instanceof Deno.errors.BadResource) break;
          this.#log("error", `accept failed: ${error}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        if (conn.remoteAddr.transport === "tcp") {
          if (!this.#allow.allows(conn.remoteAddr.hostname)) {
            this.#log(
              "warn",
              `allowedAddresses: refused connection from ${conn.remoteAddr.hostname}`,
            );
            conn.close();
            continue;
          }
          (conn as Deno.TcpConn).setNoDelay(true);
        }
        void this.#serve(conn);
      }
    })();
    return Promise.resolve(listener.addr);
  }

  async #runFd0(): Promise<Deno.Addr> {
    const server: NodeServer = createServer((socket: Socket) => {
      socket.setNoDelay(true);
      void this.#serve(new NodeSocketConn(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ fd: 0 }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", () => {});
    this.#closeFront = () => server.close();
    const address = server.address();
    return typeof address === "string"
      ? { transport: "unix", path: address }
      : address
      ? { transport: "tcp", hostname: address.address, port: address.port }
      : { transport: "unix", path: "fd:0" };
  }

  /** The member with the fewest open connections, except `skip`; ties go round robin. */
  #pick(skip: ReadonlySet<number>): Target | undefined {
    let best: Target | undefined;
    const targets = [...this.#targets.values()];
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(this.#next + i) % targets.length]!;
      if (skip.has(target.key)) continue;
      if (!best || target.active < best.active) best = target;
    }
    this.#next++;
    return best;
  }

  /**
   * Connects to a member not in `skip`, waiting for one until `deadline`.
   *
   * @returns The connection and its member (counted as active), `"denied"` when the parent
   *   lacks the permission, or `undefined` once closed or past the deadline.
   */
  async #connect(
    skip: Set<number>,
    deadline: number,
  ): Promise<{ conn: Deno.UnixConn; target: Target } | "denied" | undefined> {
    while (!this.#closed && Date.now() < deadline) {
      const target = this.#pick(skip);
      if (!target) {
        await this.#waitForTarget(deadline - Date.now());
        continue;
      }
      target.active++;
      target.connecting++;
      try {
        return { conn: await Deno.connect({ transport: "unix", path: target.path }), target };
      } catch (error) {
        target.active--;
        if (error instanceof Deno.errors.NotCapable) {
          // No member can be reached without the permission: say so instead of waiting.
          this.#log(
            "error",
            `cannot dispatch to ${target.path}: ${error.message} (the pool's parent needs ` +
              `--allow-net for its members' Unix sockets)`,
          );
          return "denied";
        }
        // The member is going away: try another.
        this.#targets.delete(target.key);
      } finally {
        if (--target.connecting === 0) { for (const wake of target.idle.splice(0)) wake(); }
      }
    }
    return undefined;
  }

  async #serve(front: GatewayConn): Promise<void> {
    this.#conns.add(front);
    const deadline = Date.now() + WAIT_FOR_MEMBER_MS;
    // Front bytes forwarded before the member acknowledged the connection: a member that
    // dies (or retires) with the connection still in its accept queue never saw them, so
    // they are replayed to another member. Reading the front stops at REPLAY_LIMIT until
    // the acknowledgement comes.
    const replay: Uint8Array[] = [];
    let replayBytes = 0;
    let frontEnded = false;
    let frontRead: Promise<Uint8Array | null> | undefined;
    const skip = new Set<number>();
    let back: Deno.UnixConn | undefined;
    let target: Target | undefined;
    const release = (): void => {
      if (back) {
        this.#conns.delete(back);
        closeQuietly(back);
        back = undefined;
      }
      if (target) target.active--;
      target = undefined;
    };
    try {
      let first = new Uint8Array(0);
      while (true) {
        const connected = await this.#connect(skip, deadline);
        if (!connected || connected === "denied") {
          if (!connected && !this.#closed) {
            this.#log("warn", "no worker accepted the connection within 10 s: closed");
          }
          return;
        }
        back = connected.conn;
        target = connected.target;
        this.#conns.add(back);
        const member = back;
        const ackBuffer = new Uint8Array(COPY_SIZE);
        // What the previous member did not accept goes first; front bytes read meanwhile
        // are written after it (and kept for a further replay).
        const backlog = replay.slice();
        const replayed = (async () => {
          for (const chunk of backlog) await writeAll(member, chunk);
          if (frontEnded) await member.closeWrite();
        })();
        replayed.catch(() => {/* the acknowledgement read tells */});
        const ack = replayed.then(() => member.read(ackBuffer)).catch(() => null);
        let acked: number | null;
        while (true) {
          if (!frontEnded && !frontRead && replayBytes < REPLAY_LIMIT) {
            frontRead = readChunk(front);
          }
          const event = await Promise.race(
            frontRead
              ? [ack.then((n) => ({ ack: n })), frontRead.then((chunk) => ({ chunk }))]
              : [ack.then((n) => ({ ack: n }))],
          );
          if ("ack" in event) {
            acked = event.ack;
            break;
          }
          frontRead = undefined;
          const replayedOk = await replayed.then(() => true, () => false);
          if (event.chunk === null) {
            frontEnded = true;
            if (replayedOk) {
              await member.closeWrite().catch(() => {/* the acknowledgement read tells */});
            }
          } else {
            replay.push(event.chunk);
            replayBytes += event.chunk.length;
            if (replayedOk) await writeAll(member, event.chunk).catch(() => {});
          }
        }
        if (acked !== null && acked > 0 && ackBuffer[0] === MEMBER_ACCEPTED) {
          first = ackBuffer.subarray(1, acked);
          break;
        }
        // Closed or reset before accepting: the member is going away; try another.
        skip.add(target.key);
        release();
      }
      replay.length = 0;
      const member = back;
      // Front end to member; at its end only the member's write side closes (half-close),
      // the member's answer still flows back.
      const up = (async () => {
        if (frontRead) {
          const chunk = await frontRead;
          if (chunk === null) frontEnded = true;
          else await writeAll(member, chunk);
        }
        if (!frontEnded) await copy(front, member);
      })().then(
        () => member.closeWrite(),
        () => closeQuietly(member),
      );
      // The member closing (after its answer, or when it drains) ends the front connection.
      await (async () => {
        if (first.length > 0) await writeAll(front, first);
        await copy(member, front);
      })().catch(() => {});
      closeQuietly(front);
      closeQuietly(member);
      await up.catch(() => {});
    } finally {
      release();
      this.#conns.delete(front);
      closeQuietly(front);
      if (this.#conns.size === 0) { for (const wake of this.#emptied.splice(0)) wake(); }
    }
  }

  #waitForTarget(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#waiting.push(done);
    });
  }
}

function closeQuietly(conn: GatewayConn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** The next bytes `from` sends, in a buffer of their own; `null` at its end or on an error. */
async function readChunk(from: GatewayConn): Promise<Uint8Array | null> {
  const buffer = new Uint8Array(COPY_SIZE);
  try {
    const n = await from.read(buffer);
    return n === null ? null : buffer.slice(0, n);
  } catch {
    return null;
  }
}

/** Copies `from` to `to` until `from` ends. */
async function copy(from: GatewayConn, to: GatewayConn): Promise<void> {
  const buffer = new Uint8Array(COPY_SIZE);
  while (true) {
    const n = await from.read(buffer);
    if (n === null) return;
    await writeAll(to, buffer.subarray(0, n));
  }
}
