/**
 * The types every middleware shares: a {@linkcode Middleware} turns a handler into a handler,
 * and session values are {@linkcode JsonValue}s.
 *
 * @example A middleware that adds a header
 * ```ts
 * import type { Middleware } from "@flup/flup/middleware";
 *
 * const poweredBy: Middleware = (next) =>
 *   async function poweredByHandler(request, info) {
 *     const response = await next(request, info);
 *     response.headers.set("x-powered-by", "flup");
 *     return response;
 *   };
 * ```
 *
 * @module
 */

import type {
  GatewayInfo,
  GatewayLogger,
  GatewayRole,
  Handler,
  LogLevel,
  ProtocolName,
} from "../server/types.ts";

// The server types this module's API mentions, so that its documentation is complete.
export type { GatewayInfo, GatewayLogger, GatewayRole, Handler, LogLevel, ProtocolName };

/**
 * Wraps a handler: takes the next handler and returns a handler that runs around it. The same
 * wrapped handler serves `Deno.serve` and every flup gateway, in every flavor.
 *
 * @param next The handler to wrap.
 * @returns The wrapping handler.
 */
export type Middleware = (next: Handler) => Handler;

/** A value that survives `JSON.stringify` and `JSON.parse` unchanged: what sessions store. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };
