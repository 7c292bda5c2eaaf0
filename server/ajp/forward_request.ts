/**
 * What the web server sends the container (spec "Request Packet Structure"): FORWARD_REQUEST
 * with its method, header-name and attribute code tables, request body chunks, CPING and
 * SHUTDOWN. Decoders for the gateway server, encoders for tests and clients.
 *
 * Pure code: no I/O, no promises. Decoders take one whole payload (see
 * {@linkcode PacketDecoder}); encoders write whole packets into a buffer the caller supplies.
 *
 * @example Round trip a FORWARD_REQUEST
 * ```ts
 * import {
 *   decodeForwardRequest,
 *   encodeForwardRequest,
 *   forwardRequestLength,
 *   HEADER_LENGTH,
 * } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const init = { method: "GET", requestUri: "/a", headers: [["host", "example.test"]] as const };
 * const packet = new Uint8Array(forwardRequestLength(init));
 * encodeForwardRequest(packet, 0, init);
 * const request = decodeForwardRequest(packet.subarray(HEADER_LENGTH));
 * assertEquals(request.method, "GET");
 * assertEquals(request.headers, [["host", "example.test"]]);
 * ```
 *
 * @module
 */

import { LimitExceededError, ProtocolError } from "../errors.ts";
import {
  ATTRIBUTE,
  CODED_HEADER_MARKER,
  HEADER_LENGTH,
  MAGIC_FROM_SERVER,
  METHOD,
  METHOD_NAMES,
  PREFIX_CODE,
  REQUEST_HEADER_NAMES,
} from "./constants.ts";
import {
  AjpReader,
  encodePacketHeader,
  stringLength,
  writeString,
  writeUint16,
  writeUint8,
} from "./packet.ts";

/** The optional attributes of FORWARD_REQUEST (spec "attributes"); `null` when not sent. */
export interface ForwardRequestAttributes {
  /** `context` (0x01): not implemented by the spec's servers. */
  context: string | null;
  /** `servlet_path` (0x02): not implemented by the spec's servers. */
  servletPath: string | null;
  /** `remote_user` (0x03). */
  remoteUser: string | null;
  /** `auth_type` (0x04). */
  authType: string | null;
  /** `query_string` (0x05), without the "?". */
  queryString: string | null;
  /** `route` / `jvm_route` (0x06). */
  route: string | null;
  /** `ssl_cert` (0x07): the client certificate, PEM. */
  sslCert: string | null;
  /** `ssl_cipher` (0x08). */
  sslCipher: string | null;
  /** `ssl_session` (0x09). */
  sslSession: string | null;
  /** `ssl_key_size` (0x0B), an integer. */
  sslKeySize: number | null;
  /** `secret` (0x0C). */
  secret: string | null;
  /** `stored_method` (0x0D): the method name when the method code is 0xFF. */
  storedMethod: string | null;
  /** `req_attribute` (0x0A) name-value pairs, in wire order. */
  requestAttributes: [string, string][];
}

/** A decoded FORWARD_REQUEST (spec "AJP13_FORWARD_REQUEST"). */
export interface ForwardRequest {
  /** The method name, from the code table or `stored_method`. */
  method: string;
  /** The method code as sent (0xFF: stored). */
  methodCode: number;
  /** `protocol`, e.g. "HTTP/1.1". */
  protocol: string;
  /** `req_uri`: the path, without the query string. */
  requestUri: string;
  /** `remote_addr`: the client's address. */
  remoteAddr: string;
  /** `remote_host`: the client's host name; `null` when the server did not look it up. */
  remoteHost: string | null;
  /** `server_name`. */
  serverName: string;
  /** `server_port`. */
  serverPort: number;
  /** `is_ssl`: the client connection is TLS. */
  isSsl: boolean;
  /** `request_headers`: coded names as their lower-case names, string names as sent. */
  headers: [string, string][];
  /** The attributes. */
  attributes: ForwardRequestAttributes;
}

