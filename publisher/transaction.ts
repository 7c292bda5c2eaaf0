/**
 * {@linkcode Transaction}: what a published function gets, flup's transaction: the request,
 * the response it shapes, the form, and the session when the session middleware is present.
 *
 * @example A function that reads the form and sets a header
 * ```ts
 * import type { Transaction } from "@flup/flup/publisher";
 *
 * export function hello(transaction: Transaction): string {
 *   const name = transaction.form.get("name") ?? "world";
 *   transaction.response.headers.set("cache-control", "no-store");
 *   return `<p>Hello, ${String(name)}</p>`;
 * }
 * ```
 *
 * @module
 */

import type { CookieOptions } from "../middleware/cookie.ts";
import type { Session } from "../middleware/session.ts";
import type { GatewayInfo } from "../server/types.ts";

/** The response a published function shapes before returning its body. */
export interface TransactionResponse {
  /**
   * The status sent with the returned body (a returned `Response` keeps its own).
   *
   * @default {200}
   */
  status: number;
  /**
   * The reason phrase; empty leaves the standard one.
   *
   * @default {""}
   */
  statusText: string;
  /** Headers sent with the returned body, `Set-Cookie` lines included. */
  readonly headers: Headers;
  /**
   * Adds a `Set-Cookie` header. Defaults are the safe ones: `Path=/`, `HttpOnly`,
   * `SameSite=Lax`, and `Secure` when the request came over HTTPS; `options` override them.
   *
   * @param name The cookie's name.
   * @param value The value (cookie-octets only; encode anything else).
   * @param options Attributes.
   */
  setCookie(name: string, value: string, options?: CookieOptions): void;
  /**
   * Adds a `Set-Cookie` header that deletes a cookie.
   *
   * @param name The cookie's name.
   * @param options The `path` and `domain` the cookie was set with.
   */
  deleteCookie(name: string, options?: Pick<CookieOptions, "path" | "domain">): void;
}

/** One request through the publisher, as a published function sees it. */
export interface Transaction {
  /** The request. Its body is already read when it was a POSTed form (see `form`). */
  readonly request: Request;
  /** What the gateway knows beside the request (client address, CGI variables...). */
  readonly info: GatewayInfo;
  /** The request's URL, parsed. */
  readonly url: URL;
  /**
   * The path up to and including the resolved function's name, with the publisher's prefix
   * (flup's `SCRIPT_NAME` after resolution), e.g. `"/app/blog/entry"`.
   */
  readonly scriptName: string;
  /** The rest of the path after the function's name (flup's `PATH_INFO`), e.g. `"/42"`. */
  readonly pathInfo: string;
  /**
   * Query parameters and, for a POST with an `application/x-www-form-urlencoded` or
   * `multipart/form-data` body, the form fields (uploads as `File`), query first. Other
   * bodies are left in `request` for the function to read.
   */
  readonly form: FormData;
  /** The request's cookies, the first value of each name. */
  readonly cookies: ReadonlyMap<string, string>;
  /**
   * The session when the `session()` middleware wraps the publisher, else `null`. For typed
   * values use `getSession<T>(transaction.request)`.
   */
  readonly session: Session | null;
  /** The status, headers and cookies sent with the returned body. */
  readonly response: TransactionResponse;
}
