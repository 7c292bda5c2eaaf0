/**
 * The AJP 1.3 gateway server: serves a Fetch handler to Apache `mod_proxy_ajp`, `mod_jk`,
 * lighttpd `mod_ajp13` and any AJP 1.3 web server, with the Ghostcat (CVE-2020-1938) lessons
 * built in: a shared secret, and no request attribute the application did not allow.
 *
 * @example Serve a handler on 127.0.0.1:8009 behind Apache with a secret
 * ```ts ignore
 * import { serveAjp } from "@flup/flup/ajp";
 *
 * // Apache: ProxyPass "/" "ajp://127.0.0.1:8009/" secret=change-me
 * serveAjp((request) => new Response(`Hello from ${new URL(request.url).pathname}`), {
 *   port: 8009,
 *   secret: "change-me",
 * });
 * ```
 *
 * @module
 */

import { isLoopback } from "../_address.ts";
import { startGateway } from "../_listen.ts";
import { resolveOptions } from "../_options.ts";
import { textEncoder } from "../_text.ts";
import type { GatewayOptions, GatewayServer, Handler, ServeModule } from "../types.ts";
import { DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE, MIN_PACKET_SIZE } from "./constants.ts";
import { type AjpContext, serveAjpConnection } from "./_connection.ts";

/** Options of {@linkcode serveAjp}: the gateway options plus AJP's own. */
export interface AjpServeOptions extends GatewayOptions {
  /**
   * The shared secret the front end sends with every request (mod_proxy_ajp `secret=`,
   * mod_jk `worker.NAME.secret`, Tomcat's `secret`). A request without it, or with another
   * one, is answered 403 and the reason is logged. Required unless the server listens on
   * loopback or a Unix socket (see `insecureNoSecret`).
   *
   * @default {undefined}
   */
  secret?: string;
  /**
   * Serve on a non-loopback TCP address without a `secret`. Anyone who can reach the port can
   * then send requests with any client address, user or TLS attributes (the Ghostcat
   * lesson): use it only where the network itself admits nobody but the front end, and set
   * `allowedAddresses`. A warning is logged at start.
   *
   * @default {false}
   */
  insecureNoSecret?: boolean;
  /**
   * `req_attribute` names accepted beyond those front ends send on their own
   * (`AJP_REMOTE_PORT`, `AJP_LOCAL_ADDR`, `AJP_SSL_PROTOCOL`, `JK_LB_ACTIVATION`); a request
   * with any other attribute is answered 403, as Tomcat's `allowedRequestAttributesPattern`
   * does. Accepted attributes reach the handler in `info.env` under their own names.
   *
   * @default {undefined}
   */
  allowedRequestAttributesPattern?: RegExp;
  /**
   * The largest AJP packet, its 4-byte header included, 8192 to 65536. It must equal the
   * front end's (mod_proxy_ajp `ProxyIOBufferSize`, mod_jk `max_packet_size`); a longer packet
   * closes the connection with a log line naming this option.
   *
   * @default {8192}
   */
  packetSize?: number;
}

/**
 * Serves `handler` over AJP 1.3.
 *
 * Listens on TCP (127.0.0.1:9000 by default; AJP's customary port is 8009), a Unix socket
 * (`path`), a given `listener`, or the listening socket inherited on fd 0 (`fd: 0`). TCP binds
 * before this returns (a bind error throws); `ready` resolves with the address. Shut down with
 * `shutdown()` or `signal`. Connections are kept for the next request (END_RESPONSE with
 * reuse = 1); CPING is answered with CPONG; SHUTDOWN packets are ignored.
 *
 * Security: bound to anything but loopback or a Unix socket, a `secret` is required (or the
 * explicit `insecureNoSecret: true`); the same rule is checked for `listener` and `fd: 0`.
 * Request attributes the front end forwards are refused (403) unless known or allowed by
 * `allowedRequestAttributesPattern`.
 *
 * Permissions: TCP needs only `--allow-net=HOST:PORT`; a Unix socket needs
 * `--allow-read=PATH --allow-write=PATH`; fd 0 needs none.
 *
 * @param handler A Fetch handler, or a module in the `export default { fetch }` shape.
 * @param options Where to listen, the secret, limits, timeouts and hooks.
 * @returns The running server.
 * @throws {TypeError} When listening on a non-loopback TCP address without a `secret`.
 * @throws {RangeError} On a `packetSize` outside 8192 to 65536, or a bad limit.
 *
 * @example Serve and shut down
 * ```ts
 * import { serveAjp } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const server = serveAjp(() => new Response("hello"), { port: 0, log: () => {} });
 * const addr = await server.ready;
 * assertEquals(addr.transport, "tcp");
 * await server.shutdown();
 * ```
 *
 * @example A non-loopback address needs a secret
 * ```ts
 * import { serveAjp } from "@flup/flup/ajp";
 * import { assertThrows } from "@std/assert";
 *
 * assertThrows(() => serveAjp(() => new Response(""), { hostname: "0.0.0.0" }), TypeError);
 * ```
 */
