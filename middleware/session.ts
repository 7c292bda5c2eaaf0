/**
 * {@linkcode session}: a server-side session per client, kept in a {@linkcode SessionStore} and
 * named by a cookie; {@linkcode getSession} reaches it from the handler.
 *
 * @example Count visits
 * ```ts
 * import { getSession, MemoryStore, session } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * const store = new MemoryStore();
 * const handler = session(store)((request) => {
 *   const visits = getSession<{ visits: number }>(request);
 *   visits.set("visits", (visits.get("visits") ?? 0) + 1);
 *   return new Response(`${visits.get("visits")}`);
 * });
 * const info = {} as Parameters<typeof handler>[1];
 * const first = await handler(new Request("http://localhost/"), info);
 * const cookie = first.headers.get("set-cookie")?.split(";")[0] ?? "";
 * const second = await handler(new Request("http://localhost/", { headers: { cookie } }), info);
 * assertEquals(await second.text(), "2");
 * await store.close();
 * ```
 *
 * @module
 */

import type { GatewayLogger, Handler } from "../server/types.ts";
import { formatSetCookie, parseCookieHeader } from "./cookie.ts";
import { checkInteger, defaultLogger, describeError } from "./_log.ts";
import { editHeaders } from "./_response.ts";
import { isSessionId } from "./_session_id.ts";
import { type CookieAction, SessionState } from "./_session_state.ts";
import type { SessionStore } from "./session_store.ts";
import type { JsonValue, Middleware } from "./types.ts";

/** Session values by key, when no more precise type is given. */
export type SessionData = Record<string, JsonValue>;

/**
 * The session of one request, as the handler sees it. Values are plain JSON; `get()` returns
 * a fresh copy, so after changing an object or array, `set()` it again.
 *
 * Nothing is stored, and no cookie is sent, until the handler writes something: a client
 * gets a session id with its first `set()`. Changes are written once the handler has
 * returned its `Response` (not when it throws).
 */
export interface Session<T extends { [K in keyof T]: JsonValue } = SessionData> {
  /** The session id, or `null` while nothing is stored (a new client, or after `destroy()`). */
  readonly id: string | null;
  /** `true` unless the session was loaded from the store for this request. */
  readonly isNew: boolean;
  /** Whether this request changed anything (the session is saved only then). */
  readonly changed: boolean;
  /**
   * Reads a value.
   *
   * @param key The key.
   * @returns A copy of the value, or `undefined` when unset.
   */
  get<K extends keyof T & string>(key: K): T[K] | undefined;
  /**
   * Writes a value (copied at once, as JSON).
   *
   * @param key The key, a non-empty string.
   * @param value Plain JSON: strings, finite numbers, booleans, `null`, arrays, plain objects.
   * @throws {TypeError} When the value is not plain JSON (a Date, a Map, a function, NaN...).
   */
  set<K extends keyof T & string>(key: K, value: T[K]): void;
  /**
   * Whether a key is set.
   *
   * @param key The key.
   * @returns `true` when set.
   */
  has(key: keyof T & string): boolean;
  /**
   * Deletes a key.
   *
   * @param key The key.
   * @returns `true` when it was set.
   */
  delete(key: keyof T & string): boolean;
  /**
   * The keys that are set.
   *
   * @returns The keys, in insertion order.
   */
  keys(): (keyof T & string)[];
  /** Deletes every key (the session and its id stay). */
  clear(): void;
  /**
   * Moves the session to a new id and deletes the old one: call it when the user's privilege
   * changes (log in, log out) so that an id seen before cannot be used after (session fixation).
   */
  regenerate(): void;
  /** Deletes the session and its cookie; a later `set()` starts a new session with a new id. */
  destroy(): void;
}

/** The session cookie's attributes. */
export interface SessionCookieOptions {
  /**
   * The cookie's name (an RFC 6265 token).
   *
   * @default {"flup_session"}
   */
  name?: string;
  /**
   * The `Path` attribute.
   *
   * @default {"/"}
   */
  path?: string;
  /**
   * The `Domain` attribute; without it the cookie goes back to this host only.
   *
   * @default {undefined}
   */
  domain?: string;
  /**
   * The cookie's lifetime in milliseconds (sent as `Max-Age` in seconds). Without it the
   * cookie lasts until the browser closes; the session itself ends after `idleTimeout`.
   *
   * @default {undefined}
   */
  maxAge?: number;
  /**
   * `Secure`: `"auto"` sets it when the request came over HTTPS (the gateway's `HTTPS`
   * variable, or an `https:` URL under `Deno.serve`).
   *
   * @default {"auto"}
   */
  secure?: boolean | "auto";
  /**
   * The `SameSite` attribute. `"None"` needs a secure cookie.
   *
   * @default {"Lax"}
   */
  sameSite?: "Strict" | "Lax" | "None";
}

