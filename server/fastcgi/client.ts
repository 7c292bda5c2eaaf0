/**
 * The FastCGI client: sends a `Request` to a FastCGI backend (php-fpm, a flup app, any
 * FastCGI 1.0 responder) and returns its answer as a `Response`, over a pool of kept-alive
 * connections. flup's `fcgi_app`, for Deno.
 *
 * @example Front php-fpm from Deno.serve
 * ```ts ignore
 * import { FastCgiClient } from "@flup/flup/fastcgi";
 *
 * const php = new FastCgiClient({
 *   address: "unix:/run/php/php8.2-fpm.sock",
 *   documentRoot: "/var/www/html",
 * });
 * Deno.serve({ hostname: "127.0.0.1", port: 8080 }, (request, info) =>
 *   php.fetch(request, { remoteAddr: info.remoteAddr }));
 * ```
 *
 * @module
 */

import { ConnectionClosedError, LimitExceededError, ProtocolError } from "../errors.ts";
import { defaultLogger, logLimit } from "../_log.ts";
import type { GatewayLogger, LogLevel } from "../types.ts";
import { NULL_REQUEST_ID, RECORD_TYPE, VALUE_NAME } from "./constants.ts";
import { decodeParams, encodeParams } from "./params.ts";
import { encodedStreamLength, encodeRecord } from "./record.ts";
import {
  type ClientAddress,
  connectBackend,
  describeAddress,
  resolveAddress,
  type ResolvedAddress,
} from "../_client_address.ts";
import {
  buildCgiParams,
  type CgiParamsOptions,
  type ClientRequestInit,
  noBody,
  prepareBody,
  redirectRequest,
} from "../_client_cgi.ts";
import { ClientConnection } from "./_client_connection.ts";
import { Exchange, type ExchangeResult, type ExchangeSettings } from "./_client_exchange.ts";
import { ConnectionPool, type PoolStats } from "./_client_pool.ts";
import { tickFor, Watchdog } from "../_client_watchdog.ts";

export type {
  CgiParamsOptions,
  ClientAddress,
  ClientRequestInit,
  GatewayLogger,
  LogLevel,
  PoolStats,
};

/** Options of {@linkcode FastCgiClient} and {@linkcode fastCgiFetch}. */
export interface FastCgiClientOptions extends CgiParamsOptions {
  /** The backend: `"127.0.0.1:9000"`, `"[::1]:9000"`, `"unix:/PATH"`, or an address object. */
  address: string | ClientAddress;
  /**
   * Ask the backend to keep the connection open (FCGI_KEEP_CONN) and reuse it.
   *
   * @default {true}
   */
  keepAlive?: boolean;
  /**
   * Most connections open to the backend at once; more requests wait in a queue. Keep it at or
   * below what the backend serves at once (php-fpm `pm.max_children`).
   *
   * @default {64}
   */
  maxConnections?: number;
  /**
   * Most requests waiting for a connection; past it a request fails at once.
   *
   * @default {1024}
   */
  maxQueued?: number;
  /**
   * Milliseconds a connect may take.
   *
   * @default {5000}
   */
  connectTimeout?: number;
  /**
   * Milliseconds a kept connection may stay idle before the client closes it. Keep it below the
   * backend's own idle timeout (flup's `keepAliveTimeout` is 120 s).
   *
   * @default {60000}
   */
  idleTimeout?: number;
  /**
   * Milliseconds from the call to the response head (waiting for a connection included).
   *
   * @default {60000}
   */
  requestTimeout?: number;
  /**
   * Milliseconds the response body may wait for its next bytes while the caller reads it.
   *
   * @default {300000}
   */
  readTimeout?: number;
  /**
   * Milliseconds to wait for END_REQUEST after FCGI_ABORT_REQUEST before the connection is
   * closed instead of reused.
   *
   * @default {2000}
   */
  abortTimeout?: number;
  /**
   * Most bytes of the CGI response head (`Status:` and the headers).
   *
   * @default {65536}
   */
  maxResponseHeadBytes?: number;
  /**
   * A request body without `content-length` (chunked) is read into memory up to this many bytes
   * so that `CONTENT_LENGTH` can be sent, as nginx does; a longer one fails (a proxy answers
   * 413).
   *
   * @default {16777216}
   */
  maxBufferedBodyBytes?: number;
  /**
   * Stream a body of unknown length without `CONTENT_LENGTH` instead of buffering it. Only for
   * backends that read STDIN to its end (flup does; php-fpm does not).
   *
   * @default {false}
   */
  streamUnknownLength?: boolean;
  /**
   * Most local redirects (a `Location:` path without `Status:`, RFC 3875 section 6.2.2)
   * followed for one request; the last one then goes to the caller as a 302.
   *
   * @default {5}
   */
  maxLocalRedirects?: number;
  /**
   * Receives what the backend writes to FCGI_STDERR.
   *
   * @default {a "warn" log line}
   */
  onStderr?: (message: string, request: Request) => void;
  /**
   * Receives log lines (limits and timeouts hit, stderr by default).
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
}

/** The counts {@linkcode FastCgiClient.stats} reports. */
export type FastCgiClientStats = PoolStats;

const DEFAULTS = {
  maxConnections: 64,
  maxQueued: 1024,
  connectTimeout: 5000,
  idleTimeout: 60_000,
  requestTimeout: 60_000,
  readTimeout: 300_000,
  abortTimeout: 2000,
  maxResponseHeadBytes: 65536,
  maxBufferedBodyBytes: 16 * 1024 * 1024,
  maxLocalRedirects: 5,
} as const;

function positive(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!(result > 0) || !Number.isFinite(result)) {
    throw new RangeError(`Cannot create client: "${name}" must be positive, got "${value}"`);
  }
  return result;
}

