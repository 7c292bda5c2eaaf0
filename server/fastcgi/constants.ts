/**
 * FastCGI 1.0 protocol numbers, as the specification names them.
 *
 * Every spec number of the FastCGI side lives here and only here.
 *
 * @example Usage
 * ```ts
 * import { RECORD_TYPE, ROLE } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(RECORD_TYPE.BeginRequest, 1);
 * assertEquals(ROLE.Responder, 1);
 * ```
 *
 * @module
 */

/** FCGI_VERSION_1: the only protocol version (spec section 8). */
export const VERSION = 1;

/** FCGI_HEADER_LEN: bytes in a record header (spec section 3.3). */
export const HEADER_LENGTH = 8;

/** Largest content length a record can carry: the 16-bit contentLength field (spec section 3.3). */
export const MAX_CONTENT_LENGTH = 65535;

/**
 * Largest content length that needs no padding (a multiple of 8): 65528. Streams are cut into
 * records of this size.
 */
export const MAX_UNPADDED_CONTENT_LENGTH = MAX_CONTENT_LENGTH - (MAX_CONTENT_LENGTH % 8);

/** Largest padding a record can carry: the 8-bit paddingLength field (spec section 3.3). */
export const MAX_PADDING_LENGTH = 255;

/** FCGI_NULL_REQUEST_ID: the request id of management records (spec section 3.3). */
export const NULL_REQUEST_ID = 0;

/** Record types (spec section 8, "Values for type component of FCGI_Header"). */
export const RECORD_TYPE = {
  /** FCGI_BEGIN_REQUEST (spec section 5.1). */
  BeginRequest: 1,
  /** FCGI_ABORT_REQUEST (spec section 5.4). */
  AbortRequest: 2,
  /** FCGI_END_REQUEST (spec section 5.5). */
  EndRequest: 3,
  /** FCGI_PARAMS (spec section 5.2). */
  Params: 4,
  /** FCGI_STDIN (spec section 5.3). */
  Stdin: 5,
  /** FCGI_STDOUT (spec section 5.3). */
  Stdout: 6,
  /** FCGI_STDERR (spec section 5.3). */
  Stderr: 7,
  /** FCGI_DATA (spec section 5.3). */
  Data: 8,
  /** FCGI_GET_VALUES (spec section 4.1). */
  GetValues: 9,
  /** FCGI_GET_VALUES_RESULT (spec section 4.1). */
  GetValuesResult: 10,
  /** FCGI_UNKNOWN_TYPE (spec section 4.2). */
  UnknownType: 11,
} as const;

/** A record type number from {@linkcode RECORD_TYPE}. */
export type RecordType = typeof RECORD_TYPE[keyof typeof RECORD_TYPE];

/** Roles of FCGI_BEGIN_REQUEST (spec section 8, "Values for role component"). */
export const ROLE = {
  /** FCGI_RESPONDER (spec section 6.2). */
  Responder: 1,
  /** FCGI_AUTHORIZER (spec section 6.3). */
  Authorizer: 2,
  /** FCGI_FILTER (spec section 6.4). */
  Filter: 3,
} as const;

/** Flags of FCGI_BEGIN_REQUEST (spec section 5.1). */
export const FLAG = {
  /** FCGI_KEEP_CONN: keep the connection open after the request (spec section 5.1). */
  KeepConn: 1,
} as const;

/** protocolStatus values of FCGI_END_REQUEST (spec section 5.5). */
export const PROTOCOL_STATUS = {
  /** FCGI_REQUEST_COMPLETE: normal end of request (spec section 5.5). */
  RequestComplete: 0,
  /** FCGI_CANT_MPX_CONN: a concurrent request on a connection that takes one at a time. */
  CantMpxConn: 1,
  /** FCGI_OVERLOADED: the application ran out of some resource. */
  Overloaded: 2,
  /** FCGI_UNKNOWN_ROLE: the role is not one the application performs. */
  UnknownRole: 3,
} as const;

/** Variable names of FCGI_GET_VALUES (spec section 4.1). */
export const VALUE_NAME = {
  /** FCGI_MAX_CONNS: the most concurrent transport connections the application accepts. */
  MaxConns: "FCGI_MAX_CONNS",
  /** FCGI_MAX_REQS: the most concurrent requests the application accepts. */
  MaxReqs: "FCGI_MAX_REQS",
  /** FCGI_MPXS_CONNS: "0" if the application does not multiplex connections, else "1". */
  MpxsConns: "FCGI_MPXS_CONNS",
} as const;

/** Content length of FCGI_BEGIN_REQUEST and FCGI_END_REQUEST bodies (spec sections 5.1, 5.5). */
export const FIXED_BODY_LENGTH = 8;
