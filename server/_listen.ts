// The only Deno.listen user: binds TCP, Unix sockets, a given listener or the inherited fd 0;
// runs the accept loop with the allow-list and maxConnections; sweeps timeouts; drains on
// shutdown. Protocols plug in a function that serves one connection.

import { createServer, type Server as NodeServer, type Socket } from "node:net";
import { fstatSync } from "node:fs";
import { compileAllowList, isLoopback } from "./_address.ts";
import { type GatewayConn, NodeSocketConn } from "./_conn.ts";
import { logLimit } from "./_log.ts";
import type { ResolvedOptions } from "./_options.ts";
import type { GatewayOptions, GatewayServer, ProtocolName } from "./types.ts";

/** One served connection, as the protocol exposes it to the listener. */
export interface ConnectionSlot {
  /** `performance.now()` past which the connection is closed; `Infinity` for none. */
  deadline: number;
  /** The option that set `deadline` (logged when it is hit). */
  deadlineOption: string;
  /** That option's value in milliseconds. */
  deadlineLimit: number;
  /** Shutdown began: finish what is in flight, take nothing new, close when idle. */
  drain(): void;
  /** Close now, aborting in-flight requests; `reason` is logged by the protocol. */
  abort(reason: string): void;
  /** Settles when the connection is closed and its requests are finished. */
  readonly done: Promise<void>;
  /** Bytes the connection holds in its buffers now (receive buffer, params, queued body). */
  retainedBytes(): number;
}

/** Serves one connection. `overloaded` is set past `maxConnections`: refuse its requests. */
export type ServeConnection = (conn: GatewayConn, overloaded: boolean) => ConnectionSlot;

/** Connections served only to be refused, at most, past maxConnections. */
const OVERFLOW_CONNECTIONS = 64;

/** `true` when file descriptor 0 is a socket (an inherited listener), false otherwise. */
export function stdinIsSocket(): boolean {
  try {
    return fstatSync(0).isSocket();
  } catch {
    return false;
  }
}

/**
 * Starts listening and serving. TCP binds synchronously (so errors such as AddrInUse throw
 * here); Unix sockets and fd 0 bind asynchronously and report through `ready`.
 */
