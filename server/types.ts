/**
 * The application contract shared by every gateway: `Handler`, `GatewayInfo`, and the options
 * and server shape common to FastCGI, SCGI, AJP and CGI.
 *
 * @example A handler that runs unchanged under Deno.serve and every gateway
 * ```ts
 * import type { Handler } from "@flup/flup";
 *
 * const handler: Handler = (request, info) =>
 *   new Response(`${request.method} ${new URL(request.url).pathname} via ${info.protocol}`);
 * ```
 *
 * @module
 */

import type { ProtocolName } from "./errors.ts";

export type { ProtocolName };

/** FastCGI roles (spec section 6); other protocols always report `"responder"`. */
export type GatewayRole = "responder" | "authorizer" | "filter";

/**
 * What a handler learns beside the `Request`: what `Deno.ServeHandlerInfo` offers, plus the raw
 * gateway variables.
 */
export interface GatewayInfo {
  /** The end client's address (REMOTE_ADDR/REMOTE_PORT), else the front end's connection. */
  readonly remoteAddr: Deno.NetAddr;
  /**
   * Settles when the response has been fully handed to the front end: resolves then, or rejects
   * with a `RequestAbortedError` when it could not be (abort, closed connection). Rejections are
   * marked handled; attach `.catch()` to observe them.
   */
  readonly completed: Promise<void>;
  /** The raw CGI variables / FastCGI params / SCGI headers / AJP attributes, read-only. */
  readonly env: Readonly<Record<string, string>>;
  /** The protocol the request came over. */
  readonly protocol: ProtocolName;
  /** The FastCGI role; `"responder"` for the other protocols. */
  readonly role: GatewayRole;
  /** The FastCGI Filter role's FCGI_DATA stream (the file to filter); `null` otherwise. */
  readonly data: ReadableStream<Uint8Array> | null;
  /**
   * Writes to the front end's error log where the protocol has one (FastCGI FCGI_STDERR, CGI
   * stderr), else to the server's log. Never reaches the client.
   *
   * @param message Text or bytes to log.
   */
  writeStderr(message: string | Uint8Array): void;
}

/**
 * A Fetch handler: exactly the `Deno.serve` handler shape.
 *
 * @param request The request rebuilt from the gateway variables, body streamed.
 * @param info The client address, completion promise and raw gateway variables.
 * @returns The response, or a promise of it.
 */
export type Handler = (request: Request, info: GatewayInfo) => Response | Promise<Response>;

/** A module in the `deno serve` shape: `export default { fetch }`. */
export interface ServeModule {
  /** The handler. */
  fetch: Handler;
}

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Receives the server's log lines. Lines about a hit limit or timeout name the option.
 *
 * @param level Severity.
 * @param message One line, no trailing newline.
 */
export type GatewayLogger = (level: LogLevel, message: string) => void;

/**
 * Where a gateway listens: TCP (`hostname`/`port`), a Unix socket (`path`), a ready
 * `Deno.Listener` (`listener`), or the listening socket inherited on file descriptor 0
 * (`fd: 0`, the spawn-fcgi / mod_fcgid / lighttpd `bin-path` convention). Give one of them.
 */
export interface ListenOptions {
  /**
   * TCP address to bind; anything but loopback must be given explicitly.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * TCP port; 0 picks a free one.
   *
   * @default {9000}
   */
  port?: number;
  /**
   * A Unix socket path. A stale socket file there (connecting is refused) is replaced; a live
   * or busy one (full accept queue) is refused. On close the file is removed if it is still
   * the one this server bound.
   */
  path?: string;
  /**
   * Mode of a Unix socket file.
   *
   * @default {0o660}
   */
  socketMode?: number;
  /** A listener that is already bound; the server closes it on shutdown. */
  listener?: Deno.Listener;
  /** `0` to serve on the listening socket inherited on file descriptor 0. */
  fd?: 0;
}

/** Limits, timeouts and hooks every gateway server takes. */
export interface GatewayOptions extends ListenOptions {
  /** Aborting it starts a graceful shutdown. */
  signal?: AbortSignal;
  /**
   * Called once the server listens.
   *
   * @param addr The bound address.
   */
  onListen?: (addr: Deno.Addr) => void;
  /**
   * Called when the handler throws, rejects or returns a non-Response. The returned `Response`
   * (if any) is sent instead of the generic 500 page.
   *
   * @param error What went wrong.
   * @param request The request being handled.
   */
  onError?: (error: unknown, request: Request) => Response | void | Promise<Response | void>;
  /**
   * Receives log lines; the default writes warnings and errors to stderr.
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
  /**
   * Show error details to clients (never in production). Logs a warning at start.
   *
   * @default {false}
   */
  debug?: boolean;
  /**
   * Peers allowed to connect: IPv4 or IPv6 addresses or CIDR blocks. Empty allows any (the
   * default bind is loopback). Unix socket peers are governed by the socket's file mode.
   *
   * @default {[]}
   */
  allowedAddresses?: readonly string[];
  /**
   * Most concurrent connections; past it requests are refused as overloaded (FastCGI
   * FCGI_OVERLOADED, else 503), never queued without bound.
   *
   * @default {1024}
   */
  maxConnections?: number;
  /**
   * Most bytes of params / CGI variables / headers in one request, checked before allocation.
   *
   * @default {65536}
   */
  maxParamsBytes?: number;
  /**
   * Most params / variables / headers in one request.
   *
   * @default {1000}
   */
  maxParamsPairs?: number;
  /**
   * Most request body bytes; a larger body errors the body stream and answers 413.
   *
   * @default {1073741824}
   */
  maxBodyBytes?: number;
  /**
   * Bytes of request body read ahead of the handler; past it the server stops reading.
   *
   * @default {65536}
   */
  bodyBufferSize?: number;
  /**
   * Milliseconds a new request may take to send its params / headers.
   *
   * @default {30000}
   */
  paramsTimeout?: number;
  /**
   * Milliseconds the request body may stay idle while the handler waits for it.
   *
   * @default {60000}
   */
  bodyTimeout?: number;
  /**
   * Milliseconds an idle kept-alive connection stays open. Keep it above the front end's own
   * idle timeout (nginx upstream `keepalive_timeout` is 60 s).
   *
   * @default {120000}
   */
  keepAliveTimeout?: number;
  /**
   * Milliseconds in-flight requests get to finish on shutdown before they are aborted.
   *
   * @default {10000}
   */
  drainTimeout?: number;
  /**
   * Milliseconds a handler may take to return its `Response`; then `request.signal` aborts and
   * the client gets a 503. Off by default; a function sets it per request (`undefined` = off).
   *
   * @default {undefined}
   */
  handlerTimeout?: number | ((request: Request) => number | undefined);
}

/** A running gateway server. */
export interface GatewayServer extends AsyncDisposable {
  /** Resolves with the bound address once listening; rejects if binding failed. */
  readonly ready: Promise<Deno.Addr>;
  /** Settles when the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish within `drainTimeout`, then aborts them.
   *
   * @returns Resolves like `finished`.
   */
  shutdown(): Promise<void>;
}
