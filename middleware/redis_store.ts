/**
 * {@linkcode RedisStore}: sessions in Redis, shared by every process on every machine that
 * reaches the server.
 *
 * @example Sessions in Redis (connects on first use)
 * ```ts
 * import { RedisStore, session } from "@flup/flup/middleware";
 *
 * const store = new RedisStore({ url: "redis://127.0.0.1:6379" });
 * const middleware = session(store, { cleanupInterval: 0 }); // Redis expires keys itself
 * await store.close();
 * ```
 *
 * @module
 */

import type { GatewayLogger } from "../server/types.ts";
import { checkInteger, defaultLogger, describeError } from "./_log.ts";
import { checkSessionId } from "./_session_id.ts";
import type { SessionChanges, SessionRecord, SessionStore } from "./session_store.ts";

/**
 * The one method the store needs from a Redis client: node-redis's `sendCommand`, which sends
 * a command as an array of strings and resolves with the reply.
 */
export interface RedisCommandClient {
  /**
   * Sends one command.
   *
   * @param args The command and its arguments, e.g. `["GET", "key"]`.
   * @returns The reply.
   */
  sendCommand(args: string[]): Promise<unknown>;
}

/** Options of {@linkcode RedisStore}. */
export interface RedisStoreOptions {
  /**
   * The server, connected to on first use with the `redis` npm client (node-redis), which
   * reconnects on its own. Ignored when `client` is given.
   *
   * @default {"redis://127.0.0.1:6379"}
   */
  url?: string;
  /**
   * A client you connected yourself (node-redis, or anything with its `sendCommand`); the store
   * does not close it.
   *
   * @default {undefined}
   */
  client?: RedisCommandClient;
  /**
   * Prefix of every session's key; the key is the prefix and the session id.
   *
   * @default {"flup:session:"}
   */
  keyPrefix?: string;
  /**
   * Milliseconds to wait for a connection to `url` before failing.
   *
   * @default {5000}
   */
  connectTimeout?: number;
  /**
   * Receives the client's connection errors as warnings.
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
}

// Each session is one hash: field "m" marks that it exists (so an empty session is a key),
// fields "v:<key>" hold the values as JSON text. The key expires with PEXPIRE, in
// milliseconds relative to the server's clock.
const LOAD = `local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return false end
return {ttl, redis.call('HGETALL', KEYS[1])}`;

// ARGV: create ("1"/"0"), ttl ms, replace ("1"/"0"), number of pairs, the pairs, then the
// keys to delete.
const SAVE = `local exists = redis.call('EXISTS', KEYS[1]) == 1
if not exists and ARGV[1] ~= '1' then return 0 end
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'm', '1')
local pairs = tonumber(ARGV[4])
for i = 0, pairs - 1 do
  redis.call('HSET', KEYS[1], 'v:' .. ARGV[5 + 2 * i], ARGV[6 + 2 * i])
end
for i = 5 + 2 * pairs, #ARGV do redis.call('HDEL', KEYS[1], 'v:' .. ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/**
 * Keeps each session in a Redis hash, one field per key, so writes merge per key, and each
 * save is one Lua script (atomic on the server). Redis expires sessions itself, so
 * `cleanup()` has nothing to do (give the middleware `cleanupInterval: 0`).
 *
 * Expiry is sent as a duration (`PEXPIRE`), so machines with skewed clocks agree.
 * Permissions: `--allow-net` of the Redis address (and `--allow-env`/`--allow-read` that the
 * npm client may ask for).
 */
export class RedisStore implements SessionStore {
  #url: string;
  #given: RedisCommandClient | undefined;
  #prefix: string;
  #connectTimeout: number;
  #log: GatewayLogger;
  #owned: Promise<{ client: RedisCommandClient; close(): Promise<void> }> | undefined;
  #closed = false;

  /**
   * Creates a store; the connection to `url` is made on first use.
   *
   * @param options The server or client, key prefix and connect timeout.
   *
   * @example With a client of your own
   * ```ts
   * import { RedisStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const sent: string[][] = [];
   * const client = { sendCommand: (args: string[]) => (sent.push(args), Promise.resolve(0)) };
   * const store = new RedisStore({ client, keyPrefix: "app:" });
   * await store.touch("a".repeat(43), Date.now() + 60_000);
   * assertEquals(sent[0]?.slice(0, 2), ["PEXPIRE", `app:${"a".repeat(43)}`]);
   * await store.close();
   * ```
   */
  constructor(options: RedisStoreOptions = {}) {
    this.#url = options.url ?? "redis://127.0.0.1:6379";
    this.#given = options.client;
    this.#prefix = options.keyPrefix ?? "flup:session:";
    this.#connectTimeout = checkInteger(
      "connectTimeout",
      options.connectTimeout ?? 5000,
      1,
      2 ** 31 - 1,
    );
    this.#log = options.log ?? defaultLogger;
  }