function isDeadConnection(error: unknown): boolean {
  return error instanceof ConnectionClosedError || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.NotConnected;
}

/**
 * A FastCGI client with a pool of kept-alive connections to one backend.
 *
 * `fetch(request)` sends the request as FastCGI params built the way nginx's `fastcgi_params`
 * builds them (plus `HTTP_*` for each header), streams the body as STDIN, and resolves with the
 * Response once the CGI head (`Status:`, `Location:`, headers) is in; the body then streams as
 * the backend writes it. `request.signal` sends FCGI_ABORT_REQUEST. A kept connection found
 * dead before any answer is retried once on a new one.
 *
 * Permissions: `--allow-net=HOST:PORT` for TCP; a Unix socket needs `--allow-read` and
 * `--allow-write` of its path.
 *
 * @example Ask a flup FastCGI server
 * ```ts
 * import { FastCgiClient, serveFastCgi } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const server = serveFastCgi((request) => new Response(`hi ${new URL(request.url).pathname}`), {
 *   port: 0,
 * });
 * const addr = (await server.ready) as Deno.NetAddr;
 * await using client = new FastCgiClient({ address: `127.0.0.1:${addr.port}` });
 * const response = await client.fetch(new Request("http://localhost/there"));
 * assertEquals(await response.text(), "hi /there");
 * await server.shutdown();
 * ```
 */
export class FastCgiClient implements AsyncDisposable {
  /** The backend address as `HOST:PORT` or `unix:/PATH`. */
  readonly address: string;
  #address: ResolvedAddress;
  #options: FastCgiClientOptions;
  #settings: ExchangeSettings;
  #pool: ConnectionPool;
  #maxBufferedBodyBytes: number;
  #maxLocalRedirects: number;
  #requestTimeout: number;
  #connectTimeout: number;
  #log: GatewayLogger;
  #watchdog: Watchdog;

