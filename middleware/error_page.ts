/**
 * {@linkcode errorPage}: turns a handler's throw or rejection into an error page, logs it
 * with a request id, and reports it to an `onError` hook at a bounded rate.
 *
 * @example A generic page in production
 * ```ts
 * import { errorPage } from "@flup/flup/middleware";
 * import { assertEquals, assertStringIncludes } from "@std/assert";
 *
 * const handler = errorPage({ log: () => {} })(() => {
 *   throw new Error("database password is hunter2");
 * });
 * const response = await handler(new Request("http://localhost/"), {} as Parameters<typeof handler>[1]);
 * assertEquals(response.status, 500);
 * const page = await response.text();
 * assertStringIncludes(page, response.headers.get("x-request-id") ?? "missing");
 * assertEquals(page.includes("hunter2"), false);
 * ```
 *
 * @module
 */

import type { GatewayLogger, Handler } from "../server/types.ts";
import { checkInteger, defaultLogger } from "./_log.ts";
import { escapeHtml } from "./_html.ts";
import type { Middleware } from "./types.ts";

/** What {@linkcode ErrorPageOptions.onError} learns about one error. */
export interface ErrorReport {
  /** What was thrown. */
  error: unknown;
  /** The request that failed. */
  request: Request;
  /** The id shown to the client and written to the log. */
  requestId: string;
  /** Errors since the previous report that `onErrorInterval` kept from the hook. */
  suppressed: number;
  /** `true` when the body stream failed after the response had started. */
  duringBody: boolean;
}

/** Options of {@linkcode errorPage}. */
export interface ErrorPageOptions {
  /**
   * Show the error's message and stack (HTML-escaped) to the client. For development only:
   * a warning is logged when the middleware is created with it.
   *
   * @default {false}
   */
  debug?: boolean;
  /**
   * Called for an error (logging, alerting); at most once per `onErrorInterval`, the errors
   * in between are counted in the next report's `suppressed`. Its own failures are logged.
   *
   * @default {undefined}
   */
  onError?: (report: ErrorReport) => void | Promise<void>;
  /**
   * Milliseconds between two `onError` calls (flup's `emailInterval`, which kept an
   * administrator's mailbox from filling up); 0 calls it for every error.
   *
   * @default {60000}
   */
  onErrorInterval?: number;
  /**
   * Receives one `error` line per failure, with the request id and the stack.
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
  /**
   * The production page's HTML, given the request id (already safe to embed).
   *
   * @default {a short "Internal Server Error" page that shows the request id}
   */
  page?: (requestId: string) => string;
}

/**
 * The error middleware: catches what the handler throws or rejects with (and a non-Response
 * return), answers 500 with a generic page that shows a request id (also sent as
 * `X-Request-Id` and written to the log, to find the error from a user's report), or with
 * the error and its stack when `debug` is on. An error in a response's body stream after the
 * headers were sent cannot change the status: it is logged and reported, and the stream
 * fails (the front end ends the response early).
 *
 * Put it outermost, so that it also catches what other middleware throws.
 *
 * @param options Debug mode, the hook and its rate, the log and the page.
 * @returns The middleware.
 * @throws {RangeError} When `onErrorInterval` is negative or not whole.
 *
 * @example Report errors to a hook, at most one per minute
 * ```ts
 * import { errorPage } from "@flup/flup/middleware";
 *
 * const middleware = errorPage({
 *   onError: ({ requestId, error, suppressed }) =>
 *     console.log(`alert: ${requestId} ${error} (+${suppressed} more)`),
 *   onErrorInterval: 60_000,
 * });
 * ```
 */
export function errorPage(options: ErrorPageOptions = {}): Middleware {
  const debug = options.debug ?? false;
  const interval = checkInteger(
    "onErrorInterval",
    options.onErrorInterval ?? 60_000,
    0,
    2 ** 40,
  );
  const log = options.log ?? defaultLogger;
  const page = options.page ?? genericPage;
  const onError = options.onError;
  if (debug) log("warn", "errorPage: debug is on, clients see error details (never in production)");
  let lastReport = -Infinity;
  let suppressed = 0;

  const report = (error: unknown, request: Request, requestId: string, duringBody: boolean) => {
    const stack = error instanceof Error
      ? (error.stack ?? `${error.name}: ${error.message}`)
      : String(error);
    const where = `${request.method} ${new URL(request.url).pathname}`;
    const now = Date.now();
    let note = "";
    if (onError !== undefined) {
      if (now - lastReport >= interval) {
        lastReport = now;
        const count = suppressed;
        suppressed = 0;
        const hook = async () => {
          try {
            await onError({ error, request, requestId, suppressed: count, duringBody });
          } catch (hookError) {
            log("error", `errorPage: onError failed: ${String(hookError)}`);
          }
        };
        void hook();
      } else {
        suppressed++;
        note = ` (not passed to onError: onErrorInterval (${interval}) not elapsed)`;
      }
    }
    log(
      "error",
      `${
        duringBody ? "body stream of " : ""
      }${where} failed, request id ${requestId}${note}: ${stack}`,
    );
  };

  return function errorPageMiddleware(next: Handler): Handler {
    return async function errorPageHandler(request, info) {
      let response: unknown;
      try {
        response = await next(request, info);
        if (!(response instanceof Response)) {
          throw new TypeError(
            `Cannot send the handler's answer: it returned ${
              describeValue(response)
            }, not a Response`,
          );
        }
      } catch (error) {
        const requestId = newRequestId();
        report(error, request, requestId, false);
        const html = debug ? debugPage(error, request, requestId) : page(requestId);
        return new Response(html, {
          status: 500,
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "x-request-id": requestId,
          },
        });
      }
      if (response.body === null) return response;
      return new Response(
        guardBody(response.body, (error) => {
          report(error, request, newRequestId(), true);
        }),
        response,
      );
    };
  };
}

/** Passes a body through; an error from it is reported, then fails the stream. */
function guardBody(
  body: ReadableStream<Uint8Array>,
  onFailure: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        onFailure(error);
        controller.error(error);
        return;
      }
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return `a ${value.constructor?.name ?? "object"}`;
  return typeof value === "undefined" ? "undefined" : `a ${typeof value}`;
}

function genericPage(requestId: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Internal Server Error</title></head>
<body><h1>Internal Server Error</h1>
<p>The server could not complete your request. Please try again later.</p>
<p>If you report this, quote request id <code>${escapeHtml(requestId)}</code>.</p>
</body></html>
`;
}

function debugPage(error: unknown, request: Request, requestId: string): string {
  const title = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const stack = error instanceof Error ? (error.stack ?? title) : title;
  const cause = error instanceof Error && error.cause !== undefined
    ? `<h2>Cause</h2><pre>${
      escapeHtml(
        error.cause instanceof Error
          ? (error.cause.stack ?? String(error.cause))
          : String(error.cause),
      )
    }</pre>`
    : "";
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(request.method)} ${escapeHtml(request.url)}, request id <code>${
    escapeHtml(requestId)
  }</code></p>
<pre>${escapeHtml(stack)}</pre>${cause}
<p>(Shown because errorPage's debug option is on.)</p>
</body></html>
`;
}
