/**
 * The SCGI header block (python.ca/scgi/protocol.txt): a netstring `LENGTH ":" PAIRS ","` whose
 * pairs are `name NUL value NUL`, followed by exactly `CONTENT_LENGTH` body bytes.
 *
 * Pure code: no I/O, no promises. The decoder reports "need more bytes" as `null`.
 *
 * Decoding is strict. A block is refused with a `ProtocolError` (protocol `"scgi"`, `offset`
 * into the block) when:
 *
 * - the length is empty, has a non-digit, or a leading zero (`"0"` alone is a length);
 * - the netstring does not end with `","`, or a name or value is not ended by NUL;
 * - a name is empty or has a byte outside `!` to `~`, or `=` (names are environment names);
 * - the first header is not `CONTENT_LENGTH`, or its value is not decimal digits without a
 *   leading zero (`"0"` alone is allowed) of at most 15 digits;
 * - the `SCGI` header is missing or its value is not `"1"`;
 * - a name is repeated, unless it starts with `HTTP_`: front ends send one pair per request
 *   header line (nginx before 1.23 does so for repeated headers), and the gateway joins them
 *   as one header. A repeated `CONTENT_LENGTH`, `REQUEST_URI` or any other CGI variable is
 *   refused, since two readers could pick different ones.
 *
 * Values may be empty (nginx sends `QUERY_STRING` and `CONTENT_TYPE` empty) and are UTF-8;
 * invalid bytes become U+FFFD.
 *
 * Limits are checked before allocation: the netstring length against `maxHeaderBytes` while
 * its digits are read, before any of the block is buffered, and the pair count against
 * `maxHeaderPairs` before a pair's strings are made. Both throw a `LimitExceededError` naming
 * the gateway option (`maxParamsBytes`, `maxParamsPairs`).
 *
 * @example Round trip
 * ```ts
 * import { decodeScgiHeaders, encodeScgiHeaders } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeScgiHeaders([["CONTENT_LENGTH", "0"], ["SCGI", "1"]]);
 * assertEquals(new TextDecoder().decode(bytes), "24:CONTENT_LENGTH\u00000\u0000SCGI\u00001\u0000,");
 * assertEquals(decodeScgiHeaders(bytes)?.pairs, ["CONTENT_LENGTH", "0", "SCGI", "1"]);
 * ```
 *
 * @module
 */

import { LimitExceededError, ProtocolError } from "../errors.ts";
import { textEncoder, utf8Length } from "../_text.ts";
import { decodeCommonText } from "../_common_text.ts";
import { NETSTRING, SCGI_HEADER } from "./constants.ts";

/** Limits of {@linkcode decodeScgiHeaders} and {@linkcode ScgiHeaderDecoder}. */
export interface ScgiHeaderLimits {
  /**
   * The largest netstring length (the bytes of the pairs) accepted; the gateway option
   * `maxParamsBytes`.
   *
   * @default {65536}
   */
  maxHeaderBytes?: number;
  /**
   * The most name-value pairs accepted; the gateway option `maxParamsPairs`.
   *
   * @default {1000}
   */
  maxHeaderPairs?: number;
}

/** A decoded header block. */
export interface ScgiHeaderBlock {
  /** Names and values alternating, `[name0, value0, name1, value1, ...]`, in wire order. */
  pairs: string[];
  /** The `CONTENT_LENGTH` header as a number: the body bytes that follow the block. */
  contentLength: number;
  /** Bytes of the whole netstring, `LENGTH ":"` and `","` included: where the body starts. */
  length: number;
}

const DEFAULT_MAX_BYTES = 65536;
const DEFAULT_MAX_PAIRS = 1000;
/** `CONTENT_LENGTH` as the gateway reads it: at most 15 digits, no leading zero. */
const CONTENT_LENGTH_PATTERN = /^(?:0|[1-9][0-9]{0,14})$/;
const EQUALS = 0x3d;

function protocolError(what: string, offset: number): ProtocolError {
  return new ProtocolError(`Cannot decode SCGI header block: ${what}`, {
    protocol: "scgi",
    offset,
  });
}

/**
 * Decodes the header block at the start of `bytes`.
 *
 * @param bytes Received bytes, starting with the netstring; body bytes may follow it.
 * @param limits `maxHeaderBytes` and `maxHeaderPairs`.
 * @returns The block, or `null` when more bytes are needed to finish it.
 * @throws {ProtocolError} When the bytes break the rules in this module's documentation.
 * @throws {LimitExceededError} Past `maxHeaderBytes` (option `maxParamsBytes`) or
 * `maxHeaderPairs` (option `maxParamsPairs`).
 *
 * @example Body bytes after the block
 * ```ts
 * import { decodeScgiHeaders } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = new TextEncoder().encode("24:CONTENT_LENGTH\u00002\u0000SCGI\u00001\u0000,hi");
 * const block = decodeScgiHeaders(bytes);
 * assertEquals(block?.contentLength, 2);
 * assertEquals(block?.length, 28);
 * assertEquals(decodeScgiHeaders(bytes.subarray(0, 27)), null);
 * ```
 */
