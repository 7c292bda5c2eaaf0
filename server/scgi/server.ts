/**
 * The SCGI gateway server: serves a Fetch handler to nginx `scgi_pass`, Apache
 * `mod_proxy_scgi`, lighttpd `mod_scgi` and any front end that speaks SCGI
 * (python.ca/scgi/protocol.txt).
 *
 * @example Serve a handler on 127.0.0.1:4000
 * ```ts ignore
 * import { serveScgi } from "@flup/flup/scgi";
 *
 * serveScgi((request) => new Response(`Hello from ${new URL(request.url).pathname}`), {
 *   port: 4000,
 * });
 * ```
 *
 * @module
 */

import { startGateway } from "../_listen.ts";
import { resolveOptions } from "../_options.ts";
import type { GatewayOptions, GatewayServer, Handler, ServeModule } from "../types.ts";
import { serveScgiConnection } from "./_connection.ts";
import { checkScriptName } from "./_script_name.ts";

/**
 * Options of {@linkcode serveScgi}: the gateway options plus SCGI's own. SCGI carries one
 * request per connection, so `keepAliveTimeout` has no effect; `paramsTimeout` covers the
 * header block, `bodyTimeout` an idle body, and `maxParamsBytes` / `maxParamsPairs` the
 * header block's netstring length and pair count.
 */
export interface ScgiServeOptions extends GatewayOptions {
  /**
   * Where the application is mounted, for front ends that send only `REQUEST_URI` (nginx
   * `scgi_pass`, lighttpd `mod_scgi`), as flup's SCGI server did. `""` or a path such as
   * `"/app"` (no trailing "/"). When set, `info.env.SCRIPT_NAME` is this value; when the front
   * end sends no (or an empty) `PATH_INFO`, `info.env.PATH_INFO` is the %-decoded
   * `REQUEST_URI` path after it (a path outside it gets `SCRIPT_NAME` `""` and the whole path);
   * a missing `QUERY_STRING` is taken from `REQUEST_URI`. `request.url` is never changed.
   * Unset, `SCRIPT_NAME` and `PATH_INFO` are passed as the front end sent them.
   *
   * @default {undefined}
   */
  scriptName?: string;
}

/**
 * Serves `handler` over SCGI.
 *
 * Listens on TCP (127.0.0.1:9000 by default), a Unix socket (`path`), a given `listener`, or
 * the listening socket inherited on fd 0 (`fd: 0`). Each connection carries one request: the
 * header block, exactly `CONTENT_LENGTH` body bytes (streamed to `request.body` with bounded
 * read-ahead; bytes past it are ignored and logged), then the CGI-style response (`Status:`
 * line, headers, body), and the connection is closed. `request.signal` aborts when the front
 * end closes the connection before the response is done. A malformed or oversized header
 * block closes the connection with a logged reason; past `maxConnections` requests get a 503.
 *
 * Permissions: TCP needs only `--allow-net=HOST:PORT`; a Unix socket needs
 * `--allow-read=PATH --allow-write=PATH`; fd 0 needs none.
 *
 * @param handler A Fetch handler, or a module in the `export default { fetch }` shape.
 * @param options Where to listen, limits, timeouts, `scriptName` and hooks.
 * @returns The running server.
 * @throws {RangeError} On a non-positive limit or timeout.
 * @throws {TypeError} On a handler that is not a function or a bad `scriptName`.
 *
 * @example Serve and shut down
 * ```ts
 * import { serveScgi } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * const server = serveScgi(() => new Response("hello"), { port: 0 });
 * const addr = await server.ready;
 * assertEquals(addr.transport, "tcp");
 * await server.shutdown();
 * ```
 */
export function serveScgi(
  handler: Handler | ServeModule,
  options: ScgiServeOptions = {},
): GatewayServer {
  const fetch = typeof handler === "function" ? handler : handler.fetch.bind(handler);
  if (typeof fetch !== "function") throw new TypeError("Cannot serve: handler is not a function");
  const { scriptName } = options;
  if (scriptName !== undefined) checkScriptName(scriptName);
  const resolved = resolveOptions(options);
  const context = { handler: fetch, options: resolved, scriptName };
  return startGateway(
    "scgi",
    options,
    resolved,
    (conn, overloaded) => serveScgiConnection(conn, overloaded, context),
  );
}
