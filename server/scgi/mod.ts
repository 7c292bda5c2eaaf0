/**
 * SCGI: the pure header-block codec and the SCGI gateway server.
 *
 * @example Decode a header block from bytes split anywhere
 * ```ts
 * import { encodeScgiHeaders, ScgiHeaderDecoder } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeScgiHeaders([
 *   ["CONTENT_LENGTH", "0"],
 *   ["SCGI", "1"],
 *   ["REQUEST_METHOD", "GET"],
 *   ["REQUEST_URI", "/hello"],
 * ]);
 * const decoder = new ScgiHeaderDecoder();
 * decoder.push(bytes.subarray(0, 10));
 * assertEquals(decoder.decode(), null); // needs more bytes
 * decoder.push(bytes.subarray(10));
 * assertEquals(decoder.decode()?.pairs.slice(4), ["REQUEST_METHOD", "GET", "REQUEST_URI", "/hello"]);
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./netstring.ts";
export * from "./server.ts";
export * from "./client.ts";