/** Limits of {@linkcode decodeForwardRequest}. */
export interface ForwardRequestLimits {
  /**
   * The most request headers accepted, checked before any is read.
   *
   * @default {1000}
   */
  maxHeaders?: number;
}

const ATTRIBUTE_NAMES: Record<number, keyof ForwardRequestAttributes> = {
  [ATTRIBUTE.Context]: "context",
  [ATTRIBUTE.ServletPath]: "servletPath",
  [ATTRIBUTE.RemoteUser]: "remoteUser",
  [ATTRIBUTE.AuthType]: "authType",
  [ATTRIBUTE.QueryString]: "queryString",
  [ATTRIBUTE.Route]: "route",
  [ATTRIBUTE.SslCert]: "sslCert",
  [ATTRIBUTE.SslCipher]: "sslCipher",
  [ATTRIBUTE.SslSession]: "sslSession",
  [ATTRIBUTE.Secret]: "secret",
  [ATTRIBUTE.StoredMethod]: "storedMethod",
};

function malformed(message: string, offset: number): ProtocolError {
  return new ProtocolError(`Cannot decode AJP FORWARD_REQUEST: ${message}`, {
    protocol: "ajp",
    offset,
  });
}

/**
 * Decodes a FORWARD_REQUEST payload (prefix code 2 first).
 *
 * @param payload One whole packet payload.
 * @param limits The most headers accepted.
 * @returns The request line, headers and attributes.
 * @throws {ProtocolError} On another prefix code, an unknown method, header or attribute
 * code, a string without its 0 byte, a missing request terminator or bytes after it.
 * @throws {LimitExceededError} On more than `maxHeaders` headers (option `maxParamsPairs`).
 *
 * @example Usage
 * ```ts
 * import { decodeForwardRequest } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const s = (text: string) => [0, text.length, ...new TextEncoder().encode(text), 0];
 * const payload = new Uint8Array([
 *   2, 2, ...s("HTTP/1.1"), ...s("/"), ...s("127.0.0.1"), 0xff, 0xff, ...s("localhost"),
 *   0, 80, 0, 0, 1, 0xa0, 0x0b, ...s("localhost"), 0xff,
 * ]);
 * const request = decodeForwardRequest(payload);
 * assertEquals(request.method, "GET");
 * assertEquals(request.remoteHost, null);
 * assertEquals(request.headers, [["host", "localhost"]]);
 * ```
 */