export function decodeScgiHeaders(
  bytes: Uint8Array,
  limits: ScgiHeaderLimits = {},
): ScgiHeaderBlock | null {
  const maxBytes = limits.maxHeaderBytes ?? DEFAULT_MAX_BYTES;
  const maxPairs = limits.maxHeaderPairs ?? DEFAULT_MAX_PAIRS;
  const end = bytes.length;
  let length = 0;
  let at = 0;
  for (;; at++) {
    if (at >= end) return null;
    const byte = bytes[at]!;
    if (byte === NETSTRING.LengthEnd) break;
    if (byte < NETSTRING.Digit0 || byte > NETSTRING.Digit9) {
      throw protocolError(`the length has byte "${byte}"`, at);
    }
    if (at > 0 && length === 0) throw protocolError("the length has a leading zero", at);
    length = length * 10 + (byte - NETSTRING.Digit0);
    if (length > maxBytes) {
      throw new LimitExceededError(
        `Cannot accept SCGI headers: the block is over "${maxBytes}" bytes`,
        { option: "maxParamsBytes", limit: maxBytes, protocol: "scgi", offset: at },
      );
    }
  }
  if (at === 0) throw protocolError("the length is empty", 0);
  const start = at + 1;
  const stop = start + length;
  if (end <= stop) return null;
  if (bytes[stop] !== NETSTRING.End) throw protocolError(`"," is missing`, stop);
  const pairs: string[] = [];
  let contentLength = -1;
  let scgi = false;
  let seen: Set<string> | null = null;
  for (let p = start; p < stop;) {
    if (pairs.length >= maxPairs * 2) {
      throw new LimitExceededError(
        `Cannot accept SCGI headers: more than "${maxPairs}" pairs`,
        { option: "maxParamsPairs", limit: maxPairs, protocol: "scgi", offset: p },
      );
    }
    // One pass finds the NUL that ends the name and checks the name's bytes.
    let nameEnd = p;
    for (; nameEnd < stop; nameEnd++) {
      const byte = bytes[nameEnd]!;
      if (byte === NETSTRING.Separator) break;
      if (byte <= 0x20 || byte >= 0x7f || byte === EQUALS) {
        throw protocolError(`a name has byte "${byte}"`, nameEnd);
      }
    }
    if (nameEnd >= stop) throw protocolError("a name is not ended by NUL", p);
    if (nameEnd === p) throw protocolError("a name is empty", p);
    let valueEnd = nameEnd + 1;
    while (valueEnd < stop && bytes[valueEnd] !== NETSTRING.Separator) valueEnd++;
    if (valueEnd >= stop) throw protocolError("a value is not ended by NUL", nameEnd + 1);
    const name = decodeCommonText(bytes, p, nameEnd);
    const value = decodeCommonText(bytes, nameEnd + 1, valueEnd);
    if (pairs.length === 0) {
      if (name !== SCGI_HEADER.ContentLength) {
        throw protocolError(`the first header is "${name}", not CONTENT_LENGTH`, p);
      }
      if (!CONTENT_LENGTH_PATTERN.test(value)) {
        throw protocolError(`CONTENT_LENGTH is "${value}"`, nameEnd + 1);
      }
      contentLength = Number(value);
    } else if (!name.startsWith("HTTP_")) {
      seen ??= new Set();
      if (name === SCGI_HEADER.ContentLength || seen.has(name)) {
        throw protocolError(`header "${name}" is repeated`, p);
      }
      seen.add(name);
      if (name === SCGI_HEADER.Scgi) {
        if (value !== SCGI_HEADER.ScgiVersion) {
          throw protocolError(`SCGI is "${value}", not "1"`, nameEnd + 1);
        }
        scgi = true;
      }
    }
    pairs.push(name, value);
    p = valueEnd + 1;
  }
  if (contentLength < 0) throw protocolError("the first header is not CONTENT_LENGTH", start);
  if (!scgi) throw protocolError(`the "SCGI" header is missing`, start);
  return { pairs, contentLength, length: stop + 1 };
}

/** Options of {@linkcode ScgiHeaderDecoder}. */
export interface ScgiHeaderDecoderOptions extends ScgiHeaderLimits {
  /**
   * Bytes of the receive buffer at first; it grows as needed.
   *
   * @default {4096}
   */
  initialBufferSize?: number;
}

