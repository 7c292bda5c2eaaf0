/**
 * {@linkcode FileStore}: one JSON file per session in a directory, shared by every process
 * that can reach it.
 *
 * @example Keep sessions under a directory
 * ```ts
 * import { FileStore, session } from "@flup/flup/middleware";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new FileStore(dir);
 * const middleware = session(store);
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { checkInteger } from "./_log.ts";
import { checkSessionId, isSessionId } from "./_session_id.ts";
import type { SessionChanges, SessionRecord, SessionStore } from "./session_store.ts";

/** Options of {@linkcode FileStore}. */
export interface FileStoreOptions {
  /**
   * Mode of the directory when the store creates it.
   *
   * @default {0o700}
   */
  dirMode?: number;
  /**
   * Mode of each session file.
   *
   * @default {0o600}
   */
  fileMode?: number;
}

/** A session file's contents. */
interface SessionFile {
  expiresAt: number;
  values: Record<string, string>;
}

const encoder = new TextEncoder();

/**
 * Keeps each session in `DIR/<id>.json`. Writes are atomic (a temporary file renamed over
 * the old one), so a reader never sees half a file; writers take an exclusive `flock` on
 * `DIR/.lock` for the read-merge-write, so processes and pool members sharing the
 * directory merge their writes per key. Files are not fsynced: a power loss may lose the
 * last writes.
 *
 * Permissions: `--allow-read` and `--allow-write` of the directory.
 */
