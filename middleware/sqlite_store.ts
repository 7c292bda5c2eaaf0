/**
 * {@linkcode SqliteStore}: sessions in an SQLite database file through `node:sqlite`, the
 * embedded default for thread and fork pools.
 *
 * @example Sessions shared by every member of a pool
 * ```ts
 * import { session, SqliteStore } from "@flup/flup/middleware";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new SqliteStore(`${dir}/sessions.db`);
 * const middleware = session(store);
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { checkInteger } from "./_log.ts";
import { checkSessionId } from "./_session_id.ts";
import type { SessionChanges, SessionRecord, SessionStore } from "./session_store.ts";

/** Options of {@linkcode SqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * Milliseconds to wait for another connection's write lock before failing with
   * "database is locked" (SQLite `busy_timeout`). The wait blocks this isolate.
   *
   * @default {5000}
   */
  busyTimeout?: number;
  /**
   * Name of the sessions table; the values table is `<table>_value`.
   *
   * @default {"flup_session"}
   */
  table?: string;
}

/** The prepared statements, made once per connection. */
interface Statements {
  expiry: StatementSync;
  values: StatementSync;
  upsertSession: StatementSync;
  deleteValues: StatementSync;
  setValue: StatementSync;
  deleteValue: StatementSync;
  touch: StatementSync;
  deleteSession: StatementSync;
  sweepValues: StatementSync;
  sweepSessions: StatementSync;
}

/**
 * Keeps sessions in two tables of an SQLite database (`node:sqlite`): one row per session
 * with its expiry, and one row per key, so writes merge per key with a plain upsert. The
 * database runs in WAL mode, and each write is one `BEGIN IMMEDIATE` transaction, so any
 * number of Workers and processes can share the file. Operations are synchronous (SQLite
 * is fast on a local disk); they block the isolate for at most `busyTimeout` under contention.
 *
 * Permissions: `--allow-read` and `--allow-write` of the database file's directory (SQLite
 * also writes `-wal` and `-shm` files beside it).
 */
export class SqliteStore implements SessionStore {
  #db: DatabaseSync;
  #statements: Statements;
  #closed = false;

