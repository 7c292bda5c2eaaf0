// What runs inside one pool member (a Worker or a child process): load the app module, wrap
// its handler to count requests, listen where the parent says, serve with the protocol's
// server, and report ready / full / log lines back. Shared by _worker_main.ts and
// _child_main.ts; the messages are plain JSON so they cross postMessage and a pipe alike.

import { openMemberListener } from "./_pool_listen.ts";
import { serveAjp } from "./ajp/server.ts";
import { serveFastCgi } from "./fastcgi/server.ts";
import { serveScgi } from "./scgi/server.ts";
import type { GatewayOptions, GatewayServer, Handler, LogLevel, ServeModule } from "./types.ts";

/** A protocol name a pool accepts. */
export type PoolProtocol = "fastcgi" | "scgi" | "ajp";

/**
 * The protocols a pool can serve, each mapped to its server. Adding one is one line here
 * and one in {@linkcode PoolProtocol}, for a server with the `serveFastCgi(handler, options)`
 * shape. CGI has no place here: a CGI process serves one request.
 */
export const POOL_SERVERS: Record<
  PoolProtocol,
  (handler: Handler, options: GatewayOptions) => GatewayServer
> = {
  fastcgi: serveFastCgi,
  scgi: serveScgi,
  ajp: serveAjp,
};

/** Where one member listens. */
export type MemberListen =
  /** Its own `SO_REUSEPORT` socket on the shared TCP address (kernel balancing). */
  | { hostname: string; port: number }
  /**
   * A private Unix socket: the pool's parent dispatches to it (`dispatched`: every accepted
   * connection is acknowledged first, see `MEMBER_ACCEPTED`), or `flup dev` connects to it.
   */
  | { path: string; dispatched?: boolean }
  /** The listening socket inherited on fd 0, shared by every child (fork only). */
  | { fd: 0 };

/** The JSON-safe server options a member passes to the protocol's server. */
export type MemberServeOptions = Record<string, string | number | boolean | readonly string[]>;

/** Everything a member needs, sent by the parent as JSON. */
export interface MemberConfig {
  /** The member's number, unique within the pool, for log lines. */
  id: number;
  protocol: PoolProtocol;
  /** The app module's URL (`href`). */
  module: string;
  listen: MemberListen;
  options: MemberServeOptions;
  /** Requests after which the member asks to be recycled; 0 for never. */
  maxRequests: number;
  /** Report busy/idle transitions (adaptive pools size themselves by idle members). */
  reportBusy?: boolean;
}

/** Member to parent. */
export type MemberMessage =
  | { type: "ready"; addr: Deno.Addr }
  | { type: "full"; served: number }
  /** Adaptive pools only: the member went from idle to busy (`true`) or back (`false`). */
  | { type: "busy"; busy: boolean }
  | { type: "log"; level: LogLevel; message: string }
  | { type: "failed"; message: string }
  | { type: "exit"; code: number }
  | { type: "alive" };

/** Starts every control line a child writes on stdout; the parent strips these lines. */
export const CONTROL_PREFIX = "\u001eflup ";

/** Parent to member (Workers only; children get signals). */
export type ParentMessage = { type: "start"; config: MemberConfig } | { type: "retire" };

/** Loads the app module's `default.fetch`; throws a TypeError naming the module when absent. */
async function loadHandler(href: string): Promise<Handler> {
  const module = await import(href) as { default?: Partial<ServeModule> };
  const app = module.default;
  const fetch = app?.fetch;
  if (typeof fetch !== "function") {
    throw new TypeError(
      `Cannot serve "${href}": it has no default export with a fetch() method`,
    );
  }
  return fetch.bind(app);
}

/**
 * Starts serving in this member. Sends `ready` once listening, `full` once when the request
 * count reaches `maxRequests`, and every server log line as `log`.
 *
 * @throws When the module cannot be loaded or the address cannot be bound.
 */
export async function runMember(
  config: MemberConfig,
  send: (message: MemberMessage) => void,
): Promise<MemberServer> {
  const inner = await loadHandler(config.module);
  let served = 0;
  const maxRequests = config.maxRequests;
  let inFlight = 0;
  const done = (): void => {
    if (--inFlight === 0) send({ type: "busy", busy: false });
  };
  const handler: Handler = !config.reportBusy
    ? (request, info) => {
      if (++served === maxRequests) send({ type: "full", served });
      return inner(request, info);
    }
    : (request, info) => {
      if (++served === maxRequests) send({ type: "full", served });
      if (inFlight++ === 0) send({ type: "busy", busy: true });
      info.completed.then(done, done);
      return inner(request, info);
    };
  const log = (level: LogLevel, message: string): void => send({ type: "log", level, message });
  const listener = await openMemberListener(config.listen);
  const serve = POOL_SERVERS[config.protocol];
  const { allowedRequestAttributesPattern, allowedRequestAttributesFlags, ...options } =
    config.options;
  const server = serve(handler, {
    ...options,
    ...(typeof allowedRequestAttributesPattern === "string"
      ? {
        allowedRequestAttributesPattern: new RegExp(
          allowedRequestAttributesPattern,
          String(allowedRequestAttributesFlags ?? ""),
        ),
      }
      : {}),
    // The accept loop uses only accept, close and addr of a Deno.Listener.
    listener: listener as unknown as Deno.Listener,
    log,
  } as GatewayOptions);
  const addr = await server.ready;
  send({ type: "ready", addr });
  return {
    finished: server.finished,
    async retire(): Promise<void> {
      // Stop accepting first, then give every accepted connection the time to send its
      // first request: draining closes connections that have no request yet, and one the
      // front end has just written to would be reset.
      if ("path" in config.listen) {
        // The parent dispatches here no more, but a connection it made just before may still
        // sit in the accept queue: accept it before closing the socket would reset it.
        await new Promise((resolve) => setTimeout(resolve, DISPATCH_SETTLE_MS));
      }
      listener.stopAccepting();
      await listener.firstReads(FIRST_REQUEST_GRACE_MS);
      await new Promise((resolve) => setTimeout(resolve, 0));
      await server.shutdown();
    },
  };
}

/** A member's server, as its entry point drives it. */
export interface MemberServer {
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting, lets accepted connections send their request, then drains. */
  retire(): Promise<void>;
}

/** How long a retiring member waits for accepted connections to send their first bytes. */
const FIRST_REQUEST_GRACE_MS = 2000;

/** How long a dispatched-to member keeps accepting after the parent stopped dispatching. */
const DISPATCH_SETTLE_MS = 50;

/** The message of an error, for a log line. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
