/**
 * Cookie helpers shared by the session middleware and the publisher: read the request's
 * `Cookie` header and write one `Set-Cookie` line, strictly per RFC 6265.
 *
 * @example Read a cookie and set another
 * ```ts
 * import { formatSetCookie, parseCookieHeader } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * const cookies = parseCookieHeader("theme=dark; lang=en");
 * assertEquals(cookies.get("lang"), "en");
 * assertEquals(
 *   formatSetCookie("theme", "light", { path: "/", httpOnly: true }),
 *   "theme=light; Path=/; HttpOnly",
 * );
 * ```
 *
 * @module
 */

/** Attributes of one `Set-Cookie` line (RFC 6265 section 4.1). */
export interface CookieOptions {
  /**
   * The `Path` attribute.
   *
   * @default {undefined}
   */
  path?: string;
  /**
   * The `Domain` attribute; without it the cookie goes back to this host only.
   *
   * @default {undefined}
   */
  domain?: string;
  /**
   * Lifetime in milliseconds (as every duration in flup), sent as `Max-Age` in whole seconds;
   * 0 deletes the cookie. Without it the cookie lasts until the browser closes.
   *
   * @default {undefined}
   */
  maxAge?: number;
  /**
   * The `Expires` attribute, for clients that ignore `Max-Age`.
   *
   * @default {undefined}
   */
  expires?: Date;
  /**
   * `HttpOnly`: scripts in the page cannot read the cookie.
   *
   * @default {false}
   */
  httpOnly?: boolean;
  /**
   * `Secure`: the cookie is sent back over HTTPS only.
   *
   * @default {false}
   */
  secure?: boolean;
  /**
   * The `SameSite` attribute; `"None"` needs `secure`.
   *
   * @default {undefined}
   */
  sameSite?: "Strict" | "Lax" | "None";
}

// RFC 6265 section 4.1.1: cookie-name is an RFC 2616 token; cookie-octet excludes CTLs,
// whitespace, DQUOTE, comma, semicolon and backslash.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
// av-octet: any CHAR except CTLs or ";".
const ATTRIBUTE_VALUE = /^[\x20-\x3A\x3C-\x7E]*$/;

/**
 * Reads a request's `Cookie` header into a map. When a name repeats, the first value wins
 * (browsers send the cookie with the most specific path first). Pairs without `=` are
 * skipped; a value in double quotes loses them. Values are not decoded.
 *
 * @param header The `Cookie` header's value, or `null` when absent.
 * @returns The cookies by name.
 *
 * @example Read the cookies of a request
 * ```ts
 * import { parseCookieHeader } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * const request = new Request("http://localhost/", { headers: { cookie: 'a=1; b="2"; a=3' } });
 * const cookies = parseCookieHeader(request.headers.get("cookie"));
 * assertEquals([...cookies], [["a", "1"], ["b", "2"]]);
 * ```
 */
export function parseCookieHeader(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>();
  if (header === null) return cookies;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals === -1) continue;
    const name = pair.slice(0, equals).trim();
    let value = pair.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    if (name === "" || cookies.has(name)) continue;
    cookies.set(name, value);
  }
  return cookies;
}

/**
 * Writes one `Set-Cookie` header value.
 *
 * @param name The cookie's name: an RFC 6265 token.
 * @param value The value: cookie-octets only (no space, `"`, `,`, `;` or `\`); encode
 *   anything else first, for example with `encodeURIComponent`.
 * @param options The attributes.
 * @returns The header value, attributes in a fixed order.
 * @throws {TypeError} When the name, value or an attribute has characters a cookie cannot
 *   carry, or `sameSite: "None"` comes without `secure`.
 * @throws {RangeError} When `maxAge` is negative or not a finite number.
 *
 * @example Delete a cookie
 * ```ts
 * import { formatSetCookie } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(formatSetCookie("sid", "", { path: "/", maxAge: 0 }), "sid=; Path=/; Max-Age=0");
 * ```
 */
export function formatSetCookie(name: string, value: string, options: CookieOptions = {}): string {
  if (!TOKEN.test(name)) throw new TypeError(`Cannot set cookie "${name}": invalid name`);
  if (!COOKIE_VALUE.test(value)) {
    throw new TypeError(
      `Cannot set cookie "${name}": its value has characters a cookie cannot carry`,
    );
  }
  const parts = [`${name}=${value}`];
  const attribute = (label: string, text: string): void => {
    if (!ATTRIBUTE_VALUE.test(text)) {
      throw new TypeError(`Cannot set cookie "${name}": invalid ${label} "${text}"`);
    }
    parts.push(`${label}=${text}`);
  };
  if (options.path !== undefined) attribute("Path", options.path);
  if (options.domain !== undefined) attribute("Domain", options.domain);
  if (options.maxAge !== undefined) {
    if (!Number.isFinite(options.maxAge) || options.maxAge < 0) {
      throw new RangeError(`Cannot set cookie "${name}": maxAge must be 0 or more milliseconds`);
    }
    parts.push(`Max-Age=${Math.floor(options.maxAge / 1000)}`);
  }
  if (options.expires !== undefined) parts.push(`Expires=${options.expires.toUTCString()}`);
  if (options.httpOnly) parts.push("HttpOnly");
  if (options.secure) parts.push("Secure");
  if (options.sameSite !== undefined) {
    if (options.sameSite === "None" && !options.secure) {
      throw new TypeError(`Cannot set cookie "${name}": sameSite "None" needs secure`);
    }
    parts.push(`SameSite=${options.sameSite}`);
  }
  return parts.join("; ");
}