export function serveAjp(
  handler: Handler | ServeModule,
  options: AjpServeOptions = {},
): GatewayServer {
  const fetch = typeof handler === "function" ? handler : handler.fetch.bind(handler);
  if (typeof fetch !== "function") throw new TypeError("Cannot serve: handler is not a function");
  const packetSize = options.packetSize ?? DEFAULT_PACKET_SIZE;
  if (
    !Number.isInteger(packetSize) || packetSize < MIN_PACKET_SIZE || packetSize > MAX_PACKET_SIZE
  ) {
    throw new RangeError(
      `Cannot start server: "packetSize" must be an integer from ${MIN_PACKET_SIZE} to ` +
        `${MAX_PACKET_SIZE}, got "${packetSize}"`,
    );
  }
  const { secret, insecureNoSecret = false, allowedRequestAttributesPattern } = options;
  if (secret !== undefined && (typeof secret !== "string" || secret === "")) {
    throw new TypeError('Cannot start server: "secret" must be a non-empty string');
  }
  if (
    allowedRequestAttributesPattern !== undefined &&
    !(allowedRequestAttributesPattern instanceof RegExp)
  ) {
    throw new TypeError('Cannot start server: "allowedRequestAttributesPattern" must be a RegExp');
  }
  const resolved = resolveOptions(options);
  const needsSecret = (hostname: string): boolean => secret === undefined && !isLoopback(hostname);
  const refuse = (where: string): TypeError =>
    new TypeError(
      `Cannot serve AJP on "${where}" without a secret: set "secret" to the front end's ` +
        `(mod_proxy_ajp "secret=", mod_jk "worker.NAME.secret"), listen on loopback or a Unix ` +
        `socket, or set "insecureNoSecret: true" if only the front end can reach this address`,
    );
  let where: string | null = null;
  if (options.listener) {
    const addr = options.listener.addr;
    if (addr.transport === "tcp" && needsSecret(addr.hostname)) where = addr.hostname;
  } else if (options.fd === undefined && options.path === undefined) {
    const hostname = options.hostname ?? "127.0.0.1";
    if (needsSecret(hostname)) where = hostname;
  }
  if (where !== null) {
    if (!insecureNoSecret) throw refuse(where);
    resolved.log(
      "warn",
      `insecureNoSecret: serving AJP on ${where} without a secret; anyone who reaches it can ` +
        "forge client addresses, users and TLS attributes",
    );
  }
  const context: AjpContext = {
    handler: fetch,
    options: resolved,
    secret: secret === undefined ? null : textEncoder.encode(secret),
    allowedRequestAttributesPattern: allowedRequestAttributesPattern ?? null,
    packetSize,
  };
  const server = startGateway(
    "ajp",
    options,
    resolved,
    (conn, overloaded) => serveAjpConnection(conn, overloaded, context),
  );
  if (options.fd !== 0) return server;
  // fd 0: the address is known only once listening; it runs before any connection is served.
  const ready = server.ready.then(async (addr) => {
    if (addr.transport === "tcp" && needsSecret(addr.hostname)) {
      if (!insecureNoSecret) {
        context.blocked = true;
        resolved.log("error", `AJP server on fd 0 refused: ${refuse(addr.hostname).message}`);
        await server.shutdown();
        throw refuse(addr.hostname);
      }
      resolved.log("warn", `insecureNoSecret: serving AJP on ${addr.hostname} without a secret`);
    }
    return addr;
  });
  ready.catch(() => {});
  return {
    ready,
    finished: server.finished,
    shutdown: server.shutdown,
    [Symbol.asyncDispose]: server.shutdown,
  };
}