  /**
   * Makes a client; no connection is opened until the first request.
   *
   * @param options The backend address, pool limits, timeouts and how params are built.
   * @throws {TypeError} On a bad address.
   * @throws {RangeError} On a non-positive limit or timeout.
   */
  constructor(options: FastCgiClientOptions) {
    this.#address = resolveAddress(options.address);
    this.address = describeAddress(this.#address);
    this.#options = options;
    const log = options.log ?? defaultLogger;
    this.#log = log;
    this.#requestTimeout = positive(
      "requestTimeout",
      options.requestTimeout,
      DEFAULTS.requestTimeout,
    );
    this.#connectTimeout = positive(
      "connectTimeout",
      options.connectTimeout,
      DEFAULTS.connectTimeout,
    );
    this.#maxBufferedBodyBytes = positive(
      "maxBufferedBodyBytes",
      options.maxBufferedBodyBytes,
      DEFAULTS.maxBufferedBodyBytes,
    );
    const redirects = options.maxLocalRedirects ?? DEFAULTS.maxLocalRedirects;
    if (!Number.isInteger(redirects) || redirects < 0) {
      throw new RangeError(`Cannot create client: "maxLocalRedirects" is "${redirects}"`);
    }
    this.#maxLocalRedirects = redirects;
    const readTimeout = positive("readTimeout", options.readTimeout, DEFAULTS.readTimeout);
    const abortTimeout = positive("abortTimeout", options.abortTimeout, DEFAULTS.abortTimeout);
    const idleTimeout = positive("idleTimeout", options.idleTimeout, DEFAULTS.idleTimeout);
    this.#watchdog = new Watchdog(
      tickFor(this.#requestTimeout, readTimeout, abortTimeout, idleTimeout),
    );
    this.#settings = {
      keepAlive: options.keepAlive ?? true,
      requestTimeout: this.#requestTimeout,
      readTimeout,
      abortTimeout,
      maxResponseHeadBytes: positive(
        "maxResponseHeadBytes",
        options.maxResponseHeadBytes,
        DEFAULTS.maxResponseHeadBytes,
      ),
      log,
      onStderr: options.onStderr ??
        ((message, request) =>
          log("warn", `FastCGI stderr (${request.method} ${request.url}): ${message.trimEnd()}`)),
      watchdog: this.#watchdog,
    };
    this.#pool = new ConnectionPool({
      address: this.#address,
      maxConnections: positive("maxConnections", options.maxConnections, DEFAULTS.maxConnections),
      maxQueued: positive("maxQueued", options.maxQueued, DEFAULTS.maxQueued),
      connectTimeout: this.#connectTimeout,
      idleTimeout,
      requestTimeout: this.#requestTimeout,
      log,
      watchdog: this.#watchdog,
    });
  }

  /** Connections open and idle, and requests waiting for one. */
  get stats(): FastCgiClientStats {
    return this.#pool.stats;
  }

  /**
   * Sends `request` to the backend.
   *
   * @param request The request; its body is streamed, its signal aborts the exchange.
   * @param init What only the caller knows: the client's address, extra params.
   * @returns The backend's response; its body streams as the backend writes it.
   * @throws {ConnectionClosedError} When the backend cannot be reached or closes early.
   * @throws {LimitExceededError} When a timeout or limit of the options is hit (`option` says
   * which).
   * @throws {ProtocolError} On a malformed answer (protocol `"fastcgi"`) or a request path that
   * must not reach a backend (protocol `"http"`).
   *
   * @example Usage
   * ```ts ignore
   * const response = await client.fetch(new Request("http://localhost/index.php?x=1"));
   * ```
   */
  async fetch(request: Request, init: ClientRequestInit = {}): Promise<Response> {
    const deadline = Date.now() + this.#requestTimeout;
    let current = request;
    for (let redirects = 0;; redirects++) {
      const follow = redirects < this.#maxLocalRedirects;
      const { head, response } = await this.#send(current, init, deadline, follow);
      if (response) {
        if (!follow && head.localRedirect !== null) {
          logLimit(this.#log, "maxLocalRedirects", this.#maxLocalRedirects, request.url);
        }
        return response;
      }
      current = redirectRequest(current, head.localRedirect!);
    }
  }

  async #send(
    request: Request,
    init: ClientRequestInit,
    deadline: number,
    follow: boolean,
  ): Promise<ExchangeResult> {
    const body = request.body === null ? noBody(request) : await prepareBody(
      request,
      this.#maxBufferedBodyBytes,
      this.#options.streamUnknownLength ?? false,
      "fastcgi",
    );
    const params = buildCgiParams(request, body.length, this.#options, init);
    for (let attempt = 0;; attempt++) {
      // A kept connection is taken without a turn of the event loop; else acquire waits.
      const { connection, reused } = (attempt === 0 ? this.#pool.takeIdle() : null) ??
        await this.#pool.acquire(deadline, request.signal, attempt > 0);
      const exchange = new Exchange(connection, request, this.#settings, this.#pool.release);
      try {
        return await exchange.run(params, body, deadline, follow);
      } catch (error) {
        const retry = attempt === 0 && reused && !exchange.receivedAny && !exchange.bodyTaken &&
          !request.signal.aborted && isDeadConnection(error);
        if (!retry) throw error;
        this.#log("debug", `kept connection to ${this.address} was closed; retrying once`);
      }
    }
  }

  /**
   * Asks the backend for FCGI_GET_VALUES on a connection of its own (closed afterwards).
   *
   * @param names The variables to ask for.
   * @returns The variables the backend answered (unknown ones are left out, as the spec says).
   * @throws {ConnectionClosedError} When the backend cannot be reached or does not answer.
   * @throws {LimitExceededError} (option `requestTimeout`) When the answer takes too long.
   *
   * @example Usage
   * ```ts ignore
   * const values = await client.getValues();
   * console.log(values.FCGI_MAX_CONNS);
   * ```
   */
  async getValues(
    names: readonly string[] = [VALUE_NAME.MaxConns, VALUE_NAME.MaxReqs, VALUE_NAME.MpxsConns],
  ): Promise<Record<string, string>> {
    const conn = await connectBackend(this.#address, this.#connectTimeout, "fastcgi", this.#log);
    const connection = new ClientConnection(conn);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      logLimit(this.#log, "requestTimeout", this.#requestTimeout, "FCGI_GET_VALUES");
      connection.close();
    }, this.#requestTimeout);
    try {
      const content = encodeParams(names.map((name) => [name, ""] as const));
      const out = new Uint8Array(encodedStreamLength(content.length));
      encodeRecord(out, 0, RECORD_TYPE.GetValues, NULL_REQUEST_ID, content);
      await connection.write(out);
      while (await connection.nextRecord()) {
        const { type, content } = connection.decoder;
        if (type === RECORD_TYPE.GetValuesResult) {
          const pairs = decodeParams(content, { maxBytes: 65535, maxPairs: 1000 });
          const values: Record<string, string> = {};
          for (let i = 0; i < pairs.length; i += 2) values[pairs[i]!] = pairs[i + 1]!;
          return values;
        }
        if (type === RECORD_TYPE.UnknownType) {
          throw new ProtocolError("Cannot get FastCGI values: the backend does not know them", {
            protocol: "fastcgi",
          });
        }
      }
      if (timedOut) {
        throw new LimitExceededError(
          `Cannot get FastCGI values: no answer within "${this.#requestTimeout}" ms`,
          { option: "requestTimeout", limit: this.#requestTimeout, protocol: "fastcgi" },
        );
      }
      throw new ConnectionClosedError(
        "Cannot get FastCGI values: the backend closed the connection without an answer",
        { protocol: "fastcgi" },
      );
    } finally {
      clearTimeout(timer);
      connection.close();
    }
  }

  /**
   * Closes idle connections and refuses new requests; responses still streaming finish first.
   *
   * @example Usage
   * ```ts ignore
   * await client.close();
   * ```
   */
  close(): Promise<void> {
    this.#pool.close();
    this.#watchdog.stopIfIdle();
    return Promise.resolve();
  }

  /** Closes the client, as {@linkcode FastCgiClient.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Sends one request to a FastCGI backend on a connection of its own (closed afterwards).
 * For more than one request, a {@linkcode FastCgiClient} keeps connections open.
 *
 * @param request The request.
 * @param options The backend address, params and timeouts.
 * @param init What only the caller knows: the client's address, extra params.
 * @returns The backend's response.
 *
 * @example Usage
 * ```ts
 * import { fastCgiFetch, serveFastCgi } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const server = serveFastCgi(() => new Response("once"), { port: 0 });
 * const { port } = (await server.ready) as Deno.NetAddr;
 * const response = await fastCgiFetch(new Request("http://localhost/"), {
 *   address: { hostname: "127.0.0.1", port },
 * });
 * assertEquals(await response.text(), "once");
 * await server.shutdown();
 * ```
 */
export async function fastCgiFetch(
  request: Request,
  options: FastCgiClientOptions,
  init: ClientRequestInit = {},
): Promise<Response> {
  const client = new FastCgiClient({ ...options, keepAlive: false, maxConnections: 1 });
  try {
    return await client.fetch(request, init);
  } finally {
    await client.close();
  }
}