export function decodeForwardRequest(
  payload: Uint8Array,
  limits: ForwardRequestLimits = {},
): ForwardRequest {
  const maxHeaders = limits.maxHeaders ?? 1000;
  const reader = new AjpReader(payload);
  const prefix = reader.uint8();
  if (prefix !== PREFIX_CODE.ForwardRequest) {
    throw malformed(`prefix code is "${prefix}", not 2`, 0);
  }
  const methodCode = reader.uint8();
  if (methodCode !== METHOD.JkStored && METHOD_NAMES[methodCode] === undefined) {
    throw malformed(`method code is "${methodCode}"`, 1);
  }
  const protocol = reader.string() ?? "";
  const uriAt = reader.offset;
  const requestUri = reader.string();
  if (requestUri === null) {
    // lighttpd sends an empty path as the null string: its "fix-root-scriptname" empties it.
    throw malformed("req_uri is the null string (lighttpd: disable fix-root-scriptname)", uriAt);
  }
  const remoteAddr = reader.string() ?? "";
  const remoteHost = reader.string();
  const serverName = reader.string() ?? "";
  const serverPort = reader.uint16();
  const isSsl = reader.boolean();
  const countAt = reader.offset;
  const count = reader.uint16();
  if (count > maxHeaders) {
    throw new LimitExceededError(
      `Cannot accept AJP FORWARD_REQUEST: more than "${maxHeaders}" headers`,
      { option: "maxParamsPairs", limit: maxHeaders, protocol: "ajp", offset: countAt },
    );
  }
  const headers: [string, string][] = [];
  for (let i = 0; i < count; i++) {
    const at = reader.offset;
    let name: string | null;
    if (reader.peekUint8() === CODED_HEADER_MARKER) {
      const code = reader.uint16();
      name = REQUEST_HEADER_NAMES[code] ?? null;
      if (name === null) throw malformed(`header code is "0x${code.toString(16)}"`, at);
    } else {
      name = reader.string();
      if (name === null) throw malformed("a header name is the null string", at);
    }
    headers.push([name, reader.string() ?? ""]);
  }
  const attributes: ForwardRequestAttributes = {
    context: null,
    servletPath: null,
    remoteUser: null,
    authType: null,
    queryString: null,
    route: null,
    sslCert: null,
    sslCipher: null,
    sslSession: null,
    sslKeySize: null,
    secret: null,
    storedMethod: null,
    requestAttributes: [],
  };
  while (true) {
    const at = reader.offset;
    if (reader.remaining === 0) throw malformed("the request terminator 0xFF is missing", at);
    const code = reader.uint8();
    if (code === ATTRIBUTE.AreDone) break;
    if (code === ATTRIBUTE.ReqAttribute) {
      const name = reader.string();
      if (name === null) throw malformed("a req_attribute name is the null string", at);
      attributes.requestAttributes.push([name, reader.string() ?? ""]);
    } else if (code === ATTRIBUTE.SslKeySize) {
      attributes.sslKeySize = reader.uint16();
    } else {
      const field = ATTRIBUTE_NAMES[code];
      if (field === undefined) throw malformed(`attribute code is "${code}"`, at);
      (attributes as unknown as Record<string, string | null>)[field] = reader.string();
    }
  }
  if (reader.remaining !== 0) {
    throw malformed(`"${reader.remaining}" bytes follow the request terminator`, reader.offset);
  }
  let method = METHOD_NAMES[methodCode];
  if (method === undefined) {
    if (!attributes.storedMethod) {
      throw malformed("the method code is 0xFF and no stored_method attribute was sent", 1);
    }
    method = attributes.storedMethod;
  }
  return {
    method,
    methodCode,
    protocol,
    requestUri,
    remoteAddr,
    remoteHost,
    serverName,
    serverPort,
    isSsl,
    headers,
    attributes,
  };
}

/** What {@linkcode encodeForwardRequest} writes; everything but `method` and `requestUri` has a default. */
export interface ForwardRequestInit {
  /** The method; one outside the code table is sent as 0xFF with `stored_method`. */
  method: string;
  /** `req_uri`: the path, without the query string. */
  requestUri: string;
  /**
   * `protocol`.
   *
   * @default {"HTTP/1.1"}
   */
  protocol?: string;
  /**
   * `remote_addr`.
   *
   * @default {"127.0.0.1"}
   */
  remoteAddr?: string;
  /**
   * `remote_host`; `null` sends the null string.
   *
   * @default {null}
   */
  remoteHost?: string | null;
  /**
   * `server_name`.
   *
   * @default {"localhost"}
   */
  serverName?: string;
  /**
   * `server_port`.
   *
   * @default {80}
   */
  serverPort?: number;
  /**
   * `is_ssl`.
   *
   * @default {false}
   */
  isSsl?: boolean;
  /**
   * Request headers; names in the code table are sent coded (case-insensitive).
   *
   * @default {[]}
   */
  headers?: readonly (readonly [string, string])[];
  /**
   * Attributes; `null` or absent ones are not sent. `requestAttributes` are sent as
   * `req_attribute` pairs.
   *
   * @default {{}}
   */
  attributes?: { readonly [K in keyof ForwardRequestAttributes]?: ForwardRequestAttributes[K] };
}

const METHOD_CODES: Record<string, number> = Object.fromEntries(
  Object.entries(METHOD_NAMES).map(([code, name]) => [name, Number(code)]),
);
const REQUEST_HEADER_CODES: Record<string, number> = Object.fromEntries(
  Object.entries(REQUEST_HEADER_NAMES).map(([code, name]) => [name, Number(code)]),
);

