// Handler call and Response -> bytes, written once for every protocol (DESIGN section 2).

import { encodeLatin1Into } from "./_text.ts";
import { LimitExceededError, ProtocolError } from "./errors.ts";
import type { ResolvedOptions } from "./_options.ts";
import type { GatewayInfo, Handler } from "./types.ts";

/** Reason phrases for the `Status:` line when a Response has no statusText. */
const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  418: "I'm a teapot",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** The reason phrase for `status`. */
export function reasonPhrase(status: number, statusText = ""): string {
  return statusText || REASONS[status] || "Unknown";
}

/** A request being served: what the protocol reader and the responder share. */
export interface Exchange {
  /** The rebuilt request. */
  readonly request: Request;
  /** The handler's info. */
  readonly info: GatewayInfo;
  /** The error the reader put into the body stream (bad length, body limit), if any. */
  bodyFailure: unknown;
  /** Aborts `request.signal` with `reason`. */
  abort(reason: unknown): void;
}

/** `true` when a response to `method` with `status` carries a body (not HEAD, 1xx, 204, 304). */
export function responseHasBody(method: string, status: number): boolean {
  return method !== "HEAD" && status !== 204 && status !== 304 && status >= 200;
}

/** A plain-text response with no-store caching, for errors the gateway answers itself. */
export function plainResponse(status: number, text: string): Response {
  return new Response(text + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

function errorStatus(exchange: Exchange, error: unknown): number {
  const failure = exchange.bodyFailure;
  if (failure === undefined) return 500;
  const matched = error === failure || (error instanceof Error && error.cause === failure);
  if (!matched) return 500;
  return failure instanceof LimitExceededError ? 413 : failure instanceof ProtocolError ? 400 : 500;
}

/**
 * Calls the handler and always returns a Response: a throw, rejection or non-Response becomes
 * `onError`'s response or a generic 500 (400/413 when it came from a bad request body), a
 * handler timeout a 503. Details reach the log, and the client only with `debug`.
 */
export async function callHandler(
  handler: Handler,
  exchange: Exchange,
  options: ResolvedOptions,
): Promise<Response> {
  const { request, info } = exchange;
  const timeout = typeof options.handlerTimeout === "function"
    ? options.handlerTimeout(request)
    : options.handlerTimeout;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    let result: unknown;
    if (timeout === undefined) {
      result = await handler(request, info);
    } else {
      const timedOut = Symbol("timeout");
      const race = await Promise.race([
        handler(request, info),
        new Promise<symbol>((resolve) => {
          timer = setTimeout(() => resolve(timedOut), timeout);
        }),
      ]);
      if (race === timedOut) {
        options.log(
          "warn",
          `handlerTimeout (${timeout}) reached: ${request.method} ${request.url} took longer`,
        );
        exchange.abort(new DOMException("Handler timed out", "TimeoutError"));
        return plainResponse(503, "Service Unavailable");
      }
      result = race;
    }
    if (!(result instanceof Response)) {
      throw new TypeError(`Handler returned "${typeof result}", not a Response`);
    }
    return result;
  } catch (error) {
    return await errorResponse(error, exchange, options);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

async function errorResponse(
  error: unknown,
  exchange: Exchange,
  options: ResolvedOptions,
): Promise<Response> {
  const status = errorStatus(exchange, error);
  const { request } = exchange;
  if (status === 500) {
    options.log("error", `Handler failed for ${request.method} ${request.url}: ${describe(error)}`);
    if (options.onError) {
      try {
        const custom = await options.onError(error, request);
        if (custom instanceof Response) return custom;
      } catch (hookError) {
        options.log("error", `onError failed: ${describe(hookError)}`);
      }
    }
  }
  const text = reasonPhrase(status);
  if (options.debug) return plainResponse(status, `${text}\n\n${describe(error)}`);
  return plainResponse(status, text);
}

/** A one-line-or-stack description of an error for logs. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * The CGI-style response head: `Status:` line, every header (each Set-Cookie on its own line),
 * blank line. Header values are byte strings, so this is Latin-1 text.
 */
export function encodeCgiHead(response: Response): string {
  let head = `Status: ${response.status} ${reasonPhrase(response.status, response.statusText)}\r\n`;
  // forEach visits the same sorted, combined list as the iterator (each Set-Cookie on its
  // own), without an iterator object and a result array per header: about 5x faster.
  response.headers.forEach((value, name) => {
    head += `${name}: ${value}\r\n`;
  });
  return head + "\r\n";
}

/** Latin-1 bytes of a byte string (every char code is below 256). */
export function encodeLatin1(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  encodeLatin1Into(text, bytes, 0);
  return bytes;
}

/** Where a response body goes: a protocol frames chunks, and sends them on `flush`. */
export interface ResponseSink {
  /** Bytes queued and not yet flushed. */
  readonly pending: number;
  /** Queues an owned chunk. */
  write(chunk: Uint8Array): void;
  /** Sends what is queued. */
  flush(): Promise<void>;
}

/** Chunks that are ready together are sent together, up to this many bytes. */
const COALESCE_LIMIT = 65536;

/**
 * Copies a response body to `sink`. Chunks the stream has ready at once are coalesced into one
 * flush (so a small body goes out with the head in one write); a chunk that is not ready yet
 * flushes what is queued first, so streamed responses reach the client as they are produced.
 * Returns with the last chunk queued but not flushed: the caller adds the end marker and
 * flushes, so the end of a small response shares that write too.
 */
export async function pipeBody(
  body: ReadableStream<Uint8Array>,
  sink: ResponseSink,
  stop: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  // The front end went away: cancel the body so a waiting producer (SSE, a pipe) is released.
  const onStop = (): void => void reader.cancel(stop.reason).catch(() => {});
  stop.addEventListener("abort", onStop, { once: true });
  try {
    while (true) {
      const next = reader.read();
      if (sink.pending > 0) {
        if (sink.pending >= COALESCE_LIMIT || !(await settlesSoon(next))) await sink.flush();
      }
      const { done, value } = await next;
      if (stop.aborted) throw stop.reason;
      // The stream is closed: the lock is kept, since releasing it makes a TypeError (with its
      // stack trace) for the reader's closed promise, a cost per response for nothing.
      if (done) return;
      if (value.byteLength > 0) sink.write(value);
    }
  } catch (error) {
    reader.cancel(error).catch(() => {});
    reader.releaseLock();
    throw error;
  } finally {
    stop.removeEventListener("abort", onStop);
  }
}

/**
 * `true` when `promise` settles within a few microtask turns: a stream that already holds its
 * next chunk (or its end) answers that fast; one waiting for the producer does not.
 */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  for (let i = 0; i < 6 && !settled; i++) await undefined;
  return settled;
}
