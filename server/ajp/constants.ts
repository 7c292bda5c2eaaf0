/**
 * AJP 1.3 protocol numbers, with the names the Apache Tomcat Connector specification ("AJPv13",
 * `ajp_header.h` of mod_jk and mod_proxy_ajp) gives them.
 *
 * Every spec number of the AJP side lives here and only here.
 *
 * @example Usage
 * ```ts
 * import { PREFIX_CODE, REQUEST_HEADER } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(PREFIX_CODE.ForwardRequest, 2);
 * assertEquals(REQUEST_HEADER.Host, 0xa00b);
 * ```
 *
 * @module
 */

/** The magic of packets from the web server to the container: 0x12 0x34 (spec "Packet Format"). */
export const MAGIC_FROM_SERVER = 0x1234;

/** The magic of packets from the container to the web server: "AB" (spec "Packet Format"). */
export const MAGIC_TO_SERVER = 0x4142;

/** Bytes of a packet header: the 2-byte magic and the 2-byte payload length. */
export const HEADER_LENGTH = 4;

/**
 * The default packet size, header included: 8 KiB, as mod_proxy_ajp's default
 * `ProxyIOBufferSize`, mod_jk's `max_packet_size` and Tomcat's `packetSize`.
 */
export const DEFAULT_PACKET_SIZE = 8192;

/** The smallest packet size a front end uses (mod_proxy_ajp's AJP_MSG_BUFFER_SZ). */
export const MIN_PACKET_SIZE = 8192;

/** The largest packet size, header included (mod_proxy_ajp's AJP_MAX_BUFFER_SZ). */
export const MAX_PACKET_SIZE = 65536;

/**
 * Bytes of a SEND_BODY_CHUNK packet around its data: header 4, prefix 1, length 2 and the
 * trailing 0 byte mod_proxy_ajp's ajp_parse_data() insists on (Tomcat's SEND_HEAD_LEN).
 */
export const SEND_BODY_CHUNK_OVERHEAD = 8;

/**
 * Bytes of a request body packet around its data: header 4 and length 2 (Tomcat's
 * READ_HEAD_LEN). GET_BODY_CHUNK asks for `packetSize - 6` bytes.
 */
export const BODY_CHUNK_OVERHEAD = 6;

/** A string length meaning "null string" (spec "Data types": 0xFFFF, no bytes follow). */
export const NULL_STRING_LENGTH = 0xffff;

/** The first byte of a coded header name (spec "request_headers"). */
export const CODED_HEADER_MARKER = 0xa0;

/** Prefix codes: the first payload byte of every packet (spec "Packet Format" tables). */
export const PREFIX_CODE = {
  /** JK_AJP13_FORWARD_REQUEST: server to container, begins a request. */
  ForwardRequest: 2,
  /** JK_AJP13_SEND_BODY_CHUNK: container to server, a piece of the response body. */
  SendBodyChunk: 3,
  /** JK_AJP13_SEND_HEADERS: container to server, the response status and headers. */
  SendHeaders: 4,
  /** JK_AJP13_END_RESPONSE: container to server, the end of the response. */
  EndResponse: 5,
  /** JK_AJP13_GET_BODY_CHUNK: container to server, asks for more of the request body. */
  GetBodyChunk: 6,
  /** JK_AJP13_SHUTDOWN: server to container, asks it to shut down (ignored here). */
  Shutdown: 7,
  /** JK_AJP13_PING_REQUEST: server to container, obsolete logon ping. */
  Ping: 8,
  /** JK_AJP13_CPONG_REPLY: container to server, the answer to CPING. */
  CPong: 9,
  /** JK_AJP13_CPING_REQUEST: server to container, "are you alive?". */
  CPing: 10,
} as const;

