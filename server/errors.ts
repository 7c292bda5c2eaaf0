/**
 * Error classes for wire and connection problems, shared by every protocol.
 *
 * @example Usage
 * ```ts
 * import { ProtocolError } from "@flup/flup";
 * import { assertEquals } from "@std/assert";
 *
 * const error = new ProtocolError("Cannot decode FastCGI record: version is 2", {
 *   protocol: "fastcgi",
 *   offset: 0,
 * });
 * assertEquals(error.name, "ProtocolError");
 * ```
 *
 * @module
 */

/** The wire protocols a gateway speaks. */
export type ProtocolName = "fastcgi" | "scgi" | "ajp" | "cgi" | "http";

/** Fields every gateway error may carry. */
export interface GatewayErrorOptions {
  /** The protocol whose bytes or connection failed. */
  protocol?: ProtocolName;
  /** Byte offset in the decoded input where the problem was found. */
  offset?: number;
  /** The protocol's request id (FastCGI requestId), when one applies. */
  requestId?: number;
  /** The underlying error. */
  cause?: unknown;
}

function applyOptions(
  error: { protocol?: ProtocolName; offset?: number; requestId?: number },
  options: GatewayErrorOptions,
): void {
  if (options.protocol !== undefined) error.protocol = options.protocol;
  if (options.offset !== undefined) error.offset = options.offset;
  if (options.requestId !== undefined) error.requestId = options.requestId;
}

/**
 * Bytes on the wire break the protocol: the connection that sent them is closed.
 *
 * @example Usage
 * ```ts
 * import { ProtocolError } from "@flup/flup";
 * import { assert } from "@std/assert";
 *
 * const error = new ProtocolError("Cannot decode FastCGI record: version is 2");
 * assert(error instanceof Error);
 * ```
 */
export class ProtocolError extends Error {
  /** The protocol whose bytes failed. */
  protocol?: ProtocolName;
  /** Byte offset in the decoded input where the problem was found. */
  offset?: number;
  /** The protocol's request id, when one applies. */
  requestId?: number;

  /**
   * Makes a protocol error.
   *
   * @param message What failed, action first.
   * @param options Protocol, offset, request id and cause.
   */
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProtocolError";
    applyOptions(this, options);
  }
}

/** Options of {@linkcode LimitExceededError}. */
export interface LimitExceededErrorOptions extends GatewayErrorOptions {
  /** The name of the option whose limit was hit, e.g. `"maxParamsBytes"`. */
  option: string;
  /** The configured limit. */
  limit: number;
}

/**
 * A peer sent more than a named limit allows; `option` names the option to change.
 *
 * @example Usage
 * ```ts
 * import { LimitExceededError } from "@flup/flup";
 * import { assertEquals } from "@std/assert";
 *
 * const error = new LimitExceededError("Cannot accept params: more than 65536 bytes", {
 *   option: "maxParamsBytes",
 *   limit: 65536,
 * });
 * assertEquals(error.option, "maxParamsBytes");
 * ```
 */
export class LimitExceededError extends Error {
  /** The name of the option whose limit was hit. */
  option: string;
  /** The configured limit. */
  limit: number;
  /** The protocol whose peer hit the limit. */
  protocol?: ProtocolName;
  /** Byte offset in the decoded input, when one applies. */
  offset?: number;
  /** The protocol's request id, when one applies. */
  requestId?: number;

  /**
   * Makes a limit error.
   *
   * @param message What was refused, action first.
   * @param options The option name, the limit, and where it happened.
   */
  constructor(message: string, options: LimitExceededErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LimitExceededError";
    this.option = options.option;
    this.limit = options.limit;
    applyOptions(this, options);
  }
}

/**
 * The front end aborted the request, or its connection closed before the response was done.
 * An aborted request's body stream errors with this class.
 *
 * @example Usage
 * ```ts
 * import { RequestAbortedError } from "@flup/flup";
 * import { assertEquals } from "@std/assert";
 *
 * const error = new RequestAbortedError("Request 1 was aborted by the front end", {
 *   protocol: "fastcgi",
 *   requestId: 1,
 * });
 * assertEquals(error.requestId, 1);
 * ```
 */
export class RequestAbortedError extends Error {
  /** The protocol of the aborted request. */
  protocol?: ProtocolName;
  /** Byte offset, when one applies. */
  offset?: number;
  /** The protocol's request id, when one applies. */
  requestId?: number;

  /**
   * Makes an abort error.
   *
   * @param message What was aborted and by whom.
   * @param options Protocol, request id and cause.
   */
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RequestAbortedError";
    applyOptions(this, options);
  }
}

/**
 * The connection closed while a message was still expected from it.
 *
 * @example Usage
 * ```ts
 * import { ConnectionClosedError } from "@flup/flup";
 * import { assertEquals } from "@std/assert";
 *
 * const error = new ConnectionClosedError("Connection closed inside a record", {
 *   protocol: "fastcgi",
 * });
 * assertEquals(error.name, "ConnectionClosedError");
 * ```
 */
export class ConnectionClosedError extends Error {
  /** The protocol of the closed connection. */
  protocol?: ProtocolName;
  /** Byte offset, when one applies. */
  offset?: number;
  /** The protocol's request id, when one applies. */
  requestId?: number;

  /**
   * Makes a connection-closed error.
   *
   * @param message What was still expected.
   * @param options Protocol, request id and cause.
   */
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ConnectionClosedError";
    applyOptions(this, options);
  }
}