/**
 * Collects the header block from bytes that arrive split anywhere, in one receive buffer
 * that is read into directly (`writable`/`commit`) or copied into (`push`). After the block,
 * the bytes already received are the start of the body (`remainder`).
 *
 * @example Bytes one at a time
 * ```ts
 * import { encodeScgiHeaders, ScgiHeaderDecoder } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * const header = encodeScgiHeaders([["CONTENT_LENGTH", "3"], ["SCGI", "1"], ["A", "b"]]);
 * const bytes = new Uint8Array([...header, 1, 2, 3]);
 * const decoder = new ScgiHeaderDecoder();
 * let block = null;
 * for (let i = 0; block === null; i++) {
 *   decoder.push(bytes.subarray(i, i + 1));
 *   block = decoder.decode();
 * }
 * assertEquals(block.pairs, ["CONTENT_LENGTH", "3", "SCGI", "1", "A", "b"]);
 * assertEquals([...decoder.remainder], []); // the body is still to come
 * ```
 */
export class ScgiHeaderDecoder {
  #buffer: Uint8Array;
  #end = 0;
  #limits: ScgiHeaderLimits;
  #block: ScgiHeaderBlock | null = null;

  /**
   * Makes a decoder.
   *
   * @param options Limits and the initial buffer size.
   */
  constructor(options: ScgiHeaderDecoderOptions = {}) {
    this.#limits = options;
    this.#buffer = new Uint8Array(options.initialBufferSize ?? 4096);
  }

  /** Bytes received so far (the block and any body bytes after it). */
  get buffered(): number {
    return this.#end;
  }

  /** Bytes of the buffer the decoder holds (for memory accounting). */
  get capacity(): number {
    return this.#buffer.length;
  }

  /**
   * Bytes received after the block (the start of the body): a view valid until the next
   * `writable` or `push`. Empty before the block is decoded.
   */
  get remainder(): Uint8Array {
    return this.#block ? this.#buffer.subarray(this.#block.length, this.#end) : new Uint8Array(0);
  }

  /**
   * Space to read into, at least `minimum` bytes; follow it with
   * {@linkcode ScgiHeaderDecoder.commit}.
   *
   * @param minimum The fewest free bytes wanted.
   * @returns A view of the free space.
   */
  writable(minimum = 4096): Uint8Array {
    if (this.#buffer.length - this.#end < minimum) {
      const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#end + minimum));
      grown.set(this.#buffer.subarray(0, this.#end));
      this.#buffer = grown;
    }
    return this.#buffer.subarray(this.#end);
  }

  /**
   * Marks `count` bytes written into the last {@linkcode ScgiHeaderDecoder.writable} view as
   * received.
   *
   * @param count Bytes written.
   */
  commit(count: number): void {
    if (!(count >= 0) || this.#end + count > this.#buffer.length) {
      throw new RangeError(`Cannot commit "${count}" bytes: the writable view is smaller`);
    }
    this.#end += count;
  }

  /**
   * Copies `chunk` into the decoder.
   *
   * @param chunk Received bytes.
   */
  push(chunk: Uint8Array): void {
    this.writable(chunk.length).set(chunk);
    this.#end += chunk.length;
  }

  /**
   * Decodes the block once all of it has arrived; later calls return the same block.
   *
   * @returns The block, or `null` when more bytes are needed.
   * @throws {ProtocolError} As {@linkcode decodeScgiHeaders} does.
   * @throws {LimitExceededError} As {@linkcode decodeScgiHeaders} does, as soon as the length
   * digits pass `maxHeaderBytes`.
   */
  decode(): ScgiHeaderBlock | null {
    this.#block ??= decodeScgiHeaders(this.#buffer.subarray(0, this.#end), this.#limits);
    return this.#block;
  }
}

/**
 * Encodes a header block, pairs in the order given. The spec wants `CONTENT_LENGTH` first and
 * `SCGI` `"1"` present; the caller supplies them.
 *
 * @param pairs Name-value pairs.
 * @returns The netstring bytes.
 * @throws {TypeError} On an empty name, or a NUL in a name or value.
 *
 * @example Usage
 * ```ts
 * import { encodeScgiHeaders } from "@flup/flup/scgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeScgiHeaders([["CONTENT_LENGTH", "0"], ["SCGI", "1"], ["Q", ""]]);
 * assertEquals(new TextDecoder().decode(bytes), "27:CONTENT_LENGTH\u00000\u0000SCGI\u00001\u0000Q\u0000\u0000,");
 * ```
 */
export function encodeScgiHeaders(pairs: Iterable<readonly [string, string]>): Uint8Array {
  const list = [...pairs];
  let length = 0;
  for (const [name, value] of list) {
    if (name === "" || name.includes("\0") || value.includes("\0")) {
      throw new TypeError(
        `Cannot encode SCGI header "${name}": the name is empty or a NUL is in the pair`,
      );
    }
    length += utf8Length(name) + utf8Length(value) + 2;
  }
  const prefix = `${length}:`;
  const out = new Uint8Array(prefix.length + length + 1);
  let at = textEncoder.encodeInto(prefix, out).written;
  for (const [name, value] of list) {
    at += textEncoder.encodeInto(name, out.subarray(at)).written;
    out[at++] = NETSTRING.Separator;
    at += textEncoder.encodeInto(value, out.subarray(at)).written;
    out[at++] = NETSTRING.Separator;
  }
  out[at] = NETSTRING.End;
  return out;
}