export function startGateway(
  protocol: ProtocolName,
  options: GatewayOptions,
  resolved: ResolvedOptions,
  serveConnection: ServeConnection,
): GatewayServer {
  const log = resolved.log;
  const allow = compileAllowList(resolved.allowedAddresses);
  const slots = new Set<ConnectionSlot>();
  let overflow = 0;
  let closing = false;
  let sweeper: ReturnType<typeof setInterval> | undefined;
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  let closeListener: () => void = () => {};
  let resolveFinished!: () => void;
  let rejectFinished!: (error: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    resolveFinished = resolve;
    rejectFinished = reject;
  });
  finished.catch(() => {});

  if (resolved.debug) log("warn", "debug is on: error details are sent to clients");

  const accept = (conn: GatewayConn): void => {
    const remote = conn.remoteAddr;
    if (remote.transport === "tcp" && !allow.allows(remote.hostname)) {
      log("warn", `allowedAddresses: refused connection from ${remote.hostname}`);
      conn.close();
      return;
    }
    if (closing) {
      conn.close();
      return;
    }
    const overloaded = slots.size - overflow >= resolved.maxConnections;
    if (overloaded) {
      if (overflow >= OVERFLOW_CONNECTIONS) {
        logLimit(log, "maxConnections", resolved.maxConnections, "connection closed unserved");
        conn.close();
        return;
      }
      logLimit(log, "maxConnections", resolved.maxConnections, "requests refused as overloaded");
      overflow++;
    }
    const slot = serveConnection(conn, overloaded);
    // Refused connections are tracked too, so timeouts and drain reach them.
    slots.add(slot);
    slot.done.finally(() => {
      if (overloaded) overflow--;
      slots.delete(slot);
      if (closing && slots.size === 0) finish();
    });
  };

  const sweepEvery = Math.min(
    1000,
    Math.max(
      25,
      Math.min(resolved.paramsTimeout, resolved.bodyTimeout, resolved.keepAliveTimeout) / 4,
    ),
  );
  const sweep = (): void => {
    const now = performance.now();
    for (const slot of slots) {
      if (now > slot.deadline) {
        logLimit(log, slot.deadlineOption, slot.deadlineLimit, "connection closed");
        slot.abort(`${slot.deadlineOption} exceeded`);
      }
    }
  };

  let finishedOnce = false;
  const finish = (): void => {
    if (finishedOnce) return;
    finishedOnce = true;
    clearInterval(sweeper);
    clearTimeout(drainTimer);
    resolveFinished();
  };

  const shutdown = (): Promise<void> => {
    if (!closing) {
      closing = true;
      log("info", `${protocol} server draining ${slots.size} connection(s)`);
      closeListener();
      for (const slot of slots) slot.drain();
      if (slots.size === 0) finish();
      else {
        drainTimer = setTimeout(() => {
          logLimit(
            log,
            "drainTimeout",
            resolved.drainTimeout,
            `aborting ${slots.size} connection(s)`,
          );
          for (const slot of slots) slot.abort("drainTimeout exceeded");
        }, resolved.drainTimeout);
      }
    }
    return finished;
  };

  const onListening = (addr: Deno.Addr): Deno.Addr => {
    sweeper = setInterval(sweep, sweepEvery);
    log("info", `${protocol} server listening on ${formatAddr(addr)}`);
    options.onListen?.(addr);
    if (closing) closeListener();
    return addr;
  };

  const runDenoListener = (listener: Deno.Listener, unixPath: string | null): Deno.Addr => {
    let closed = false;
    const removeSocketFile = unixPath ? socketFileRemover(unixPath) : () => {};
    closeListener = () => {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      removeSocketFile();
    };
    (async () => {
      while (!closed) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (error) {
          if (closed || error instanceof Deno.errors.BadResource) break;
          log("error", `accept failed: ${error}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        if (conn.remoteAddr.transport === "tcp") {
          try {
            (conn as Deno.TcpConn).setNoDelay(true);
          } catch { /* not TCP after all */ }
        }
        accept(conn);
      }
      if (!closing) shutdown();
    })();
    return listener.addr;
  };

  let ready: Promise<Deno.Addr>;
  if (options.listener) {
    ready = Promise.resolve(onListening(runDenoListener(options.listener, null)));
  } else if (options.fd === 0) {
    ready = listenFd0(accept).then(({ server, addr }) => {
      closeListener = () => server.close();
      return onListening(addr);
    });
  } else if (options.path !== undefined) {
    const path = options.path;
    ready = prepareUnixPath(path).then(() => {
      const listener = Deno.listen({ transport: "unix", path });
      Deno.chmodSync(path, options.socketMode ?? 0o660);
      return onListening(runDenoListener(listener, path));
    });
  } else {
    const hostname = options.hostname ?? "127.0.0.1";
    const listener = Deno.listen({ hostname, port: options.port ?? 9000 });
    if (!isLoopback(hostname) && resolved.allowedAddresses.length === 0) {
      log("warn", `listening on ${hostname} with no allowedAddresses: any peer may connect`);
    }
    ready = Promise.resolve(onListening(runDenoListener(listener, null)));
  }
  ready.catch((error) => {
    log("error", `${protocol} server cannot listen: ${error}`);
    closing = true;
    rejectFinished(error);
  });

  const onAbort = (): void => void shutdown();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  finished.finally(() => options.signal?.removeEventListener("abort", onAbort)).catch(() => {});

  return {
    ready,
    finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

function formatAddr(addr: Deno.Addr): string {
  if (!("hostname" in addr)) return "path" in addr ? `unix:${addr.path}` : addr.transport;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/**
 * Replaces a stale socket file; refuses a live socket or a file that is not a socket. Stale
 * means the kernel refuses connections there (ECONNREFUSED: nobody listens). Any other failure
 * to connect, such as a full accept queue (EAGAIN) of a busy server, leaves the file alone.
 */
export async function prepareUnixPath(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new Deno.errors.AddrInUse(
      `Cannot listen on "${path}": a file that is not a socket is there`,
    );
  }
  try {
    const probe = await Deno.connect({ transport: "unix", path });
    probe.close();
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      Deno.removeSync(path); // nobody listens: a stale socket from a server that died
      return;
    }
    if (error instanceof Deno.errors.NotFound) return; // removed meanwhile
    throw new Deno.errors.AddrInUse(
      `Cannot listen on "${path}": a server may be listening there (connecting failed: ${
        error instanceof Error ? error.message : error
      })`,
    );
  }
  throw new Deno.errors.AddrInUse(`Cannot listen on "${path}": another server is listening there`);
}

/**
 * Remembers which file is at `path` now (a socket just bound there) and returns a function
 * that removes it later only if it is still that file: a server that closes after another
 * one took over the path must not delete the other's socket.
 */
export function socketFileRemover(path: string): () => void {
  let bound: Deno.FileInfo | null = null;
  try {
    bound = Deno.lstatSync(path);
  } catch { /* gone already: nothing to remove later */ }
  return () => {
    if (bound === null) return;
    try {
      const now = Deno.lstatSync(path);
      if (now.ino === bound.ino && now.dev === bound.dev) Deno.removeSync(path);
    } catch { /* already gone */ }
  };
}

async function listenFd0(
  accept: (conn: GatewayConn) => void,
): Promise<{ server: NodeServer; addr: Deno.Addr }> {
  if (!stdinIsSocket()) {
    throw new TypeError("Cannot listen on fd 0: standard input is not a socket");
  }
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    accept(new NodeSocketConn(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ fd: 0 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", () => {});
  const address = server.address();
  const addr: Deno.Addr = typeof address === "string"
    ? { transport: "unix", path: address }
    : address
    ? { transport: "tcp", hostname: address.address, port: address.port }
    : { transport: "unix", path: "fd:0" };
  return { server, addr };
}
