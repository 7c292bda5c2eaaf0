/**
 * {@linkcode MemoryStore}: sessions in this isolate's memory, for one in-process server.
 *
 * @example A session store for `flup serve app.ts` without a pool
 * ```ts
 * import { MemoryStore, session } from "@flup/flup/middleware";
 *
 * const store = new MemoryStore({ maxSessions: 1000 });
 * const middleware = session(store);
 * await store.close();
 * ```
 *
 * @module
 */

import type { GatewayLogger } from "../server/types.ts";
import { checkInteger, defaultLogger, logLimit } from "./_log.ts";
import { poolFlavor } from "./_pool_detect.ts";
import { checkSessionId } from "./_session_id.ts";
import type { SessionChanges, SessionRecord, SessionStore } from "./session_store.ts";

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Most sessions kept. At the limit, expired sessions are swept, and if none expired the
   * session closest to expiry is evicted (logged with this option's name).
   *
   * @default {10000}
   */
  maxSessions?: number;
  /**
   * Receives the line logged when `maxSessions` evicts a session.
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
}

/**
 * Keeps sessions in a `Map` of this isolate: the fastest store, lost on restart, and private
 * to one process. It refuses to start inside a thread-pool Worker or fork-pool child
 * (`flup serve --flavor thread|fork`), where each member would keep its own sessions and a
 * client would lose its session whenever another member answers: use {@linkcode SqliteStore}
 * there.
 */
export class MemoryStore implements SessionStore {
  #sessions = new Map<string, SessionRecord>();
  #maxSessions: number;
  #log: GatewayLogger;

  /**
   * Creates an empty store.
   *
   * @param options The size limit and logger.
   * @throws {Error} When running inside a flup thread or fork pool.
   *
   * @example Create a store
   * ```ts
   * import { MemoryStore } from "@flup/flup/middleware";
   *
   * const store = new MemoryStore();
   * await store.close();
   * ```
   */
  constructor(options: MemoryStoreOptions = {}) {
    const flavor = poolFlavor();
    if (flavor !== null) {
      throw new Error(
        `Cannot use MemoryStore in a ${
          flavor === "thread" ? "thread-pool Worker" : "fork-pool child"
        }: ` +
          "every pool member would keep its own sessions; use SqliteStore (node:sqlite, shared by " +
          "all Workers and children) or RedisStore (shared by many machines)",
      );
    }
    this.#maxSessions = checkInteger("maxSessions", options.maxSessions ?? 10_000, 1, 2 ** 31);
    this.#log = options.log ?? defaultLogger;
  }

  /** How many sessions are kept, expired ones included until swept. */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Reads a session.
   *
   * @param id The session id.
   * @returns A copy of the session, or `null` when absent or expired.
   *
   * @example Load an unknown session
   * ```ts
   * import { MemoryStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryStore();
   * assertEquals(await store.load("a".repeat(43)), null);
   * ```
   */
  load(id: string): Promise<SessionRecord | null> {
    return settle(() => {
      checkSessionId(id);
      const record = this.#live(id, Date.now());
      if (record === undefined) return null;
      return { values: new Map(record.values), expiresAt: record.expiresAt };
    });
  }

  /**
   * Applies one request's changes (see {@linkcode SessionStore.save}).
   *
   * @param id The session id.
   * @param changes The keys to write and delete.
   * @param expiresAt The new expiry.
   * @param create Create the session when absent.
   * @returns `false` when the session was gone and `create` was `false`.
   *
   * @example Save and load
   * ```ts
   * import { MemoryStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new MemoryStore();
   * const id = "b".repeat(43);
   * const changes = { set: new Map([["n", "1"]]), delete: [], replace: false };
   * assertEquals(await store.save(id, changes, Date.now() + 60_000, true), true);
   * assertEquals((await store.load(id))?.values.get("n"), "1");
   * ```
   */
  save(id: string, changes: SessionChanges, expiresAt: number, create: boolean): Promise<boolean> {
    return settle(() => {
      checkSessionId(id);
      const now = Date.now();
      let record = this.#live(id, now);
      if (record === undefined) {
        if (!create) return false;
        this.#makeRoom(now);
        record = { values: new Map(), expiresAt };
        this.#sessions.set(id, record);
      }
      if (changes.replace) record.values.clear();
      for (const [key, value] of changes.set) record.values.set(key, value);
      for (const key of changes.delete) record.values.delete(key);
      record.expiresAt = expiresAt;
      return true;
    });
  }

  /**
   * Moves a live session's expiry.
   *
   * @param id The session id.
   * @param expiresAt The new expiry.
   * @returns Resolves when done.
   *
   * @example Touch an unknown session (nothing happens)
   * ```ts
   * import { MemoryStore } from "@flup/flup/middleware";
   *
   * await new MemoryStore().touch("c".repeat(43), Date.now() + 1000);
   * ```
   */
  touch(id: string, expiresAt: number): Promise<void> {
    return settle(() => {
      checkSessionId(id);
      const record = this.#live(id, Date.now());
      if (record !== undefined) record.expiresAt = expiresAt;
    });
  }

  /**
   * Deletes a session.
   *
   * @param id The session id.
   * @returns Resolves when done.
   *
   * @example Destroy an unknown session (nothing happens)
   * ```ts
   * import { MemoryStore } from "@flup/flup/middleware";
   *
   * await new MemoryStore().destroy("d".repeat(43));
   * ```
   */
  destroy(id: string): Promise<void> {
    return settle(() => {
      checkSessionId(id);
      this.#sessions.delete(id);
    });
  }

  /**
   * Deletes expired sessions.
   *
   * @param now The current time.
   * @returns How many were deleted.
   *
   * @example Sweep an empty store
   * ```ts
   * import { MemoryStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * assertEquals(await new MemoryStore().cleanup(Date.now()), 0);
   * ```
   */
  cleanup(now: number): Promise<number> {
    return Promise.resolve(this.#sweep(now));
  }

  /**
   * Forgets every session.
   *
   * @returns Resolves at once.
   *
   * @example Close a store
   * ```ts
   * import { MemoryStore } from "@flup/flup/middleware";
   *
   * await new MemoryStore().close();
   * ```
   */
  close(): Promise<void> {
    this.#sessions.clear();
    return Promise.resolve();
  }

  #live(id: string, now: number): SessionRecord | undefined {
    const record = this.#sessions.get(id);
    if (record === undefined) return undefined;
    if (record.expiresAt > now) return record;
    this.#sessions.delete(id);
    return undefined;
  }

  #sweep(now: number): number {
    let count = 0;
    for (const [id, record] of this.#sessions) {
      if (record.expiresAt <= now) {
        this.#sessions.delete(id);
        count++;
      }
    }
    return count;
  }

  #makeRoom(now: number): void {
    if (this.#sessions.size < this.#maxSessions) return;
    if (this.#sweep(now) > 0) return;
    let victim: string | undefined;
    let soonest = Infinity;
    for (const [id, record] of this.#sessions) {
      if (record.expiresAt < soonest) {
        soonest = record.expiresAt;
        victim = id;
      }
    }
    if (victim === undefined) return;
    this.#sessions.delete(victim);
    logLimit(this.#log, "maxSessions", this.#maxSessions, "evicted the session closest to expiry");
  }
}

/** Runs `operation` and settles a promise with its result (a throw becomes a rejection). */
function settle<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(error);
  }
}
