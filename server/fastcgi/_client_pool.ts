// The FastCGI client's connection pool: at most `maxConnections` open connections to one
// backend, idle kept connections reused newest first, callers past the limit waiting in a queue
// of at most `maxQueued` (never an unbounded one) until their `requestTimeout` deadline.

import { LimitExceededError } from "../errors.ts";
import { logLimit } from "../_log.ts";
import type { GatewayLogger } from "../types.ts";
import { connectBackend, describeAddress, type ResolvedAddress } from "../_client_address.ts";
import { ClientConnection } from "./_client_connection.ts";
import type { Watchdog } from "../_client_watchdog.ts";

/** What the pool needs to know. */
export interface PoolSettings {
  address: ResolvedAddress;
  maxConnections: number;
  maxQueued: number;
  connectTimeout: number;
  idleTimeout: number;
  requestTimeout: number;
  log: GatewayLogger;
  watchdog: Watchdog;
}

/** A connection for one request, and whether it carried an earlier one. */
export interface Lease {
  connection: ClientConnection;
  reused: boolean;
}

/** Counts of the pool's connections and waiting callers. */
export interface PoolStats {
  /** Connections open (busy and idle). */
  open: number;
  /** Kept connections waiting for a request. */
  idle: number;
  /** Callers waiting for a connection. */
  queued: number;
}

interface Waiter {
  /** Gets a kept connection, or `null`: a slot to open a new one. */
  grant(connection: ClientConnection | null): void;
}

/** Connections to one backend. */
export class ConnectionPool {
  #settings: PoolSettings;
  #idle: ClientConnection[] = [];
  #open = 0;
  #waiters: Waiter[] = [];
  #closed = false;
  #onIdleEnd = (connection: ClientConnection): void => {
    const index = this.#idle.indexOf(connection);
    if (index >= 0) this.#idle.splice(index, 1);
    this.#open--;
    this.#wake();
  };

  constructor(settings: PoolSettings) {
    this.#settings = settings;
  }

  /** The pool's counts. */
  get stats(): PoolStats {
    return { open: this.#open, idle: this.#idle.length, queued: this.#waiters.length };
  }

  /**
   * A kept connection for one request at once, or `null` when none is idle (or the pool is
   * closed): then {@linkcode ConnectionPool.acquire} waits for one.
   */
  takeIdle(): Lease | null {
    if (this.#closed) return null;
    const connection = this.#idle.pop();
    if (!connection) return null;
    connection.unpark();
    return { connection, reused: true };
  }

  /**
   * A connection for one request: a kept one unless `fresh`, else a new one when below
   * `maxConnections`, else the next one released, waited for until `deadline`.
   *
   * @throws {LimitExceededError} (option `maxQueued`) When too many callers wait already, or
   * (option `requestTimeout`) when the deadline passes while waiting.
   */
  async acquire(deadline: number, signal: AbortSignal, fresh: boolean): Promise<Lease> {
    if (this.#closed) throw new TypeError("Cannot send request: the client is closed");
    if (!fresh) {
      const lease = this.takeIdle();
      if (lease) return lease;
    } else if (this.#open >= this.#settings.maxConnections && this.#idle.length > 0) {
      // A retry wants a new connection: make room by closing the oldest kept one.
      const oldest = this.#idle.shift()!;
      oldest.unpark();
      oldest.close();
      this.#open--;
    }
    if (this.#open < this.#settings.maxConnections) {
      this.#open++;
      return await this.#connect();
    }
    const granted = await this.#wait(deadline, signal);
    if (granted) return { connection: granted, reused: true };
    return await this.#connect();
  }

  /** Opens a connection in a slot already counted in `#open`. */
  async #connect(): Promise<Lease> {
    try {
      if (this.#closed) throw new TypeError("Cannot send request: the client is closed");
      const { address, connectTimeout, log } = this.#settings;
      const conn = await connectBackend(address, connectTimeout, "fastcgi", log);
      if (this.#closed) {
        conn.close();
        throw new TypeError("Cannot send request: the client is closed");
      }
      return { connection: new ClientConnection(conn), reused: false };
    } catch (error) {
      this.#open--;
      this.#wake();
      throw error;
    }
  }

  #wait(deadline: number, signal: AbortSignal): Promise<ClientConnection | null> {
    const { maxQueued, requestTimeout, log, address } = this.#settings;
    if (this.#waiters.length >= maxQueued) {
      logLimit(
        log,
        "maxQueued",
        maxQueued,
        `waiting for a connection to ${describeAddress(address)}`,
      );
      return Promise.reject(
        new LimitExceededError(
          `Cannot send FastCGI request: "${maxQueued}" requests wait for a connection already`,
          { option: "maxQueued", limit: maxQueued, protocol: "fastcgi" },
        ),
      );
    }
    return new Promise<ClientConnection | null>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const waiter: Waiter = {
        grant: (connection) => {
          settle();
          resolve(connection);
        },
      };
      const onAbort = (): void => {
        settle();
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        settle();
        logLimit(log, "requestTimeout", requestTimeout, "waiting for a free connection");
        reject(
          new LimitExceededError(
            `Cannot send FastCGI request: no connection was free within "${requestTimeout}" ms`,
            { option: "requestTimeout", limit: requestTimeout, protocol: "fastcgi" },
          ),
        );
      }, Math.max(0, deadline - Date.now()));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Hands a slot (counted now) to the first waiter, if there is room. */
  #wake(): void {
    if (this.#waiters.length > 0 && this.#open < this.#settings.maxConnections) {
      this.#open++;
      this.#waiters[0]!.grant(null);
    }
  }

  /** Takes a connection back after a request: kept for reuse, or closed. */
  release = (connection: ClientConnection, reusable: boolean): void => {
    connection.requests++;
    if (reusable && !this.#closed && !connection.closed) {
      const waiter = this.#waiters[0];
      if (waiter) {
        waiter.grant(connection);
        return;
      }
      this.#idle.push(connection);
      connection.park(this.#settings.idleTimeout, this.#settings.watchdog, this.#onIdleEnd);
      return;
    }
    connection.close();
    this.#open--;
    this.#wake();
  };

  /** Closes idle connections and refuses new requests; busy ones close when released. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) {
      connection.unpark();
      connection.close();
      this.#open--;
    }
    for (const waiter of this.#waiters.splice(0)) {
      this.#open++;
      waiter.grant(null); // its connect sees the closed pool, gives the slot back and throws
    }
  }
}
