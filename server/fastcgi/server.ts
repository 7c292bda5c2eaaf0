/**
 * The FastCGI gateway server: serves a Fetch handler to nginx `fastcgi_pass`, Apache
 * `mod_proxy_fcgi`, lighttpd `mod_fastcgi`, `cgi-fcgi` and any FastCGI 1.0 front end.
 *
 * @example Serve a handler on 127.0.0.1:9000
 * ```ts ignore
 * import { serveFastCgi } from "@flup/flup";
 *
 * serveFastCgi((request) => new Response(`Hello from ${new URL(request.url).pathname}`), {
 *   port: 9000,
 * });
 * ```
 *
 * @module
 */

import { serveCgi, shouldServeCgi } from "../cgi/server.ts";
import { startGateway } from "../_listen.ts";
import { resolveOptions } from "../_options.ts";
import type { GatewayOptions, GatewayRole, GatewayServer, Handler, ServeModule } from "../types.ts";
import { ROLE } from "./constants.ts";
import { serveFastCgiConnection } from "./_connection.ts";

/** Options of {@linkcode serveFastCgi}: the gateway options plus FastCGI's own. */
export interface FastCgiServeOptions extends GatewayOptions {
  /**
   * Roles the application performs; a request for another role is answered
   * FCGI_UNKNOWN_ROLE. `"authorizer"` answers 200 to allow (its `Variable-*` headers reach the
   * front end); `"filter"` gets the file to filter as `info.data`.
   *
   * @default {["responder"]}
   */
  roles?: readonly GatewayRole[];
  /**
   * Most concurrent requests on one connection (FastCGI multiplexing). 1 answers
   * FCGI_MPXS_CONNS = 0 and refuses a second concurrent request with FCGI_CANT_MPX_CONN;
   * more answers FCGI_MPXS_CONNS = 1 and refuses past the limit with FCGI_OVERLOADED.
   *
   * @default {1}
   */
  maxRequestsPerConnection?: number;
  /**
   * Read the `FCGI_WEB_SERVER_ADDRS` environment variable (comma-separated addresses, the
   * libfcgi convention) as the allow-list when `allowedAddresses` is not given. It is read only
   * when the env permission for it is granted (`--allow-env=FCGI_WEB_SERVER_ADDRS`).
   *
   * @default {true}
   */
  readWebServerAddrs?: boolean;
}

const ROLE_NUMBERS: Record<GatewayRole, number> = {
  responder: ROLE.Responder,
  authorizer: ROLE.Authorizer,
  filter: ROLE.Filter,
};

/** The `FCGI_WEB_SERVER_ADDRS` list, if it can be read without prompting. */
function webServerAddrs(): string[] | null {
  const descriptor = { name: "env", variable: "FCGI_WEB_SERVER_ADDRS" } as const;
  if (Deno.permissions.querySync(descriptor).state !== "granted") return null;
  const value = Deno.env.get("FCGI_WEB_SERVER_ADDRS");
  if (!value) return null;
  return value.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
}

/**
 * Serves `handler` over FastCGI.
 *
 * Listens on TCP (127.0.0.1:9000 by default), a Unix socket (`path`), a given `listener`, or
 * the listening socket inherited on fd 0 (`fd: 0`, as lighttpd `bin-path`, spawn-fcgi and
 * mod_fcgid provide it). With `fd: 0`, when fd 0 is not a socket (the script was started as a
 * plain CGI program) or `FCGI_FORCE_CGI=Y`, the request is served as CGI instead (flup did the
 * same): `ready` resolves with `{ transport: "unix", path: "cgi:stdin" }` and `finished` once
 * the one request is answered. CGI mode needs `--allow-env`. TCP binds before this returns (a bind error throws); `ready` resolves
 * with the address. Shut down with `shutdown()` or `signal`.
 *
 * Permissions: TCP needs only `--allow-net=HOST:PORT`; a Unix socket needs
 * `--allow-read=PATH --allow-write=PATH`; fd 0 needs none.
 *
 * @param handler A Fetch handler, or a module in the `export default { fetch }` shape.
 * @param options Where to listen, limits, timeouts, roles and hooks.
 * @returns The running server.
 *
 * @example Serve and shut down
 * ```ts
 * import { serveFastCgi } from "@flup/flup";
 * import { assertEquals } from "@std/assert";
 *
 * const server = serveFastCgi(() => new Response("hello"), { port: 0 });
 * const addr = await server.ready;
 * assertEquals(addr.transport, "tcp");
 * await server.shutdown();
 * ```
 */
export function serveFastCgi(
  handler: Handler | ServeModule,
  options: FastCgiServeOptions = {},
): GatewayServer {
  const fetch = typeof handler === "function" ? handler : handler.fetch.bind(handler);
  if (typeof fetch !== "function") throw new TypeError("Cannot serve: handler is not a function");
  if (options.fd === 0 && shouldServeCgi()) {
    // flup's rule: a FastCGI app started without a listening socket on fd 0 (or with
    // FCGI_FORCE_CGI=Y) is running under plain CGI, so one script serves both kinds of hosting.
    const finished = serveCgi(fetch, options);
    finished.catch(() => {});
    const addr: Deno.Addr = { transport: "unix", path: "cgi:stdin" };
    return {
      ready: Promise.resolve(addr),
      finished,
      shutdown: () => finished,
      [Symbol.asyncDispose]: () => finished,
    };
  }
  let allowedAddresses = options.allowedAddresses;
  if (allowedAddresses === undefined && (options.readWebServerAddrs ?? true)) {
    const fromEnv = webServerAddrs();
    if (fromEnv) allowedAddresses = fromEnv;
  }
  const resolved = resolveOptions({
    ...options,
    ...(allowedAddresses ? { allowedAddresses } : {}),
  });
  const maxRequestsPerConnection = options.maxRequestsPerConnection ?? 1;
  if (!Number.isInteger(maxRequestsPerConnection) || maxRequestsPerConnection < 1) {
    throw new RangeError(
      `Cannot start server: "maxRequestsPerConnection" must be a positive integer, got ` +
        `"${maxRequestsPerConnection}"`,
    );
  }
  const roles = new Set((options.roles ?? ["responder"]).map((role) => {
    const number = ROLE_NUMBERS[role];
    if (number === undefined) throw new TypeError(`Cannot start server: unknown role "${role}"`);
    return number;
  }));
  const context = { handler: fetch, options: resolved, roles, maxRequestsPerConnection };
  return startGateway(
    "fastcgi",
    options,
    resolved,
    (conn, overloaded) => serveFastCgiConnection(conn, overloaded, context),
  );
}