/** Method codes of FORWARD_REQUEST (spec "method", SC_M_*). */
export const METHOD = {
  /** SC_M_OPTIONS */
  Options: 1,
  /** SC_M_GET */
  Get: 2,
  /** SC_M_HEAD */
  Head: 3,
  /** SC_M_POST */
  Post: 4,
  /** SC_M_PUT */
  Put: 5,
  /** SC_M_DELETE */
  Delete: 6,
  /** SC_M_TRACE */
  Trace: 7,
  /** SC_M_PROPFIND */
  Propfind: 8,
  /** SC_M_PROPPATCH */
  Proppatch: 9,
  /** SC_M_MKCOL */
  Mkcol: 10,
  /** SC_M_COPY */
  Copy: 11,
  /** SC_M_MOVE */
  Move: 12,
  /** SC_M_LOCK */
  Lock: 13,
  /** SC_M_UNLOCK */
  Unlock: 14,
  /** SC_M_ACL */
  Acl: 15,
  /** SC_M_REPORT */
  Report: 16,
  /** SC_M_VERSION_CONTROL */
  VersionControl: 17,
  /** SC_M_CHECKIN */
  Checkin: 18,
  /** SC_M_CHECKOUT */
  Checkout: 19,
  /** SC_M_UNCHECKOUT */
  Uncheckout: 20,
  /** SC_M_SEARCH */
  Search: 21,
  /** SC_M_MKWORKSPACE */
  Mkworkspace: 22,
  /** SC_M_UPDATE */
  Update: 23,
  /** SC_M_LABEL */
  Label: 24,
  /** SC_M_MERGE */
  Merge: 25,
  /** SC_M_BASELINE_CONTROL */
  BaselineControl: 26,
  /** SC_M_MKACTIVITY */
  Mkactivity: 27,
  /** SC_M_JK_STORED: the method name follows as the stored_method attribute. */
  JkStored: 0xff,
} as const;

/** Method names by code, in the spec's spelling. */
export const METHOD_NAMES: Readonly<Record<number, string>> = {
  1: "OPTIONS",
  2: "GET",
  3: "HEAD",
  4: "POST",
  5: "PUT",
  6: "DELETE",
  7: "TRACE",
  8: "PROPFIND",
  9: "PROPPATCH",
  10: "MKCOL",
  11: "COPY",
  12: "MOVE",
  13: "LOCK",
  14: "UNLOCK",
  15: "ACL",
  16: "REPORT",
  17: "VERSION-CONTROL",
  18: "CHECKIN",
  19: "CHECKOUT",
  20: "UNCHECKOUT",
  21: "SEARCH",
  22: "MKWORKSPACE",
  23: "UPDATE",
  24: "LABEL",
  25: "MERGE",
  26: "BASELINE-CONTROL",
  27: "MKACTIVITY",
};

/** Coded request header names of FORWARD_REQUEST (spec "request_headers", SC_REQ_*). */
export const REQUEST_HEADER = {
  /** SC_REQ_ACCEPT */
  Accept: 0xa001,
  /** SC_REQ_ACCEPT_CHARSET */
  AcceptCharset: 0xa002,
  /** SC_REQ_ACCEPT_ENCODING */
  AcceptEncoding: 0xa003,
  /** SC_REQ_ACCEPT_LANGUAGE */
  AcceptLanguage: 0xa004,
  /** SC_REQ_AUTHORIZATION */
  Authorization: 0xa005,
  /** SC_REQ_CONNECTION */
  Connection: 0xa006,
  /** SC_REQ_CONTENT_TYPE */
  ContentType: 0xa007,
  /** SC_REQ_CONTENT_LENGTH */
  ContentLength: 0xa008,
  /** SC_REQ_COOKIE */
  Cookie: 0xa009,
  /** SC_REQ_COOKIE2 */
  Cookie2: 0xa00a,
  /** SC_REQ_HOST */
  Host: 0xa00b,
  /** SC_REQ_PRAGMA */
  Pragma: 0xa00c,
  /** SC_REQ_REFERER */
  Referer: 0xa00d,
  /** SC_REQ_USER_AGENT */
  UserAgent: 0xa00e,
} as const;

/** Lower-case request header names by code. */
export const REQUEST_HEADER_NAMES: Readonly<Record<number, string>> = {
  0xa001: "accept",
  0xa002: "accept-charset",
  0xa003: "accept-encoding",
  0xa004: "accept-language",
  0xa005: "authorization",
  0xa006: "connection",
  0xa007: "content-type",
  0xa008: "content-length",
  0xa009: "cookie",
  0xa00a: "cookie2",
  0xa00b: "host",
  0xa00c: "pragma",
  0xa00d: "referer",
  0xa00e: "user-agent",
};

