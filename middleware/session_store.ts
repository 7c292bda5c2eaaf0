/**
 * The contract between the session middleware and its stores (`MemoryStore`, `FileStore`,
 * `SqliteStore`, `RedisStore`), for writing another.
 *
 * Values cross this interface as JSON text, one entry per key: the middleware serialises with
 * `JSON.stringify` and parses with `JSON.parse` (no reviver), so nothing a store returns can
 * run code. Keys merge one by one: {@linkcode SessionStore.save} writes the keys it is given and
 * deletes the keys it is told to, leaving every other key as another request left it
 * (last writer wins per key).
 *
 * @example A store that keeps nothing (every session is new on each request)
 * ```ts
 * import type { SessionStore } from "@flup/flup/middleware";
 *
 * const forgetful: SessionStore = {
 *   load: () => Promise.resolve(null),
 *   save: () => Promise.resolve(true),
 *   touch: () => Promise.resolve(),
 *   destroy: () => Promise.resolve(),
 *   cleanup: () => Promise.resolve(0),
 *   close: () => Promise.resolve(),
 * };
 * ```
 *
 * @module
 */

/** A stored session: its values as JSON text by key, and when it expires. */
export interface SessionRecord {
  /** Each key's value as JSON text. */
  values: Map<string, string>;
  /** Milliseconds since the epoch after which the session no longer exists. */
  expiresAt: number;
}

/** What one request changed in a session. */
export interface SessionChanges {
  /** Keys to write, each value as JSON text. */
  set: Map<string, string>;
  /** Keys to delete. */
  delete: readonly string[];
  /** Drop every stored key before writing `set` (a regenerated session's full copy). */
  replace: boolean;
}

/** Where sessions live. Every method takes ids already checked to be well-formed. */
export interface SessionStore {
  /**
   * Reads a session.
   *
   * @param id The session id.
   * @returns The session, or `null` when it does not exist or has expired.
   */
  load(id: string): Promise<SessionRecord | null>;
  /**
   * Applies one request's changes atomically and moves the expiry to `expiresAt`.
   *
   * @param id The session id.
   * @param changes The keys to write and delete.
   * @param expiresAt The new expiry, in milliseconds since the epoch.
   * @param create Create the session when it does not exist; when `false` and it is gone
   *   (destroyed or expired meanwhile), nothing is written.
   * @returns `false` when nothing was written because the session was gone.
   */
  save(id: string, changes: SessionChanges, expiresAt: number, create: boolean): Promise<boolean>;
  /**
   * Moves an existing session's expiry; does nothing when it is gone.
   *
   * @param id The session id.
   * @param expiresAt The new expiry, in milliseconds since the epoch.
   */
  touch(id: string, expiresAt: number): Promise<void>;
  /**
   * Deletes a session; does nothing when it is gone.
   *
   * @param id The session id.
   */
  destroy(id: string): Promise<void>;
  /**
   * Deletes expired sessions.
   *
   * @param now The current time, in milliseconds since the epoch.
   * @returns How many sessions were deleted (stores that expire on their own report 0).
   */
  cleanup(now: number): Promise<number>;
  /** Waits for running work and releases the store's resources. */
  close(): Promise<void>;
}