  /**
   * Opens (or creates) the database and its tables.
   *
   * @param path The database file, or `":memory:"` for a private in-memory database.
   * @param options The lock wait and table name.
   * @throws {TypeError} When the table name is not a plain identifier.
   *
   * @example Open an in-memory database
   * ```ts
   * import { SqliteStore } from "@flup/flup/middleware";
   *
   * const store = new SqliteStore(":memory:");
   * await store.close();
   * ```
   */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    const busyTimeout = checkInteger("busyTimeout", options.busyTimeout ?? 5000, 0, 2 ** 31 - 1);
    const table = options.table ?? "flup_session";
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) {
      throw new TypeError(`Cannot use SQLite table name "${table}": not a plain identifier`);
    }
    const values = `${table}_value`;
    this.#db = new DatabaseSync(path);
    try {
      this.#db.exec(`PRAGMA busy_timeout = ${busyTimeout}`);
      if (path !== ":memory:") this.#db.exec("PRAGMA journal_mode = WAL");
      this.#db.exec("PRAGMA synchronous = NORMAL");
      this.#db.exec(
        `CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)
           WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS ${table}_expires ON ${table} (expires_at);
         CREATE TABLE IF NOT EXISTS ${values} (id TEXT NOT NULL, key TEXT NOT NULL,
           value TEXT NOT NULL, PRIMARY KEY (id, key)) WITHOUT ROWID;`,
      );
      const prepare = (sql: string): StatementSync => this.#db.prepare(sql);
      this.#statements = {
        expiry: prepare(`SELECT expires_at FROM ${table} WHERE id = ?`),
        values: prepare(`SELECT key, value FROM ${values} WHERE id = ?`),
        upsertSession: prepare(
          `INSERT INTO ${table} (id, expires_at) VALUES (?, ?)
             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`,
        ),
        deleteValues: prepare(`DELETE FROM ${values} WHERE id = ?`),
        setValue: prepare(
          `INSERT INTO ${values} (id, key, value) VALUES (?, ?, ?)
             ON CONFLICT (id, key) DO UPDATE SET value = excluded.value`,
        ),
        deleteValue: prepare(`DELETE FROM ${values} WHERE id = ? AND key = ?`),
        touch: prepare(`UPDATE ${table} SET expires_at = ? WHERE id = ? AND expires_at > ?`),
        deleteSession: prepare(`DELETE FROM ${table} WHERE id = ?`),
        sweepValues: prepare(
          `DELETE FROM ${values} WHERE id IN (SELECT id FROM ${table} WHERE expires_at <= ?)`,
        ),
        sweepSessions: prepare(`DELETE FROM ${table} WHERE expires_at <= ?`),
      };
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  /**
   * Reads a session in one read transaction.
   *
   * @param id The session id.
   * @returns The session, or `null` when absent or expired.
   *
   * @example Load an unknown session
   * ```ts
   * import { SqliteStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new SqliteStore(":memory:");
   * assertEquals(await store.load("a".repeat(43)), null);
   * await store.close();
   * ```
   */
  load(id: string): Promise<SessionRecord | null> {
    return this.#run(() => {
      checkSessionId(id);
      return this.#transaction("BEGIN", (s) => {
        const row = s.expiry.get(id) as { expires_at: number } | undefined;
        if (row === undefined || row.expires_at <= Date.now()) return null;
        const values = new Map<string, string>();
        for (const item of s.values.all(id) as { key: string; value: string }[]) {
          values.set(item.key, item.value);
        }
        return { values, expiresAt: row.expires_at };
      });
    });
  }

  /**
   * Applies one request's changes in one write transaction (see
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
   * import { SqliteStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new SqliteStore(":memory:");
   * const id = "b".repeat(43);
   * const changes = { set: new Map([["n", "1"]]), delete: [], replace: false };
   * assertEquals(await store.save(id, changes, Date.now() + 60_000, true), true);
   * assertEquals((await store.load(id))?.values.get("n"), "1");
   * await store.close();
   * ```
   */
  save(id: string, changes: SessionChanges, expiresAt: number, create: boolean): Promise<boolean> {
    return this.#run(() => {
      checkSessionId(id);
      return this.#transaction("BEGIN IMMEDIATE", (s) => {
        const row = s.expiry.get(id) as { expires_at: number } | undefined;
        const live = row !== undefined && row.expires_at > Date.now();
        if (!live && !create) return false;
        // An expired row's values are not this session's any more.
        if (changes.replace || (row !== undefined && !live)) s.deleteValues.run(id);
        s.upsertSession.run(id, expiresAt);
        for (const [key, value] of changes.set) s.setValue.run(id, key, value);
        for (const key of changes.delete) s.deleteValue.run(id, key);
        return true;
      });
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
   * import { SqliteStore } from "@flup/flup/middleware";
   *
   * const store = new SqliteStore(":memory:");
   * await store.touch("c".repeat(43), Date.now() + 1000);
   * await store.close();
   * ```
   */
  touch(id: string, expiresAt: number): Promise<void> {
    return this.#run(() => {
      checkSessionId(id);
      this.#statements.touch.run(expiresAt, id, Date.now());
    });
  }

  /**
   * Deletes a session and its values.
   *
   * @param id The session id.
   * @returns Resolves when done.
   *
   * @example Destroy an unknown session (nothing happens)
   * ```ts
   * import { SqliteStore } from "@flup/flup/middleware";
   *
   * const store = new SqliteStore(":memory:");
   * await store.destroy("d".repeat(43));
   * await store.close();
   * ```
   */
  destroy(id: string): Promise<void> {
    return this.#run(() => {
      checkSessionId(id);
      this.#transaction("BEGIN IMMEDIATE", (s) => {
        s.deleteValues.run(id);
        s.deleteSession.run(id);
      });
    });
  }

  /**
   * Deletes expired sessions and their values.
   *
   * @param now The current time.
   * @returns How many sessions were deleted.
   *
   * @example Sweep an empty database
   * ```ts
   * import { SqliteStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new SqliteStore(":memory:");
   * assertEquals(await store.cleanup(Date.now()), 0);
   * await store.close();
   * ```
   */
  cleanup(now: number): Promise<number> {
    return this.#run(() =>
      this.#transaction("BEGIN IMMEDIATE", (s) => {
        s.sweepValues.run(now);
        return Number(s.sweepSessions.run(now).changes);
      })
    );
  }

  /**
   * Closes the database.
   *
   * @returns Resolves when closed.
   *
   * @example Close a store
   * ```ts
   * import { SqliteStore } from "@flup/flup/middleware";
   *
   * await new SqliteStore(":memory:").close();
   * ```
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  /** Runs a synchronous operation as a promise (a throw becomes a rejection). */
  #run<T>(operation: () => T): Promise<T> {
    try {
      if (this.#closed) throw new Error("Cannot use SqliteStore: it is closed");
      return Promise.resolve(operation());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #transaction<T>(begin: string, body: (statements: Statements) => T): T {
    this.#db.exec(begin);
    try {
      const result = body(this.#statements);
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch { /* no transaction left to roll back */ }
      throw error;
    }
  }
}