  /**
   * Reads a session with one script call.
   *
   * @param id The session id.
   * @returns The session, or `null` when absent or expired.
   *
   * @example Load through a client that knows no session
   * ```ts
   * import { RedisStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new RedisStore({ client: { sendCommand: () => Promise.resolve(null) } });
   * assertEquals(await store.load("a".repeat(43)), null);
   * ```
   */
  async load(id: string): Promise<SessionRecord | null> {
    checkSessionId(id);
    const reply = await this.#send(["EVAL", LOAD, "1", this.#prefix + id]);
    if (!Array.isArray(reply)) return null;
    const [ttl, fields] = reply as [unknown, unknown];
    if (!Array.isArray(fields)) return null;
    const values = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const field = String(fields[i]);
      if (field.startsWith("v:")) values.set(field.slice(2), String(fields[i + 1]));
    }
    return { values, expiresAt: Date.now() + Number(ttl) };
  }

  /**
   * Applies one request's changes with one script call (see {@linkcode SessionStore.save}).
   *
   * @param id The session id.
   * @param changes The keys to write and delete.
   * @param expiresAt The new expiry.
   * @param create Create the session when absent.
   * @returns `false` when the session was gone and `create` was `false`.
   *
   * @example Save through a client that reports success
   * ```ts
   * import { RedisStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * const store = new RedisStore({ client: { sendCommand: () => Promise.resolve(1) } });
   * const changes = { set: new Map([["n", "1"]]), delete: [], replace: false };
   * assertEquals(await store.save("b".repeat(43), changes, Date.now() + 1000, true), true);
   * ```
   */
  async save(
    id: string,
    changes: SessionChanges,
    expiresAt: number,
    create: boolean,
  ): Promise<boolean> {
    checkSessionId(id);
    const args = [
      "EVAL",
      SAVE,
      "1",
      this.#prefix + id,
      create ? "1" : "0",
      String(Math.max(1, Math.ceil(expiresAt - Date.now()))),
      changes.replace ? "1" : "0",
      String(changes.set.size),
    ];
    for (const [key, value] of changes.set) args.push(key, value);
    args.push(...changes.delete);
    return Number(await this.#send(args)) === 1;
  }

  /**
   * Moves a live session's expiry (`PEXPIRE`, which ignores absent keys).
   *
   * @param id The session id.
   * @param expiresAt The new expiry.
   * @returns Resolves when done.
   *
   * @example Touch through a client
   * ```ts
   * import { RedisStore } from "@flup/flup/middleware";
   *
   * const store = new RedisStore({ client: { sendCommand: () => Promise.resolve(0) } });
   * await store.touch("c".repeat(43), Date.now() + 1000);
   * ```
   */
  async touch(id: string, expiresAt: number): Promise<void> {
    checkSessionId(id);
    const ttl = Math.max(1, Math.ceil(expiresAt - Date.now()));
    await this.#send(["PEXPIRE", this.#prefix + id, String(ttl)]);
  }

  /**
   * Deletes a session (`DEL`).
   *
   * @param id The session id.
   * @returns Resolves when done.
   *
   * @example Destroy through a client
   * ```ts
   * import { RedisStore } from "@flup/flup/middleware";
   *
   * const store = new RedisStore({ client: { sendCommand: () => Promise.resolve(0) } });
   * await store.destroy("d".repeat(43));
   * ```
   */
  async destroy(id: string): Promise<void> {
    checkSessionId(id);
    await this.#send(["DEL", this.#prefix + id]);
  }

  /**
   * Does nothing: Redis deletes expired keys itself.
   *
   * @param _now The current time (unused).
   * @returns 0.
   *
   * @example Sweep (nothing to do)
   * ```ts
   * import { RedisStore } from "@flup/flup/middleware";
   * import { assertEquals } from "@std/assert";
   *
   * assertEquals(await new RedisStore().cleanup(Date.now()), 0);
   * ```
   */
  cleanup(_now: number): Promise<number> {
    return Promise.resolve(0);
  }

  /**
   * Closes the connection the store opened (a client you gave stays open).
   *
   * @returns Resolves when closed.
   *
   * @example Close a store that never connected
   * ```ts
   * import { RedisStore } from "@flup/flup/middleware";
   *
   * await new RedisStore().close();
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    const owned = this.#owned;
    this.#owned = undefined;
    if (owned === undefined) return;
    const connection = await owned.catch(() => undefined);
    await connection?.close();
  }

  async #send(args: string[]): Promise<unknown> {
    if (this.#closed) throw new Error("Cannot use RedisStore: it is closed");
    if (this.#given !== undefined) return await this.#given.sendCommand(args);
    this.#owned ??= this.#connect();
    const connection = await this.#owned.catch((error) => {
      // Let the next request try again.
      this.#owned = undefined;
      throw error;
    });
    return await connection.client.sendCommand(args);
  }

  async #connect(): Promise<{ client: RedisCommandClient; close(): Promise<void> }> {
    const { createClient } = await import("redis");
    let connected = false;
    const client = createClient({
      url: this.#url,
      socket: {
        connectTimeout: this.#connectTimeout,
        // The first connection fails at once (the request that needed it gets the error and
        // the next request tries again); a lost connection is retried with a backoff.
        reconnectStrategy: (retries: number, cause: Error) =>
          connected ? Math.min(50 * 2 ** retries, 2000) : cause,
      },
    });
    client.on("error", (error: unknown) => {
      this.#log("warn", `RedisStore: ${describeError(error)}`);
    });
    try {
      await client.connect();
      connected = true;
    } catch (error) {
      if (client.isOpen) client.destroy();
      throw new Error(`Cannot connect RedisStore to "${redactUrl(this.#url)}"`, { cause: error });
    }
    return {
      client: { sendCommand: (args: string[]) => client.sendCommand(args) },
      close: async () => {
        await client.close();
      },
    };
  }
}

/** The URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href;
  } catch {
    return "(invalid URL)";
  }
}