/** Options of {@linkcode session}. */
export interface SessionOptions {
  /**
   * The cookie's name and attributes. It is always `HttpOnly`.
   *
   * @default {{ name: "flup_session", path: "/", secure: "auto", sameSite: "Lax" }}
   */
  cookie?: SessionCookieOptions;
  /**
   * Milliseconds a session lives after its last write; reads renew it once less than half
   * remains. An expired session is gone: its cookie starts a new one.
   *
   * @default {1800000}
   */
  idleTimeout?: number;
  /**
   * Milliseconds between two sweeps of expired sessions from the store, run in the background
   * by the first request after the interval (the first request of a process sweeps too);
   * 0 never sweeps (Redis expires keys on its own).
   *
   * @default {300000}
   */
  cleanupInterval?: number;
  /**
   * Receives log lines: failed sweeps, writes dropped because the session was destroyed.
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
}

/** Where a request's session hangs: a symbol shared by every copy of this module. */
const SESSION = Symbol.for("flup.session");

/**
 * The session middleware: gives each request a {@linkcode Session} (reach it with
 * {@linkcode getSession}), kept in `store` and named by an `HttpOnly`, `SameSite=Lax` cookie
 * (`Secure` over HTTPS).
 *
 * - Ids come only from the cookie, never from the URL; they are 256 random bits, and an id the
 *   store does not know is never adopted (a new session gets a new id), so an attacker cannot
 *   choose a victim's id.
 * - A session is written only when the request changed it, after the handler returned.
 * - Concurrent requests of one session merge per key, last writer wins: two requests that
 *   write different keys both keep their writes; two that write the same key keep the later
 *   save. A write to a session that another request destroyed meanwhile is dropped (logged
 *   as a warning), so a logout is never undone by a request still in flight.
 * - Expired sessions are swept every `cleanupInterval` in the background.
 *
 * @param store Where sessions live: {@linkcode MemoryStore} (one process only),
 *   `FileStore`, `SqliteStore` (the default for pools) or `RedisStore` (many machines).
 * @param options Cookie attributes, expiry and sweeping.
 * @returns The middleware.
 * @throws {TypeError} When the cookie name is not a token or `sameSite: "None"` is not secure.
 * @throws {RangeError} When a duration is out of range.
 *
 * @example Log in with a regenerated id
 * ```ts
 * import { getSession, MemoryStore, session } from "@flup/flup/middleware";
 * import { assertMatch } from "@std/assert";
 *
 * const store = new MemoryStore();
 * const handler = session(store, { cookie: { name: "sid" } })((request) => {
 *   const current = getSession(request);
 *   current.regenerate();
 *   current.set("user", "ada");
 *   return new Response("welcome");
 * });
 * const info = {} as Parameters<typeof handler>[1];
 * const response = await handler(new Request("https://example.com/login"), info);
 * assertMatch(
 *   response.headers.get("set-cookie") ?? "",
 *   /^sid=[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
 * );
 * await store.close();
 * ```
 */
export function session(store: SessionStore, options: SessionOptions = {}): Middleware {
  const cookie = options.cookie ?? {};
  const name = cookie.name ?? "flup_session";
  const path = cookie.path ?? "/";
  const sameSite = cookie.sameSite ?? "Lax";
  const secure = cookie.secure ?? "auto";
  if (sameSite === "None" && secure === false) {
    throw new TypeError('Cannot use session cookie sameSite "None": it needs secure');
  }
  const maxAge = cookie.maxAge === undefined
    ? undefined
    : checkInteger("cookie.maxAge", cookie.maxAge, 0, 400 * 86_400_000);
  const idleTimeout = checkInteger("idleTimeout", options.idleTimeout ?? 1_800_000, 1000, 2 ** 40);
  const cleanupInterval = checkInteger(
    "cleanupInterval",
    options.cleanupInterval ?? 300_000,
    0,
    2 ** 40,
  );
  const log = options.log ?? defaultLogger;
  // Fail now, not on the first request, when a cookie attribute is unusable.
  formatSetCookie(name, "", { path, ...(cookie.domain ? { domain: cookie.domain } : {}) });
  let nextCleanup = cleanupInterval > 0 ? 0 : Infinity;

  const setCookie = (action: CookieAction, https: boolean): string | null => {
    if (action === null || (action.type === "set" && action.renewal && maxAge === undefined)) {
      return null;
    }
    const attributes = {
      path,
      ...(cookie.domain !== undefined ? { domain: cookie.domain } : {}),
      httpOnly: true,
      secure: secure === "auto" ? https || sameSite === "None" : secure,
      sameSite,
    };
    if (action.type === "delete") {
      return formatSetCookie(name, "", { ...attributes, maxAge: 0, expires: new Date(0) });
    }
    return formatSetCookie(name, action.id, {
      ...attributes,
      ...(maxAge !== undefined ? { maxAge } : {}),
    });
  };

  return function sessionMiddleware(next: Handler): Handler {
    return async function sessionHandler(request, info) {
      const now = Date.now();
      if (now >= nextCleanup) {
        nextCleanup = now + cleanupInterval;
        store.cleanup(now).then(
          (count) => {
            if (count > 0) log("info", `session: swept ${count} expired sessions`);
          },
          (error) =>
            log("warn", `session: sweeping expired sessions failed: ${describeError(error)}`),
        );
      }
      const id = parseCookieHeader(request.headers.get("cookie")).get(name);
      let state: SessionState;
      if (id === undefined) {
        state = new SessionState(null, false);
      } else {
        const stored = isSessionId(id) ? await store.load(id) : null;
        state = stored === null
          ? new SessionState(null, true)
          : new SessionState({ id, ...stored }, false);
      }
      Object.defineProperty(request, SESSION, { value: state, configurable: true });
      const response = await next(request, info);
      const result = await state.commit(store, Date.now(), idleTimeout);
      if (result.dropped) {
        log(
          "warn",
          `session: writes of ${request.method} ${new URL(request.url).pathname} dropped: ` +
            "another request destroyed the session meanwhile",
        );
      }
      const line = setCookie(result.cookie, new URL(request.url).protocol === "https:");
      if (line === null) return response;
      return editHeaders(response, (headers) => {
        headers.append("set-cookie", line);
        // A response that sets a session cookie must not be cached for others.
        if (!headers.has("cache-control")) headers.set("cache-control", "private, no-cache");
      });
    };
  };
}

/**
 * The request's session, when the {@linkcode session} middleware wraps the handler.
 *
 * @typeParam T The session's values by key.
 * @param request The request the handler received.
 * @returns The session, or `undefined` without the session middleware.
 *
 * @example Work with or without sessions
 * ```ts
 * import { findSession } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(findSession(new Request("http://localhost/")), undefined);
 * ```
 */
export function findSession<T extends { [K in keyof T]: JsonValue } = SessionData>(
  request: Request,
): Session<T> | undefined {
  return (request as unknown as Record<symbol, Session<T> | undefined>)[SESSION];
}

/**
 * The request's session.
 *
 * @typeParam T The session's values by key, e.g. `{ user: string; visits: number }`.
 * @param request The request the handler received.
 * @returns The session.
 * @throws {TypeError} When the {@linkcode session} middleware does not wrap the handler.
 *
 * @example Typed values
 * ```ts
 * import { getSession, MemoryStore, session } from "@flup/flup/middleware";
 *
 * interface Cart {
 *   items: string[];
 * }
 * const store = new MemoryStore();
 * const handler = session(store)((request) => {
 *   const cart = getSession<Cart>(request);
 *   cart.set("items", [...(cart.get("items") ?? []), "apple"]);
 *   return new Response(`${cart.get("items")?.length} items`);
 * });
 * await handler(new Request("http://localhost/"), {} as Parameters<typeof handler>[1]);
 * await store.close();
 * ```
 */
export function getSession<T extends { [K in keyof T]: JsonValue } = SessionData>(
  request: Request,
): Session<T> {
  const found = findSession<T>(request);
  if (found === undefined) {
    throw new TypeError(
      "Cannot get the session: the session() middleware does not wrap this handler",
    );
  }
  return found;
}
