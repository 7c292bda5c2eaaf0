// One request's view of its session: the values (as JSON text), what changed, and the commit
// that writes the changes to the store once the handler has answered.

import type { Session, SessionData } from "./session.ts";
import type { SessionChanges, SessionStore } from "./session_store.ts";
import type { JsonValue } from "./types.ts";
import { newSessionId } from "./_session_id.ts";

/** How deep a session value may nest; deeper values are refused as not plain JSON. */
const MAX_DEPTH = 64;

/** What the commit asks of the response's cookie. */
export type CookieAction =
  /** Send the id; `renewal` when only the expiry moved (worth sending with a cookie max-age). */
  | { type: "set"; id: string; renewal: boolean }
  | { type: "delete" }
  | null;

/** The outcome of {@linkcode SessionState.commit}. */
export interface CommitResult {
  cookie: CookieAction;
  /** The session was destroyed by another request meanwhile, so this one's writes were dropped. */
  dropped: boolean;
}

/** Checks that `value` is plain JSON (what JSON.parse gives back) or throws a TypeError. */
function checkJson(key: string, value: unknown, depth = 0): void {
  if (depth > MAX_DEPTH) {
    throw new TypeError(`Cannot set session key "${key}": value nests deeper than ${MAX_DEPTH}`);
  }
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return;
    throw new TypeError(`Cannot set session key "${key}": ${value} is not a JSON number`);
  }
  if (Array.isArray(value)) {
    for (const item of value) checkJson(key, item, depth + 1);
    return;
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const item of Object.values(value)) checkJson(key, item, depth + 1);
      return;
    }
  }
  const kind = typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value;
  throw new TypeError(`Cannot set session key "${key}": a ${kind} is not plain JSON`);
}

/** The session of one request. */
export class SessionState<T extends { [K in keyof T]: JsonValue } = SessionData>
  implements Session<T> {
  #id: string | null;
  /** The id as it exists in the store, when this request loaded it. */
  #storedId: string | null;
  #values: Map<string, string>;
  #expiresAt: number;
  #set = new Map<string, string>();
  #deleted = new Set<string>();
  #replace = false;
  #destroyIds: string[] = [];
  /** The request carried a cookie that named no live session. */
  #staleCookie: boolean;

  constructor(
    stored: { id: string; values: Map<string, string>; expiresAt: number } | null,
    staleCookie: boolean,
  ) {
    this.#id = stored?.id ?? null;
    this.#storedId = this.#id;
    this.#values = stored?.values ?? new Map();
    this.#expiresAt = stored?.expiresAt ?? 0;
    this.#staleCookie = staleCookie;
  }

  get id(): string | null {
    return this.#id;
  }

  get isNew(): boolean {
    return this.#storedId === null;
  }

  get changed(): boolean {
    return this.#set.size > 0 || this.#deleted.size > 0 || this.#replace ||
      this.#destroyIds.length > 0;
  }

  get<K extends keyof T & string>(key: K): T[K] | undefined {
    const text = this.#values.get(key);
    return text === undefined ? undefined : JSON.parse(text) as T[K];
  }

  set<K extends keyof T & string>(key: K, value: T[K]): void {
    if (typeof key !== "string" || key === "") {
      throw new TypeError("Cannot set session key: it must be a non-empty string");
    }
    const text = JSON.stringify(value);
    if (text === undefined) {
      throw new TypeError(`Cannot set session key "${key}": a ${typeof value} is not plain JSON`);
    }
    checkJson(key, value);
    this.#id ??= newSessionId();
    this.#values.set(key, text);
    this.#set.set(key, text);
    this.#deleted.delete(key);
  }

  has(key: keyof T & string): boolean {
    return this.#values.has(key);
  }

  delete(key: keyof T & string): boolean {
    if (!this.#values.delete(key)) return false;
    this.#set.delete(key);
    if (!this.#replace) this.#deleted.add(key);
    return true;
  }

  keys(): (keyof T & string)[] {
    return [...this.#values.keys()] as (keyof T & string)[];
  }

  clear(): void {
    for (const key of [...this.#values.keys()]) this.delete(key as keyof T & string);
  }

  regenerate(): void {
    if (this.#id === null) return;
    if (this.#storedId !== null) {
      this.#destroyIds.push(this.#storedId);
      this.#storedId = null;
      this.#replace = true;
      this.#set = new Map(this.#values);
      this.#deleted.clear();
    }
    this.#id = newSessionId();
  }

  destroy(): void {
    if (this.#storedId !== null) this.#destroyIds.push(this.#storedId);
    this.#storedId = null;
    this.#id = null;
    this.#values = new Map();
    this.#set = new Map();
    this.#deleted.clear();
    this.#replace = false;
  }

  /**
   * Writes this request's changes: the session's keys (merged per key with what other
   * requests wrote), then deletes destroyed or regenerated-from sessions. An unchanged session
   * is only touched, when less than half of `idleTimeout` remains.
   */
  async commit(store: SessionStore, now: number, idleTimeout: number): Promise<CommitResult> {
    let cookie: CookieAction = null;
    let dropped = false;
    const expiresAt = now + idleTimeout;
    if (this.#id !== null && (this.#set.size > 0 || this.#deleted.size > 0 || this.#replace)) {
      const changes: SessionChanges = {
        set: this.#set,
        delete: [...this.#deleted],
        replace: this.#replace,
      };
      const create = this.#storedId === null;
      if (await store.save(this.#id, changes, expiresAt, create)) {
        cookie = { type: "set", id: this.#id, renewal: false };
      } else {
        dropped = true;
      }
    } else if (this.#id !== null && this.#expiresAt - now < idleTimeout / 2) {
      await store.touch(this.#id, expiresAt);
      cookie = { type: "set", id: this.#id, renewal: true };
    }
    for (const id of this.#destroyIds) await store.destroy(id);
    if (cookie === null && (this.#destroyIds.length > 0 || this.#staleCookie || dropped)) {
      cookie = { type: "delete" };
    }
    return { cookie, dropped };
  }
}
