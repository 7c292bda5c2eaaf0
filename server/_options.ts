// Gateway options with their defaults applied, validated once at start.

import { defaultLogger } from "./_log.ts";
import type { GatewayLogger, GatewayOptions } from "./types.ts";

/** Every option of {@linkcode GatewayOptions} that has a default, resolved. */
export interface ResolvedOptions {
  log: GatewayLogger;
  debug: boolean;
  allowedAddresses: readonly string[];
  maxConnections: number;
  maxParamsBytes: number;
  maxParamsPairs: number;
  maxBodyBytes: number;
  bodyBufferSize: number;
  paramsTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
  drainTimeout: number;
  handlerTimeout: GatewayOptions["handlerTimeout"];
  onError: GatewayOptions["onError"];
}

/** The defaults, as documented on {@linkcode GatewayOptions}. */
export const DEFAULTS = {
  maxConnections: 1024,
  maxParamsBytes: 65536,
  maxParamsPairs: 1000,
  maxBodyBytes: 1024 * 1024 * 1024,
  bodyBufferSize: 65536,
  paramsTimeout: 30_000,
  bodyTimeout: 60_000,
  keepAliveTimeout: 120_000,
  drainTimeout: 10_000,
} as const;

function positive(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!(result > 0) || Number.isNaN(result)) {
    throw new RangeError(`Cannot start server: "${name}" must be positive, got "${value}"`);
  }
  return result;
}

/**
 * Applies defaults and checks ranges.
 *
 * @throws {RangeError} On a non-positive limit or timeout.
 */
export function resolveOptions(options: GatewayOptions): ResolvedOptions {
  return {
    log: options.log ?? defaultLogger,
    debug: options.debug ?? false,
    allowedAddresses: options.allowedAddresses ?? [],
    maxConnections: positive("maxConnections", options.maxConnections, DEFAULTS.maxConnections),
    maxParamsBytes: positive("maxParamsBytes", options.maxParamsBytes, DEFAULTS.maxParamsBytes),
    maxParamsPairs: positive("maxParamsPairs", options.maxParamsPairs, DEFAULTS.maxParamsPairs),
    maxBodyBytes: positive("maxBodyBytes", options.maxBodyBytes, DEFAULTS.maxBodyBytes),
    bodyBufferSize: positive("bodyBufferSize", options.bodyBufferSize, DEFAULTS.bodyBufferSize),
    paramsTimeout: positive("paramsTimeout", options.paramsTimeout, DEFAULTS.paramsTimeout),
    bodyTimeout: positive("bodyTimeout", options.bodyTimeout, DEFAULTS.bodyTimeout),
    keepAliveTimeout: positive(
      "keepAliveTimeout",
      options.keepAliveTimeout,
      DEFAULTS.keepAliveTimeout,
    ),
    drainTimeout: positive("drainTimeout", options.drainTimeout, DEFAULTS.drainTimeout),
    handlerTimeout: options.handlerTimeout,
    onError: options.onError,
  };
}