/** Coded response header names of SEND_HEADERS (spec "response_headers", SC_RESP_*). */
export const RESPONSE_HEADER = {
  /** SC_RESP_CONTENT_TYPE */
  ContentType: 0xa001,
  /** SC_RESP_CONTENT_LANGUAGE */
  ContentLanguage: 0xa002,
  /** SC_RESP_CONTENT_LENGTH */
  ContentLength: 0xa003,
  /** SC_RESP_DATE */
  Date: 0xa004,
  /** SC_RESP_LAST_MODIFIED */
  LastModified: 0xa005,
  /** SC_RESP_LOCATION */
  Location: 0xa006,
  /** SC_RESP_SET_COOKIE */
  SetCookie: 0xa007,
  /** SC_RESP_SET_COOKIE2 */
  SetCookie2: 0xa008,
  /** SC_RESP_SERVLET_ENGINE */
  ServletEngine: 0xa009,
  /** SC_RESP_STATUS */
  Status: 0xa00a,
  /** SC_RESP_WWW_AUTHENTICATE */
  WwwAuthenticate: 0xa00b,
} as const;

/** Lower-case response header names by code. */
export const RESPONSE_HEADER_NAMES: Readonly<Record<number, string>> = {
  0xa001: "content-type",
  0xa002: "content-language",
  0xa003: "content-length",
  0xa004: "date",
  0xa005: "last-modified",
  0xa006: "location",
  0xa007: "set-cookie",
  0xa008: "set-cookie2",
  0xa009: "servlet-engine",
  0xa00a: "status",
  0xa00b: "www-authenticate",
};

/** Attribute codes of FORWARD_REQUEST (spec "attributes", SC_A_*). */
export const ATTRIBUTE = {
  /** SC_A_CONTEXT: not implemented by the spec's servers; a string, ignored. */
  Context: 0x01,
  /** SC_A_SERVLET_PATH: not implemented by the spec's servers; a string, ignored. */
  ServletPath: 0x02,
  /** SC_A_REMOTE_USER: a string; REMOTE_USER. */
  RemoteUser: 0x03,
  /** SC_A_AUTH_TYPE: a string; AUTH_TYPE. */
  AuthType: 0x04,
  /** SC_A_QUERY_STRING: a string; QUERY_STRING. */
  QueryString: 0x05,
  /** SC_A_JVM_ROUTE ("route"): a string; AJP_ROUTE. */
  Route: 0x06,
  /** SC_A_SSL_CERT: a string (PEM); SSL_CLIENT_CERT. */
  SslCert: 0x07,
  /** SC_A_SSL_CIPHER: a string; SSL_CIPHER. */
  SslCipher: 0x08,
  /** SC_A_SSL_SESSION: a string; SSL_SESSION_ID. */
  SslSession: 0x09,
  /** SC_A_REQ_ATTRIBUTE: a name string and a value string. */
  ReqAttribute: 0x0a,
  /** SC_A_SSL_KEY_SIZE: an integer (mod_proxy_ajp, mod_jk); SSL_CIPHER_USEKEYSIZE. */
  SslKeySize: 0x0b,
  /** SC_A_SECRET: a string, the shared secret (mod_jk `secret`, mod_proxy_ajp `secret=`). */
  Secret: 0x0c,
  /** SC_A_STORED_METHOD: a string, the method name when the method code is 0xFF. */
  StoredMethod: 0x0d,
  /** SC_A_ARE_DONE: the request_terminator that ends the attribute list. */
  AreDone: 0xff,
} as const;

/**
 * req_attribute names the container knows without `allowedRequestAttributesPattern`, as
 * Tomcat's AjpProcessor does: what mod_proxy_ajp and mod_jk send on their own.
 */
export const KNOWN_REQUEST_ATTRIBUTES: readonly string[] = [
  "AJP_REMOTE_PORT",
  "AJP_LOCAL_ADDR",
  "AJP_SSL_PROTOCOL",
  "JK_LB_ACTIVATION",
];