export class FileStore implements SessionStore {
  #dir: string;
  #dirMode: number;
  #fileMode: number;
  #ready: Promise<void> | undefined;
  #lockFile: Deno.FsFile | undefined;
  /** The tail of this store's operations, run one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  /**
   * Creates a store over a directory (made on first use when missing).
   *
   * @param dir The directory, a path or `file:` URL.
   * @param options File and directory modes.
   *
   * @example Create a store
   * ```ts
   * import { FileStore } from "@flup/flup/middleware";
   *
   * const dir = await Deno.makeTempDir();
   * await new FileStore(dir).close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  constructor(dir: string | URL, options: FileStoreOptions = {}) {
    const path = typeof dir === "string" ? dir : decodeURIComponent(dir.pathname);
    if (typeof dir !== "string" && dir.protocol !== "file:") {
      throw new TypeError(`Cannot use "${dir.href}" as a session directory: not a file: URL`);
    }
    if (path === "") throw new TypeError("Cannot use an empty path as a session directory");
    this.#dir = path.replace(/\/+$/, "") || "/";
    this.#dirMode = checkInteger("dirMode", options.dirMode ?? 0o700, 0, 0o7777);
    this.#fileMode = checkInteger("fileMode", options.fileMode ?? 0o600, 0, 0o7777);
  }

  /**
   * Reads a session file.
   *
   * @param id The session id.
   * @returns The session, or `null` when absent, expired or unreadable as a session.
   *
   * @example Load an unknown session
   * ```ts
   * import { FileStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileStore(dir);
   * assertEquals(await store.load("a".repeat(43)), null);
   * await store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async load(id: string): Promise<SessionRecord | null> {
    checkSessionId(id);
    const file = await this.#read(id);
    if (file === null || file.expiresAt <= Date.now()) return null;
    return { values: new Map(Object.entries(file.values)), expiresAt: file.expiresAt };
  }

  /**
   * Applies one request's changes under the directory lock (see
   * {@linkcode SessionStore.save}).
   *
   * @param id The session id.
   * @param changes The keys to write and delete.
   * @param expiresAt The new expiry.
   * @param create Create the session when absent.
   * @returns `false` when the session was gone and `create` was `false`.
   *
   * @example Save and load
   * ```ts
   * import { FileStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileStore(dir);
   * const id = "b".repeat(43);
   * const changes = { set: new Map([["n", "1"]]), delete: [], replace: false };
   * assertEquals(await store.save(id, changes, Date.now() + 60_000, true), true);
   * assertEquals((await store.load(id))?.values.get("n"), "1");
   * await store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async save(
    id: string,
    changes: SessionChanges,
    expiresAt: number,
    create: boolean,
  ): Promise<boolean> {
    checkSessionId(id);
    return await this.#locked(async () => {
      let file = await this.#read(id);
      if (file !== null && file.expiresAt <= Date.now()) file = null;
      if (file === null) {
        if (!create) return false;
        file = { expiresAt, values: {} };
      }
      const values = new Map(changes.replace ? [] : Object.entries(file.values));
      for (const [key, value] of changes.set) values.set(key, value);
      for (const key of changes.delete) values.delete(key);
      await this.#write(id, { expiresAt, values: Object.fromEntries(values) });
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
   * import { FileStore } from "@flup/flup/middleware";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileStore(dir);
   * await store.touch("c".repeat(43), Date.now() + 1000);
   * await store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async touch(id: string, expiresAt: number): Promise<void> {
    checkSessionId(id);
    await this.#locked(async () => {
      const file = await this.#read(id);
      if (file === null || file.expiresAt <= Date.now()) return;
      await this.#write(id, { expiresAt, values: file.values });
    });
  }

  /**
   * Deletes a session file.
   *
   * @param id The session id.
   * @returns Resolves when done.
   *
   * @example Destroy an unknown session (nothing happens)
   * ```ts
   * import { FileStore } from "@flup/flup/middleware";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileStore(dir);
   * await store.destroy("d".repeat(43));
   * await store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async destroy(id: string): Promise<void> {
    checkSessionId(id);
    await this.#locked(() => this.#remove(`${this.#dir}/${id}.json`));
  }

  /**
   * Deletes expired session files, and temporary files a crashed writer left.
   *
   * @param now The current time.
   * @returns How many sessions were deleted.
   *
   * @example Sweep an empty directory
   * ```ts
   * import { FileStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new FileStore(dir);
   * assertEquals(await store.cleanup(Date.now()), 0);
   * await store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  cleanup(now: number): Promise<number> {
    return this.#locked(async () => {
      let count = 0;
      for await (const entry of Deno.readDir(this.#dir)) {
        if (!entry.isFile) continue;
        if (entry.name.endsWith(".tmp")) {
          // Writers hold the lock we hold: this file's writer is gone.
          await this.#remove(`${this.#dir}/${entry.name}`);
          continue;
        }
        const id = entry.name.slice(0, -".json".length);
        if (!entry.name.endsWith(".json") || !isSessionId(id)) continue;
        const file = await this.#read(id);
        if (file === null || file.expiresAt <= now) {
          await this.#remove(`${this.#dir}/${entry.name}`);
          count++;
        }
      }
      return count;
    });
  }

  /**
   * Waits for running operations and closes the lock file.
   *
   * @returns Resolves when done.
   *
   * @example Close a store
   * ```ts
   * import { FileStore } from "@flup/flup/middleware";
   *
   * const dir = await Deno.makeTempDir();
   * await new FileStore(dir).close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue.catch(() => {});
    this.#lockFile?.close();
    this.#lockFile = undefined;
  }

  /** Runs `operation` alone in this process and, through flock, among processes. */
  #locked<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("Cannot use FileStore: it is closed"));
    const run = async (): Promise<T> => {
      await this.#prepare();
      const lock = this.#lockFile as Deno.FsFile; // opened by #prepare()
      await lock.lock(true);
      try {
        return await operation();
      } finally {
        await lock.unlock();
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  #prepare(): Promise<void> {
    this.#ready ??= (async () => {
      await Deno.mkdir(this.#dir, { recursive: true, mode: this.#dirMode });
      this.#lockFile = await Deno.open(`${this.#dir}/.lock`, {
        read: true,
        write: true,
        create: true,
        mode: this.#fileMode,
      });
    })();
    return this.#ready;
  }

  async #read(id: string): Promise<SessionFile | null> {
    let text: string;
    try {
      text = await Deno.readTextFile(`${this.#dir}/${id}.json`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    return parseSessionFile(text);
  }

  async #write(id: string, file: SessionFile): Promise<void> {
    const suffix = crypto.getRandomValues(new Uint32Array(1))[0]?.toString(36) ?? "0";
    const temporary = `${this.#dir}/${id}.${suffix}.tmp`;
    await Deno.writeFile(temporary, encoder.encode(JSON.stringify(file)), {
      mode: this.#fileMode,
    });
    try {
      await Deno.rename(temporary, `${this.#dir}/${id}.json`);
    } catch (error) {
      await this.#remove(temporary);
      throw error;
    }
  }

  async #remove(path: string): Promise<void> {
    try {
      await Deno.remove(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

/** Parses a session file; anything that is not exactly its shape reads as no session. */
function parseSessionFile(text: string): SessionFile | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const { expiresAt, values } = parsed as { expiresAt?: unknown; values?: unknown };
  if (typeof expiresAt !== "number" || typeof values !== "object" || values === null) return null;
  for (const value of Object.values(values)) {
    if (typeof value !== "string") return null;
  }
  return { expiresAt, values: values as Record<string, string> };
}
