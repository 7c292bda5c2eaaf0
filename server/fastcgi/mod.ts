/**
 * FastCGI 1.0: the pure record and name-value codecs, and the FastCGI gateway server.
 *
 * @example Decode records from bytes split anywhere
 * ```ts
 * import { encodeRecord, RecordDecoder, RECORD_TYPE } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = new Uint8Array(16);
 * encodeRecord(bytes, 0, RECORD_TYPE.Stdin, 1, new Uint8Array([1]));
 * const decoder = new RecordDecoder();
 * for (const byte of bytes) decoder.push(new Uint8Array([byte]));
 * assertEquals(decoder.next(), true);
 * assertEquals([...decoder.content], [1]);
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./record.ts";
export * from "./params.ts";
export * from "./server.ts";
export * from "./client.ts";
