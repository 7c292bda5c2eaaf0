/**
 * A handler that forwards every request to a FastCGI or SCGI backend through a client, so a
 * backend (php-fpm, a flup app) can be served by `Deno.serve`, wrapped in middleware, or mounted
 * inside another handler.
 *
 * @example Serve php-fpm over HTTP on localhost
 * ```ts ignore
 * import { createProxyHandler, FastCgiClient } from "@flup/flup";
 *
 * const client = new FastCgiClient({
 *   address: "unix:/run/php/php8.2-fpm.sock",
 *   documentRoot: "/var/www/html",
 * });
 * Deno.serve({ hostname: "127.0.0.1", port: 8080 }, createProxyHandler({ client }));
 * ```
 *
 * @module
 */

import { LimitExceededError, ProtocolError } from "./errors.ts";
import { defaultLogger } from "./_log.ts";
import type { GatewayLogger, LogLevel } from "./types.ts";
import type { ClientRequestInit } from "./_client_cgi.ts";

export type { ClientRequestInit, GatewayLogger, LogLevel };

/** What the proxy needs of a client: `FastCgiClient` and `ScgiClient` have it. */
export interface ProxyClient {
  /**
   * Sends one request to the backend.
   *
   * @param request The request.
   * @param init The client's address and extra params.
   * @returns The backend's response.
   */
  fetch(request: Request, init?: ClientRequestInit): Promise<Response>;
}

/** What the proxy handler reads from the second handler argument, when there is one. */
export interface ProxyHandlerInfo {
  /** The end client's address (`Deno.ServeHandlerInfo` and flup's `GatewayInfo` have it). */
  readonly remoteAddr?: Deno.Addr;
}

/** Options of {@linkcode createProxyHandler}. */
export interface ProxyHandlerOptions {
  /** The client that reaches the backend. */
  client: ProxyClient;
  /**
   * Extra params per request, from the request and the handler info (for example
   * `HTTPS: "on"` behind a TLS terminator).
   *
   * @default {undefined}
   */
  params?: (request: Request, info: ProxyHandlerInfo) => Record<string, string>;
  /**
   * Receives one line per failed request (the reason, never shown to the client).
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
}

/** A handler in the shape `Deno.serve` and every flup gateway and middleware take. */
export type ProxyHandler = (request: Request, info?: ProxyHandlerInfo) => Promise<Response>;

function plain(status: number, text: string): Response {
  return new Response(text + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/** The status a proxy answers when the client failed with `error`. */
function failureStatus(error: unknown): [number, string] {
  if (error instanceof ProtocolError && error.protocol === "http") return [400, "Bad Request"];
  if (error instanceof LimitExceededError) {
    switch (error.option) {
      case "maxBufferedBodyBytes":
        return [413, "Content Too Large"];
      case "maxQueued":
        return [503, "Service Unavailable"];
      case "connectTimeout":
      case "requestTimeout":
      case "readTimeout":
        return [504, "Gateway Timeout"];
    }
  }
  return [502, "Bad Gateway"];
}

/**
 * Makes a handler that forwards each request through `options.client` and answers with the
 * backend's response (body streamed). A backend that cannot be reached or answers badly gets
 * the client a plain 502 (504 on a timeout, 503 when the queue is full, 413 for an unknown-length
 * body over the buffer limit, 400 for a path that must not reach a backend); the reason is
 * logged, never sent. The end client's address (`info.remoteAddr`) becomes `REMOTE_ADDR`.
 *
 * @param options The client, extra params per request and the logger.
 * @returns The handler.
 *
 * @example Forward to a flup FastCGI server
 * ```ts
 * import { createProxyHandler, FastCgiClient, serveFastCgi } from "@flup/flup";
 * import { assertEquals } from "@std/assert";
 *
 * const backend = serveFastCgi((request) => new Response(new URL(request.url).pathname), {
 *   port: 0,
 * });
 * const { port } = (await backend.ready) as Deno.NetAddr;
 * await using client = new FastCgiClient({ address: `127.0.0.1:${port}` });
 * const handler = createProxyHandler({ client });
 * const response = await handler(new Request("http://localhost/a/b"));
 * assertEquals(await response.text(), "/a/b");
 * await backend.shutdown();
 * ```
 */
export function createProxyHandler(options: ProxyHandlerOptions): ProxyHandler {
  const { client, params } = options;
  if (typeof client?.fetch !== "function") {
    throw new TypeError("Cannot create proxy handler: client has no fetch method");
  }
  const log = options.log ?? defaultLogger;
  return async function proxyHandler(request, info = {}) {
    const init: ClientRequestInit = {};
    if (info.remoteAddr) init.remoteAddr = info.remoteAddr;
    try {
      if (params) init.params = params(request, info);
      return await client.fetch(request, init);
    } catch (error) {
      if (request.signal.aborted) {
        // The end client went away; nobody reads this answer.
        return plain(502, "Bad Gateway");
      }
      const [status, text] = failureStatus(error);
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      log(
        status >= 500 ? "error" : "warn",
        `proxy ${request.method} ${request.url} answered ${status}: ${reason}`,
      );
      return plain(status, text);
    }
  };
}