/** The string attributes in the order mod_proxy_ajp sends them. */
const STRING_ATTRIBUTES: [number, keyof ForwardRequestAttributes][] = [
  [ATTRIBUTE.Context, "context"],
  [ATTRIBUTE.ServletPath, "servletPath"],
  [ATTRIBUTE.RemoteUser, "remoteUser"],
  [ATTRIBUTE.AuthType, "authType"],
  [ATTRIBUTE.Secret, "secret"],
  [ATTRIBUTE.QueryString, "queryString"],
  [ATTRIBUTE.Route, "route"],
  [ATTRIBUTE.SslCert, "sslCert"],
  [ATTRIBUTE.SslCipher, "sslCipher"],
  [ATTRIBUTE.SslSession, "sslSession"],
];

/** Writes (or, with `target` null, measures) a FORWARD_REQUEST packet. */
function layout(target: Uint8Array | null, offset: number, init: ForwardRequestInit): number {
  const str = (at: number, value: string | null): number =>
    target ? writeString(target, at, value) : at + stringLength(value);
  const u8 = (at: number, value: number): number => target ? writeUint8(target, at, value) : at + 1;
  const u16 = (at: number, value: number): number =>
    target ? writeUint16(target, at, value) : at + 2;
  const attributes = init.attributes ?? {};
  const code = METHOD_CODES[init.method];
  let at = offset + HEADER_LENGTH;
  at = u8(at, PREFIX_CODE.ForwardRequest);
  at = u8(at, code ?? METHOD.JkStored);
  at = str(at, init.protocol ?? "HTTP/1.1");
  at = str(at, init.requestUri);
  at = str(at, init.remoteAddr ?? "127.0.0.1");
  at = str(at, init.remoteHost ?? null);
  at = str(at, init.serverName ?? "localhost");
  at = u16(at, init.serverPort ?? 80);
  at = u8(at, init.isSsl ? 1 : 0);
  const headers = init.headers ?? [];
  at = u16(at, headers.length);
  for (const [name, value] of headers) {
    const headerCode = REQUEST_HEADER_CODES[name.toLowerCase()];
    at = headerCode === undefined ? str(at, name) : u16(at, headerCode);
    at = str(at, value);
  }
  for (const [attributeCode, field] of STRING_ATTRIBUTES) {
    const value = attributes[field];
    if (typeof value === "string") at = str(u8(at, attributeCode), value);
  }
  if (typeof attributes.sslKeySize === "number") {
    at = u16(u8(at, ATTRIBUTE.SslKeySize), attributes.sslKeySize);
  }
  const stored = code === undefined ? init.method : attributes.storedMethod;
  if (typeof stored === "string") at = str(u8(at, ATTRIBUTE.StoredMethod), stored);
  for (const [name, value] of attributes.requestAttributes ?? []) {
    at = str(str(u8(at, ATTRIBUTE.ReqAttribute), name), value);
  }
  at = u8(at, ATTRIBUTE.AreDone);
  if (target) encodePacketHeader(target, offset, MAGIC_FROM_SERVER, at - offset - HEADER_LENGTH);
  return at;
}

/**
 * Bytes {@linkcode encodeForwardRequest} writes for `init`, the packet header included.
 *
 * @param init The request.
 * @returns The packet length.
 *
 * @example Usage
 * ```ts
 * import { forwardRequestLength } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(forwardRequestLength({ method: "GET", requestUri: "/" }), 53);
 * ```
 */
export function forwardRequestLength(init: ForwardRequestInit): number {
  return layout(null, 0, init);
}

