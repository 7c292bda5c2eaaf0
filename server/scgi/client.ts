/**
 * The SCGI client: sends a `Request` to an SCGI backend (a flup app, Python's scgi, any SCGI
 * responder) and returns its answer as a `Response`. flup's `scgi_app`, for Deno.
 *
 * @example Forward requests from Deno.serve to an SCGI backend
 * ```ts ignore
 * import { ScgiClient } from "@flup/flup/scgi";
 *
 * const backend = new ScgiClient({ address: "127.0.0.1:4000", scriptName: "" });
 * Deno.serve({ hostname: "127.0.0.1", port: 8080 }, (request, info) =>
 *   backend.fetch(request, { remoteAddr: info.remoteAddr }));
 * ```
 *
 * @module
 */

import { defaultLogger, logLimit } from "../_log.ts";
import type { GatewayLogger, LogLevel } from "../types.ts";
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
import {
  ScgiExchange,
  type ScgiExchangeResult,
  type ScgiExchangeSettings,
} from "./_client_exchange.ts";
import { Slots, type SlotStats } from "./_client_slots.ts";
import { tickFor, Watchdog } from "../_client_watchdog.ts";

export type {
  CgiParamsOptions,
  ClientAddress,
  ClientRequestInit,
  GatewayLogger,
  LogLevel,
  SlotStats,
};

