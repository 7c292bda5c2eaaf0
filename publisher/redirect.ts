/**
 * {@linkcode Redirect} and {@linkcode InternalRedirect}: what a published function returns
 * (or throws) to send the client elsewhere, or to run another function instead.
 *
 * @example Redirect after a POST
 * ```ts
 * import { Redirect } from "@flup/flup/publisher";
 * import { assertEquals } from "@std/assert";
 *
 * const redirect = new Redirect("/done");
 * assertEquals(redirect.status, 303);
 * ```
 *
 * @module
 */

/** A redirect status {@linkcode Redirect} can send. */
export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

/** Options of {@linkcode Redirect}. */
export interface RedirectOptions {
  /**
   * The status: 303 (See Other: the client GETs the new location, right after a form POST),
   * 301/308 permanent, 302/307 temporary (307 and 308 keep the method and body).
   *
   * @default {303}
   */
  status?: RedirectStatus;
}

const REDIRECT_STATUSES: readonly number[] = [301, 302, 303, 307, 308];

/**
 * Sends the client to another URL. Return it or throw it from a published function; a
 * relative location is resolved against the request's URL. Headers and cookies already set
 * on `transaction.response` go with it.
 */
export class Redirect extends Error {
  /** Where to go: absolute, or relative to the request's URL. */
  readonly location: string;
  /** The status sent. */
  readonly status: RedirectStatus;

  /**
   * Creates a redirect.
   *
   * @param location Where to go.
   * @param options The status.
   * @throws {RangeError} When the status is not 301, 302, 303, 307 or 308.
   * @throws {TypeError} When the location has control characters.
   *
   * @example A permanent redirect
   * ```ts
   * import { Redirect } from "@flup/flup/publisher";
   *
   * const moved = new Redirect("https://example.com/new", { status: 308 });
   * ```
   */
  constructor(location: string | URL, options: RedirectOptions = {}) {
    const text = String(location);
    super(`Redirect to "${text}"`);
    this.name = "Redirect";
    const status = options.status ?? 303;
    if (!REDIRECT_STATUSES.includes(status)) {
      throw new RangeError(
        `Cannot redirect with status "${status}": use 301, 302, 303, 307 or 308`,
      );
    }
    // deno-lint-ignore no-control-regex -- refusing control characters is the point
    if (/[\x00-\x1f\x7f]/.test(text)) {
      throw new TypeError("Cannot redirect: the location has control characters");
    }
    this.location = text;
    this.status = status;
  }
}

/**
 * Runs the function at another path of the same publisher, with the same transaction
 * (request, form, response headers so far), without telling the client. The path goes
 * through the resolver like a request's path, with the same rules (`_` names stay private).
 * Up to `maxInternalRedirects` in a row.
 */
export class InternalRedirect extends Error {
  /** The path to resolve, starting with `/`, relative to the publisher's prefix. */
  readonly path: string;

  /**
   * Creates an internal redirect.
   *
   * @param path The path, starting with `/`, without query string.
   * @throws {TypeError} When the path does not start with `/` or has a `?` or `#`.
   *
   * @example Show the login page instead
   * ```ts
   * import { InternalRedirect } from "@flup/flup/publisher";
   *
   * const toLogin = new InternalRedirect("/login");
   * ```
   */
  constructor(path: string) {
    super(`Internal redirect to "${path}"`);
    this.name = "InternalRedirect";
    if (!path.startsWith("/") || /[?#]/.test(path)) {
      throw new TypeError(
        `Cannot redirect internally to "${path}": give a path that starts with "/", without "?" or "#"`,
      );
    }
    this.path = path;
  }
}
