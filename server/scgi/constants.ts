/**
 * SCGI constants, from the protocol description at python.ca/scgi/protocol.txt ("the spec").
 *
 * @example Usage
 * ```ts
 * import { NETSTRING, SCGI_HEADER } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(NETSTRING.LengthEnd, 0x3a); // ":"
 * assertEquals(SCGI_HEADER.ContentLength, "CONTENT_LENGTH");
 * ```
 *
 * @module
 */

/**
 * Bytes of the netstring that frames the header block: `LENGTH ":" PAIRS ","`.
 *
 * @example Usage
 * ```ts
 * import { NETSTRING } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(String.fromCharCode(NETSTRING.End), ",");
 * ```
 */
export const NETSTRING = {
  /** ":" after the decimal length (spec "netstring", D. J. Bernstein's netstrings). */
  LengthEnd: 0x3a,
  /** "," after the pairs (spec "netstring"). */
  End: 0x2c,
  /** NUL after every name and every value (spec "headers ::= header*"). */
  Separator: 0x00,
  /** "0", the first decimal digit. */
  Digit0: 0x30,
  /** "9", the last decimal digit. */
  Digit9: 0x39,
} as const;

/**
 * Header names and values the spec fixes.
 *
 * @example Usage
 * ```ts
 * import { SCGI_HEADER } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals([SCGI_HEADER.Scgi, SCGI_HEADER.ScgiVersion], ["SCGI", "1"]);
 * ```
 */
export const SCGI_HEADER = {
  /** The first header, always present, the body length in decimal (spec "Request format"). */
  ContentLength: "CONTENT_LENGTH",
  /** Always present (spec "Request format"). */
  Scgi: "SCGI",
  /** The only value of the `SCGI` header (spec "Request format"). */
  ScgiVersion: "1",
} as const;
