/**
 * {@linkcode publisher}: the handler that maps URL paths to functions through a resolver, calls
 * them with a transaction and turns what they return into the response.
 *
 * @example Publish two functions
 * ```ts
 * import { expose, moduleResolver, publisher } from "@flup/flup/publisher";
 * import { assertEquals } from "@std/assert";
 *
 * const pages = {
 *   index: () => "<h1>Home</h1>",
 *   greet: expose({ params: { name: "required" } }, (_transaction, { name }) => `Hello, ${name}`),
 * };
 * const handler = publisher(moduleResolver(pages));
 * const info = {} as Parameters<typeof handler>[1];
 * const response = await handler(new Request("http://localhost/greet?name=Ada"), info);
 * assertEquals(await response.text(), "Hello, Ada");
 * assertEquals((await handler(new Request("http://localhost/greet"), info)).status, 400);
 * ```
 *
 * @module
 */

import { findSession } from "../middleware/session.ts";
import type { GatewayLogger, Handler } from "../server/types.ts";
import { bindArguments } from "./_arguments.ts";
import { DEFAULT_METHODS, exposureOf } from "./_exposed.ts";
import { readForm } from "./_form.ts";
import { simplePage } from "./_html.ts";
import { toResponse } from "./_result.ts";
import { TransactionState } from "./_transaction.ts";
import { InternalRedirect, Redirect } from "./redirect.ts";
import type { Resolver } from "./resolver.ts";

