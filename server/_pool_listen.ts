// Where a pool member accepts connections, presented to the gateway's accept loop as a
// `Deno.Listener` (it uses only `accept`, `close` and `addr`): an SO_REUSEPORT TCP socket or
// the inherited fd 0 through node:net, or a private Unix socket through Deno.listen. The
// listener can stop accepting before the server drains, and knows which accepted
// connections have not yet sent anything, so a retiring member never closes a connection
// whose first request is on its way.

import { createServer, type Socket } from "node:net";
import { type GatewayConn, NodeSocketConn } from "./_conn.ts";
import type { MemberListen } from "./_pool_member.ts";
import { socketFileRemover } from "./_listen.ts";
import { MEMBER_ACCEPTED } from "./_pool_dispatch.ts";

const ACCEPTED = new Uint8Array([MEMBER_ACCEPTED]);

/** Accepted connections, from a Deno listener or a node:net server. */
interface AcceptSource {
  readonly addr: Deno.Addr;
  /** The next connection; `null` once closed. */
  accept(): Promise<GatewayConn | null>;
  close(): void;
}

/** Opens where the member listens. */
export async function openMemberListener(listen: MemberListen): Promise<GuardedListener> {
  if ("hostname" in listen) {
    // Deno.listen's reusePort needs --unstable-net; node:net's does not.
    return new GuardedListener(
      await nodeSource({ host: listen.hostname, port: listen.port, reusePort: true }),
    );
  }
  if ("fd" in listen) return new GuardedListener(await nodeSource({ fd: 0 }));
  const listener = Deno.listen({ transport: "unix", path: listen.path });
  Deno.chmodSync(listen.path, 0o600);
  const removeSocketFile = socketFileRemover(listen.path);
  const close = (): void => {
    try {
      listener.close();
    } catch { /* already closed */ }
    removeSocketFile();
  };
  if (!listen.dispatched) {
    return new GuardedListener({
      addr: listener.addr,
      accept: () => listener.accept().catch(() => null),
      close,
    });
  }
  return new GuardedListener({
    addr: listener.addr,
    // The parent dispatches here: acknowledge every connection before serving it, so the
    // parent replays to another member what dies unaccepted in this socket's queue.
    async accept(): Promise<GatewayConn | null> {
      while (true) {
        let conn: Deno.UnixConn;
        try {
          conn = await listener.accept();
        } catch {
          return null;
        }
        try {
          await conn.write(ACCEPTED);
          return conn;
        } catch {
          // The parent gave up on this connection already.
          try {
            conn.close();
          } catch { /* already closed */ }
        }
      }
    },
    close,
  });
}

/** A node:net server (SO_REUSEPORT TCP, or the inherited fd 0) as an accept source. */
async function nodeSource(
  options: { host: string; port: number; reusePort: true } | { fd: 0 },
): Promise<AcceptSource> {
  const queue: Socket[] = [];
  let waiter: PromiseWithResolvers<Socket | null> | null = null;
  let closed = false;
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    if (waiter) {
      waiter.resolve(socket);
      waiter = null;
    } else queue.push(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", () => {});
  const address = server.address();
  const addr: Deno.Addr = address && typeof address === "object"
    ? { transport: "tcp", hostname: address.address, port: address.port }
    : { transport: "unix", path: typeof address === "string" ? address : "fd:0" };
  return {
    addr,
    async accept(): Promise<GatewayConn | null> {
      let socket = queue.shift() ?? null;
      if (!socket && !closed) {
        waiter = Promise.withResolvers<Socket | null>();
        socket = await waiter.promise;
      }
      return socket ? new NodeSocketConn(socket) : null;
    },
    close(): void {
      if (closed) return;
      closed = true;
      server.close();
      waiter?.resolve(null);
      waiter = null;
      for (const socket of queue.splice(0)) socket.destroy();
    },
  };
}

/** A connection that reports when its first read settled. */
class TrackedConn implements GatewayConn {
  readonly remoteAddr: Deno.Addr;
  readonly firstRead: Promise<void>;
  #inner: GatewayConn;
  #settle: (() => void) | null;

  constructor(inner: GatewayConn) {
    this.#inner = inner;
    this.remoteAddr = inner.remoteAddr;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.firstRead = promise;
    this.#settle = resolve;
  }

  async read(p: Uint8Array): Promise<number | null> {
    if (!this.#settle) return await this.#inner.read(p);
    try {
      return await this.#inner.read(p);
    } finally {
      this.#settle?.();
      this.#settle = null;
    }
  }

  write(p: Uint8Array): Promise<number> {
    return this.#inner.write(p);
  }

  close(): void {
    this.#settle?.();
    this.#settle = null;
    this.#inner.close();
  }
}

/**
 * The `Deno.Listener` shape the gateway's accept loop uses, with a way to stop accepting
 * before the server drains.
 */
export class GuardedListener {
  readonly addr: Deno.Addr;
  #source: AcceptSource;
  #stopped = false;
  #closed = Promise.withResolvers<void>();
  #pendingFirstReads = new Set<Promise<void>>();

  constructor(source: AcceptSource) {
    this.#source = source;
    this.addr = source.addr;
  }

  /** The next connection, as the accept loop wants it. */
  async accept(): Promise<Deno.Conn> {
    const conn = this.#stopped ? null : await this.#source.accept();
    if (!conn || this.#stopped) {
      conn?.close();
      // Stopped accepting: stay pending until the server closes the listener, so the accept
      // loop does not start a shutdown of its own.
      await this.#closed.promise;
      throw new Deno.errors.BadResource("Listener has been closed");
    }
    const tracked = new TrackedConn(conn);
    const first = tracked.firstRead;
    this.#pendingFirstReads.add(first);
    first.then(() => this.#pendingFirstReads.delete(first));
    // The accept loop uses only remoteAddr, read, write and close: GatewayConn's shape.
    return tracked as unknown as Deno.Conn;
  }

  /** Stops accepting new connections; those accepted stay. */
  stopAccepting(): void {
    this.#stopped = true;
    this.#source.close();
  }

  /** Resolves once every accepted connection's first read settled, or after `ms`. */
  async firstReads(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#pendingFirstReads),
      new Promise((resolve) => timer = setTimeout(resolve, ms)),
    ]);
    clearTimeout(timer);
  }

  /** Stops accepting for good (the server's shutdown calls it). */
  close(): void {
    this.stopAccepting();
    this.#closed.resolve();
  }

  ref(): void {}
  unref(): void {}
}