/**
 * Writes a whole FORWARD_REQUEST packet, as mod_proxy_ajp lays it out.
 *
 * @param target The buffer; needs {@linkcode forwardRequestLength} bytes from `offset`.
 * @param offset Where to write.
 * @param init The request.
 * @returns The offset after the packet.
 * @throws {RangeError} When the payload would be over 65535 bytes.
 *
 * @example Usage
 * ```ts
 * import { encodeForwardRequest, forwardRequestLength } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const init = { method: "PATCH", requestUri: "/x" };
 * const packet = new Uint8Array(forwardRequestLength(init));
 * assertEquals(encodeForwardRequest(packet, 0, init), packet.length);
 * assertEquals([packet[0], packet[1], packet[4], packet[5]], [0x12, 0x34, 2, 0xff]);
 * ```
 */
export function encodeForwardRequest(
  target: Uint8Array,
  offset: number,
  init: ForwardRequestInit,
): number {
  const length = layout(null, 0, init) - HEADER_LENGTH;
  if (length > 0xffff) {
    throw new RangeError(`Cannot encode AJP FORWARD_REQUEST: "${length}" bytes is too long`);
  }
  return layout(target, offset, init);
}

/**
 * Reads a request body packet (spec "Request Packet Structure", data packets): a 2-byte
 * length and that many bytes. A payload of 0 bytes, or a length of 0, ends the body.
 *
 * @param payload One whole packet payload.
 * @returns The body bytes: a view into `payload`; empty at the end of the body.
 * @throws {ProtocolError} When the length does not match the payload.
 *
 * @example Usage
 * ```ts
 * import { decodeRequestBodyChunk } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals([...decodeRequestBodyChunk(new Uint8Array([0, 2, 7, 8]))], [7, 8]);
 * assertEquals(decodeRequestBodyChunk(new Uint8Array([0, 0])).length, 0);
 * ```
 */
export function decodeRequestBodyChunk(payload: Uint8Array): Uint8Array {
  if (payload.length === 0) return payload;
  if (payload.length < 2) {
    throw new ProtocolError("Cannot decode AJP body chunk: the length runs past the end", {
      protocol: "ajp",
    });
  }
  const length = (payload[0]! << 8) | payload[1]!;
  if (length !== payload.length - 2) {
    throw new ProtocolError(
      `Cannot decode AJP body chunk: length is "${length}" in a "${payload.length}" byte packet`,
      { protocol: "ajp" },
    );
  }
  return payload.subarray(2);
}

/**
 * Writes a whole request body packet, as mod_proxy_ajp does: header, 2-byte length, data.
 * Empty `data` writes the packet that ends the body.
 *
 * @param target The buffer; needs `data.length + 6` bytes from `offset`.
 * @param offset Where to write.
 * @param data At most 65533 bytes.
 * @returns The offset after the packet.
 *
 * @example Usage
 * ```ts
 * import { encodeRequestBodyChunk } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(7);
 * encodeRequestBodyChunk(target, 0, new Uint8Array([9]));
 * assertEquals([...target], [0x12, 0x34, 0, 3, 0, 1, 9]);
 * ```
 */
export function encodeRequestBodyChunk(
  target: Uint8Array,
  offset: number,
  data: Uint8Array,
): number {
  let at = encodePacketHeader(target, offset, MAGIC_FROM_SERVER, data.length + 2);
  at = writeUint16(target, at, data.length);
  target.set(data, at);
  return at + data.length;
}

/**
 * Writes a whole one-byte command packet from the web server: CPING, SHUTDOWN or PING.
 *
 * @param target The buffer; needs 5 bytes from `offset`.
 * @param offset Where to write.
 * @param prefixCode {@linkcode PREFIX_CODE}.CPing, `.Shutdown` or `.Ping`.
 * @returns The offset after the packet.
 *
 * @example Usage
 * ```ts
 * import { encodeServerCommand, PREFIX_CODE } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(5);
 * encodeServerCommand(target, 0, PREFIX_CODE.CPing);
 * assertEquals([...target], [0x12, 0x34, 0, 1, 10]);
 * ```
 */
export function encodeServerCommand(
  target: Uint8Array,
  offset: number,
  prefixCode: number,
): number {
  const at = encodePacketHeader(target, offset, MAGIC_FROM_SERVER, 1);
  return writeUint8(target, at, prefixCode);
}