/** Options of {@linkcode publisher}. */
export interface PublisherOptions {
  /**
   * The path the publisher is mounted at, stripped before resolving; other paths get 404.
   * Starts with `/`, no trailing slash; empty for the root.
   *
   * @default {""}
   */
  prefix?: string;
  /**
   * The `Content-Type` of a returned string or stream when the function set none.
   *
   * @default {"text/html; charset=utf-8"}
   */
  defaultContentType?: string;
  /**
   * Most bytes of a form body (urlencoded or multipart); a larger one gets 413 before the
   * function runs.
   *
   * @default {1048576}
   */
  maxFormBytes?: number;
  /**
   * Most `InternalRedirect`s in a row for one request; past it the request fails (500).
   *
   * @default {10}
   */
  maxInternalRedirects?: number;
  /**
   * Receives the lines logged when a limit is hit.
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
}

const defaultLogger: GatewayLogger = (level, message) => {
  if (level === "warn" || level === "error") console.error(`flup ${level}: ${message}`);
};

/**
 * The publisher (flup's `Publisher`): for each request, the resolver maps the URL path to a
 * function, which is called with a {@linkcode Transaction} (and its declared form fields as
 * named arguments, see `expose()`); what it returns becomes the response.
 *
 * - The path is split on `/` and each segment percent-decoded; a segment that decodes to a
 *   `/` or NUL, or a path the resolver does not know, is a 404.
 * - A function accepts GET, HEAD and POST unless declared otherwise; other methods get 405
 *   with `Allow`.
 * - POST form bodies (urlencoded, multipart) are read into `transaction.form` (up to
 *   `maxFormBytes`), after the query parameters. A missing required field is a 400.
 * - The return value: a `Response` is sent as it is (`transaction.response` is then
 *   ignored); a string is sent with `defaultContentType`; a `Uint8Array`, `ArrayBuffer` or
 *   `Blob` as binary; a `ReadableStream` of strings or bytes is streamed; `undefined` or
 *   `null` is an empty body; anything else is sent as JSON. A `Redirect` or
 *   `InternalRedirect`, returned or thrown, redirects. Other throws propagate (put
 *   `errorPage()` around the publisher).
 * - With the `session()` middleware around the publisher, `transaction.session` is the
 *   session.
 *
 * @param resolver Maps paths to functions.
 * @param options The mount prefix, content type, limits and logger.
 * @returns The handler.
 * @throws {TypeError} When `prefix` is malformed.
 * @throws {RangeError} When a limit is not a positive whole number.
 *
 * @example Mount under a prefix
 * ```ts
 * import { functionResolver, publisher } from "@flup/flup/publisher";
 * import { assertEquals } from "@std/assert";
 *
 * const handler = publisher(functionResolver((t) => `${t.scriptName}|${t.pathInfo}`), {
 *   prefix: "/app",
 * });
 * const info = {} as Parameters<typeof handler>[1];
 * assertEquals(await (await handler(new Request("http://localhost/app/x/y"), info)).text(), "/app|/x/y");
 * assertEquals((await handler(new Request("http://localhost/other"), info)).status, 404);
 * ```
 */
export function publisher(resolver: Resolver, options: PublisherOptions = {}): Handler {
  const prefix = options.prefix ?? "";
  if (prefix !== "" && (!prefix.startsWith("/") || prefix.endsWith("/"))) {
    throw new TypeError(
      `Cannot mount the publisher at "${prefix}": start with "/" and end without one`,
    );
  }
  const defaultContentType = options.defaultContentType ?? "text/html; charset=utf-8";
  const maxFormBytes = positive("maxFormBytes", options.maxFormBytes ?? 1_048_576);
  const maxInternalRedirects = positive("maxInternalRedirects", options.maxInternalRedirects ?? 10);
  const log = options.log ?? defaultLogger;

  return async function publisherHandler(request, info) {
    const url = new URL(request.url);
    let path: string;
    if (prefix === "") {
      path = url.pathname;
    } else if (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)) {
      path = url.pathname.slice(prefix.length) || "/";
    } else {
      return page(404, "Not Found", "The requested URL was not found on this server.");
    }
    const transaction = new TransactionState(request, info, url, findSession(request) ?? null);
    let formRead = false;
    for (let redirects = 0;; redirects++) {
      const segments = splitPath(path);
      const resolved = segments === null ? null : await resolver.resolve(segments);
      if (segments === null || resolved === null) {
        return page(404, "Not Found", "The requested URL was not found on this server.");
      }
      const exposure = exposureOf(resolved.endpoint);
      const methods = exposure?.methods ?? DEFAULT_METHODS;
      if (!methods.includes(request.method)) {
        const response = page(
          405,
          "Method Not Allowed",
          `The method ${request.method} is not allowed here.`,
        );
        response.headers.set("allow", methods.join(", "));
        return response;
      }
      if (!formRead) {
        formRead = true;
        const result = await readForm(request, url, maxFormBytes, () => {
          log("warn", `maxFormBytes (${maxFormBytes}) reached: ${request.method} ${url.pathname}`);
        });
        if (!result.ok) {
          return page(
            result.status,
            result.status === 413 ? "Content Too Large" : "Bad Request",
            result.message,
          );
        }
        transaction.form = result.form;
      }
      let args = {};
      if (exposure !== undefined) {
        const bound = bindArguments(exposure.params, transaction.form);
        if (!bound.ok) return page(400, "Bad Request", bound.message);
        args = bound.args;
      }
      const used = segments.slice(0, resolved.consumed);
      const rest = segments.slice(resolved.consumed);
      transaction.scriptName = prefix + used.map((segment) => `/${segment}`).join("");
      transaction.pathInfo = rest.length === 0 && resolved.consumed === 0
        ? "/"
        : rest.map((segment) => `/${segment}`).join("");
      let result: unknown;
      try {
        result = await resolved.endpoint(transaction, args);
      } catch (error) {
        if (!(error instanceof Redirect) && !(error instanceof InternalRedirect)) throw error;
        result = error;
      }
      if (!(result instanceof InternalRedirect)) {
        return toResponse(result, transaction, defaultContentType);
      }
      if (redirects >= maxInternalRedirects) {
        log(
          "warn",
          `maxInternalRedirects (${maxInternalRedirects}) reached: ${request.method} ${url.pathname}`,
        );
        throw new Error(
          `Cannot publish ${url.pathname}: more than ${maxInternalRedirects} internal redirects`,
        );
      }
      path = result.path;
    }
  };
}

/** Splits a path into decoded segments; `null` when a segment cannot be a name. */
function splitPath(path: string): string[] | null {
  if (path === "/" || path === "") return [];
  const segments: string[] = [];
  for (const raw of path.slice(1).split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment.includes("/") || segment.includes("\0")) return null;
    segments.push(segment);
  }
  return segments;
}

function page(status: number, title: string, message: string): Response {
  return new Response(simplePage(title, message), {
    status,
    headers: { "content-type": "text/html; charset=utf-8" },
  });
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Cannot use ${name} "${value}": it must be a whole number above 0`);
  }
  return value;
}