/** Options of {@linkcode ScgiClient} and {@linkcode scgiFetch}. */
export interface ScgiClientOptions extends CgiParamsOptions {
  /** The backend: `"127.0.0.1:4000"`, `"[::1]:4000"`, `"unix:/PATH"`, or an address object. */
  address: string | ClientAddress;
  /**
   * Most connections (SCGI: requests) open at once; more requests wait in a queue.
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
   * Most bytes of the CGI response head (`Status:` and the headers).
   *
   * @default {65536}
   */
  maxResponseHeadBytes?: number;
  /**
   * SCGI needs `CONTENT_LENGTH` first: a request body without `content-length` (chunked) is
   * read into memory up to this many bytes to learn it; a longer one fails (a proxy answers 413).
   *
   * @default {16777216}
   */
  maxBufferedBodyBytes?: number;
  /**
   * Most local redirects (a `Location:` path without `Status:`, RFC 3875 section 6.2.2)
   * followed for one request; the last one then goes to the caller as a 302.
   *
   * @default {5}
   */
  maxLocalRedirects?: number;
  /**
   * Receives log lines (limits and timeouts hit).
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
}

/** The counts {@linkcode ScgiClient.stats} reports. */
export type ScgiClientStats = SlotStats;

const DEFAULTS = {
  maxConnections: 64,
  maxQueued: 1024,
  connectTimeout: 5000,
  requestTimeout: 60_000,
  readTimeout: 300_000,
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

/**
 * An SCGI client for one backend. Each request opens its own connection (SCGI carries one
 * request per connection): the header block with `CONTENT_LENGTH` first, the body streamed,
 * then the CGI response (`Status:`, `Location:`, headers) whose body streams to the caller as
 * it arrives, until the backend closes. Params are built as for the FastCGI client. Aborting
 * `request.signal` closes the connection (SCGI has no abort message).
 *
 * Permissions: `--allow-net=HOST:PORT` for TCP; a Unix socket needs `--allow-read` and
 * `--allow-write` of its path.
 *
 * @example Ask a flup SCGI server
 * ```ts
 * import { ScgiClient, serveScgi } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * const server = serveScgi((request) => new Response(`hi ${new URL(request.url).pathname}`), {
 *   port: 0,
 * });
 * const { port } = (await server.ready) as Deno.NetAddr;
 * const client = new ScgiClient({ address: { hostname: "127.0.0.1", port } });
 * const response = await client.fetch(new Request("http://localhost/there"));
 * assertEquals(await response.text(), "hi /there");
 * await server.shutdown();
 * ```
 */
export class ScgiClient implements AsyncDisposable {
  /** The backend address as `HOST:PORT` or `unix:/PATH`. */
  readonly address: string;
  #address: ResolvedAddress;
  #options: ScgiClientOptions;
  #settings: ScgiExchangeSettings;
  #slots: Slots;
  #connectTimeout: number;
  #maxBufferedBodyBytes: number;
  #maxLocalRedirects: number;
  #log: GatewayLogger;
  #watchdog: Watchdog;

  /**
   * Makes a client.
   *
   * @param options The backend address, limits, timeouts and how params are built.
   * @throws {TypeError} On a bad address.
   * @throws {RangeError} On a non-positive limit or timeout.
   */
  constructor(options: ScgiClientOptions) {
    this.#address = resolveAddress(options.address);
    this.address = describeAddress(this.#address);
    this.#options = options;
    const log = options.log ?? defaultLogger;
    this.#log = log;
    const requestTimeout = positive(
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
    this.#watchdog = new Watchdog(tickFor(requestTimeout, readTimeout));
    this.#settings = {
      requestTimeout,
      readTimeout,
      maxResponseHeadBytes: positive(
        "maxResponseHeadBytes",
        options.maxResponseHeadBytes,
        DEFAULTS.maxResponseHeadBytes,
      ),
      log,
      watchdog: this.#watchdog,
    };
    this.#slots = new Slots(
      positive("maxConnections", options.maxConnections, DEFAULTS.maxConnections),
      positive("maxQueued", options.maxQueued, DEFAULTS.maxQueued),
      requestTimeout,
      log,
    );
  }

  /** Connections open and requests waiting for one. */
  get stats(): ScgiClientStats {
    return this.#slots.stats;
  }

  /**
   * Sends `request` to the backend.
   *
   * @param request The request; its body is streamed, its signal closes the connection.
   * @param init What only the caller knows: the client's address, extra params.
   * @returns The backend's response; its body streams as the backend writes it.
   * @throws {ConnectionClosedError} When the backend cannot be reached or closes early.
   * @throws {LimitExceededError} When a timeout or limit of the options is hit (`option` says
   * which).
   * @throws {ProtocolError} On a malformed answer (protocol `"scgi"`) or a request path that
   * must not reach a backend (protocol `"http"`).
   *
   * @example Usage
   * ```ts ignore
   * const response = await client.fetch(new Request("http://localhost/app?x=1"));
   * ```
   */
  async fetch(request: Request, init: ClientRequestInit = {}): Promise<Response> {
    const deadline = Date.now() + this.#settings.requestTimeout;
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
  ): Promise<ScgiExchangeResult> {
    const body = request.body === null
      ? noBody(request)
      : await prepareBody(request, this.#maxBufferedBodyBytes, false, "scgi");
    const params = buildCgiParams(request, body.length ?? 0, this.#options, init);
    await this.#slots.acquire(deadline, request.signal);
    let conn: Deno.Conn;
    try {
      conn = await connectBackend(this.#address, this.#connectTimeout, "scgi", this.#log);
    } catch (error) {
      this.#slots.release();
      throw error;
    }
    const exchange = new ScgiExchange(conn, request, this.#settings, this.#slots.release);
    return await exchange.run(params, body, deadline, follow);
  }

  /**
   * Stops the client's timeout checks once no request is in flight (SCGI keeps no idle
   * connections, so nothing else is held).
   *
   * @example Usage
   * ```ts ignore
   * await client.close();
   * ```
   */
  close(): Promise<void> {
    this.#watchdog.stopIfIdle();
    return Promise.resolve();
  }

  /** Closes the client, as {@linkcode ScgiClient.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Sends one request to an SCGI backend, as {@linkcode ScgiClient.fetch} does.
 *
 * @param request The request.
 * @param options The backend address, params and timeouts.
 * @param init What only the caller knows: the client's address, extra params.
 * @returns The backend's response.
 *
 * @example Usage
 * ```ts
 * import { scgiFetch, serveScgi } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * const server = serveScgi(() => new Response("once"), { port: 0 });
 * const { port } = (await server.ready) as Deno.NetAddr;
 * const response = await scgiFetch(new Request("http://localhost/"), {
 *   address: `127.0.0.1:${port}`,
 * });
 * assertEquals(await response.text(), "once");
 * await server.shutdown();
 * ```
 */
export async function scgiFetch(
  request: Request,
  options: ScgiClientOptions,
  init: ClientRequestInit = {},
): Promise<Response> {
  const client = new ScgiClient(options);
  try {
    return await client.fetch(request, init);
  } finally {
    await client.close();
  }
}
