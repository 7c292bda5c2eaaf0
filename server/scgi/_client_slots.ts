// The SCGI client's connection limit: at most `maxConnections` requests in flight (SCGI opens
// one connection per request), later callers waiting in a queue of at most `maxQueued` until
// their `requestTimeout` deadline.

import { LimitExceededError } from "../errors.ts";
import { logLimit } from "../_log.ts";
import type { GatewayLogger } from "../types.ts";

/** Counts of connections in flight and callers waiting. */
export interface SlotStats {
  /** Connections open (one per request in flight). */
  open: number;
  /** Callers waiting for a connection. */
  queued: number;
}

/** A counting semaphore with a bounded queue. */
export class Slots {
  #max: number;
  #maxQueued: number;
  #requestTimeout: number;
  #log: GatewayLogger;
  #used = 0;
  #waiters: (() => void)[] = [];

  constructor(max: number, maxQueued: number, requestTimeout: number, log: GatewayLogger) {
    this.#max = max;
    this.#maxQueued = maxQueued;
    this.#requestTimeout = requestTimeout;
    this.#log = log;
  }

  /** The counts. */
  get stats(): SlotStats {
    return { open: this.#used, queued: this.#waiters.length };
  }

  /**
   * Takes a slot, waiting for one until `deadline`.
   *
   * @throws {LimitExceededError} (option `maxQueued` or `requestTimeout`).
   */
  acquire(deadline: number, signal: AbortSignal): Promise<void> {
    if (this.#used < this.#max) {
      this.#used++;
      return Promise.resolve();
    }
    if (this.#waiters.length >= this.#maxQueued) {
      logLimit(this.#log, "maxQueued", this.#maxQueued, "waiting for an SCGI connection");
      return Promise.reject(
        new LimitExceededError(
          `Cannot send SCGI request: "${this.#maxQueued}" requests wait for a connection already`,
          { option: "maxQueued", limit: this.#maxQueued, protocol: "scgi" },
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        const index = this.#waiters.indexOf(wake);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const wake = (): void => {
        settle();
        resolve();
      };
      const onAbort = (): void => {
        settle();
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        settle();
        logLimit(this.#log, "requestTimeout", this.#requestTimeout, "waiting for a connection");
        reject(
          new LimitExceededError(
            `Cannot send SCGI request: no connection was free within "${this.#requestTimeout}" ms`,
            { option: "requestTimeout", limit: this.#requestTimeout, protocol: "scgi" },
          ),
        );
      }, Math.max(0, deadline - Date.now()));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(wake);
    });
  }

  /** Gives a slot back: to the first waiter, else to the pool. */
  release = (): void => {
    const next = this.#waiters[0];
    if (next) next(); // the slot passes on: `used` stays
    else this.#used--;
  };
}
