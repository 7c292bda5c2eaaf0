/**
 * FastCGI name-value pairs (spec section 3.4): 1-byte lengths below 128, 4-byte lengths with the
 * high bit set otherwise. Used by FCGI_PARAMS, FCGI_GET_VALUES and FCGI_GET_VALUES_RESULT.
 *
 * Pure code: no I/O, no promises. Names and values are UTF-8 (invalid bytes become U+FFFD).
 *
 * @example Round trip
 * ```ts
 * import { decodeParams, encodeParams } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeParams([["REQUEST_METHOD", "GET"], ["QUERY_STRING", "a=1"]]);
 * assertEquals(decodeParams(bytes), ["REQUEST_METHOD", "GET", "QUERY_STRING", "a=1"]);
 * ```
 *
 * @module
 */

import { LimitExceededError, ProtocolError } from "../errors.ts";
import { encodeLatin1Into, textEncoder, utf8Length } from "../_text.ts";
import { decodeCommonText } from "../_common_text.ts";

/** Limits of {@linkcode decodeParams} and {@linkcode ParamsDecoder}. */
export interface ParamsLimits {
  /**
   * The most bytes of encoded pairs accepted; checked before bytes are copied.
   *
   * @default {65536}
   */
  maxBytes?: number;
  /**
   * The most pairs accepted.
   *
   * @default {1000}
   */
  maxPairs?: number;
}

const DEFAULT_MAX_BYTES = 65536;
const DEFAULT_MAX_PAIRS = 1000;

/**
 * Decodes a complete block of name-value pairs.
 *
 * @param bytes The encoded pairs, nothing else.
 * @param limits `maxPairs` is enforced here (`maxBytes` too, on `bytes.length`).
 * @returns Names and values alternating: `[name0, value0, name1, value1, ...]`, in wire order.
 * @throws {ProtocolError} When a length runs past the end of `bytes`.
 * @throws {LimitExceededError} On more than `maxPairs` pairs (option `maxParamsPairs`) or more
 * than `maxBytes` bytes (option `maxParamsBytes`).
 *
 * @example Usage
 * ```ts
 * import { decodeParams } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeParams(new Uint8Array([1, 1, 65, 66])), ["A", "B"]);
 * ```
 */
export function decodeParams(bytes: Uint8Array, limits: ParamsLimits = {}): string[] {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxPairs = limits.maxPairs ?? DEFAULT_MAX_PAIRS;
  if (bytes.length > maxBytes) throw paramsBytesError(maxBytes);
  const out: string[] = [];
  const end = bytes.length;
  let at = 0;
  while (at < end) {
    if (out.length >= maxPairs * 2) {
      throw new LimitExceededError(`Cannot accept FastCGI params: more than "${maxPairs}" pairs`, {
        option: "maxParamsPairs",
        limit: maxPairs,
        protocol: "fastcgi",
        offset: at,
      });
    }
    let nameLength = bytes[at]!;
    if (nameLength & 0x80) {
      if (at + 4 > end) throw truncated(at);
      nameLength = ((nameLength & 0x7f) << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) |
        bytes[at + 3]!;
      at += 4;
    } else at += 1;
    if (at >= end) throw truncated(at);
    let valueLength = bytes[at]!;
    if (valueLength & 0x80) {
      if (at + 4 > end) throw truncated(at);
      valueLength = ((valueLength & 0x7f) << 24) | (bytes[at + 1]! << 16) |
        (bytes[at + 2]! << 8) | bytes[at + 3]!;
      at += 4;
    } else at += 1;
    // Both lengths are checked against what is left before any string is made.
    if (nameLength > end - at || valueLength > end - at - nameLength) throw truncated(at);
    out.push(decodeCommonText(bytes, at, at + nameLength));
    at += nameLength;
    out.push(decodeCommonText(bytes, at, at + valueLength));
    at += valueLength;
  }
  return out;
}

function truncated(offset: number): ProtocolError {
  return new ProtocolError("Cannot decode FastCGI name-value pair: a length runs past the end", {
    protocol: "fastcgi",
    offset,
  });
}

function paramsBytesError(maxBytes: number): LimitExceededError {
  return new LimitExceededError(`Cannot accept FastCGI params: more than "${maxBytes}" bytes`, {
    option: "maxParamsBytes",
    limit: maxBytes,
    protocol: "fastcgi",
  });
}

/**
 * Collects a params stream that arrives over several records, then decodes it.
 *
 * @example Usage
 * ```ts
 * import { encodeParams, ParamsDecoder } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeParams([["A", "1"]]);
 * const decoder = new ParamsDecoder();
 * decoder.push(bytes.subarray(0, 2));
 * decoder.push(bytes.subarray(2));
 * assertEquals(decoder.finish(), ["A", "1"]);
 * ```
 */
export class ParamsDecoder {
  #buffer: Uint8Array = new Uint8Array(0);
  #length = 0;
  #limits: ParamsLimits;
  #maxBytes: number;

  /**
   * Makes a decoder.
   *
   * @param limits `maxBytes` and `maxPairs`.
   */
  constructor(limits: ParamsLimits = {}) {
    this.#limits = limits;
    this.#maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /** Bytes collected so far. */
  get length(): number {
    return this.#length;
  }

  /**
   * Appends one record's content; the total is checked against `maxBytes` before copying.
   *
   * @param content The bytes of one FCGI_PARAMS record.
   * @throws {LimitExceededError} Past `maxBytes` (option `maxParamsBytes`).
   */
  push(content: Uint8Array): void {
    const length = this.#length + content.length;
    if (length > this.#maxBytes) throw paramsBytesError(this.#maxBytes);
    if (length > this.#buffer.length) {
      const grown = new Uint8Array(Math.min(this.#maxBytes, Math.max(length, 1024, length * 2)));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(content, this.#length);
    this.#length = length;
  }

  /**
   * Decodes everything pushed and empties the decoder.
   *
   * @returns Names and values alternating, as {@linkcode decodeParams} returns them.
   */
  finish(): string[] {
    try {
      return decodeParams(this.#buffer.subarray(0, this.#length), this.#limits);
    } finally {
      this.#length = 0;
    }
  }
}

/**
 * Bytes {@linkcode encodeParamsInto} writes for these pairs.
 *
 * @param pairs Name-value pairs.
 * @returns The encoded length.
 *
 * @example Usage
 * ```ts
 * import { encodedParamsLength } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(encodedParamsLength([["A", "B"]]), 4);
 * ```
 */
export function encodedParamsLength(pairs: Iterable<readonly [string, string]>): number {
  let length = 0;
  for (const [name, value] of pairs) {
    const n = utf8Length(name);
    const v = utf8Length(value);
    length += (n < 128 ? 1 : 4) + (v < 128 ? 1 : 4) + n + v;
  }
  return length;
}

/**
 * Writes name-value pairs into `target` at `offset`.
 *
 * @param target The buffer; needs {@linkcode encodedParamsLength} bytes from `offset`.
 * @param offset Where to write.
 * @param pairs Name-value pairs.
 * @returns The offset after the pairs.
 *
 * @example Usage
 * ```ts
 * import { encodeParamsInto } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(4);
 * assertEquals(encodeParamsInto(target, 0, [["A", "B"]]), 4);
 * assertEquals([...target], [1, 1, 65, 66]);
 * ```
 */
export function encodeParamsInto(
  target: Uint8Array,
  offset: number,
  pairs: Iterable<readonly [string, string]>,
): number {
  let at = offset;
  for (const [name, value] of pairs) {
    const n = utf8Length(name);
    const v = utf8Length(value);
    at = writeLength(target, at, n);
    at = writeLength(target, at, v);
    at = writeUtf8(target, at, name, n);
    at = writeUtf8(target, at, value, v);
  }
  return at;
}

/**
 * Writes `text`, `length` UTF-8 bytes long; ASCII text (as many bytes as chars, the usual case)
 * is written one byte per char, without an `encodeInto` call and its subarray.
 */
function writeUtf8(target: Uint8Array, at: number, text: string, length: number): number {
  if (length === text.length) return encodeLatin1Into(text, target, at);
  return at + textEncoder.encodeInto(text, target.subarray(at, at + length)).written;
}

function writeLength(target: Uint8Array, at: number, length: number): number {
  if (length < 128) {
    target[at] = length;
    return at + 1;
  }
  if (length > 0x7fffffff) {
    throw new RangeError(`Cannot encode FastCGI name-value pair: length is "${length}"`);
  }
  target[at] = (length >>> 24) | 0x80;
  target[at + 1] = (length >>> 16) & 0xff;
  target[at + 2] = (length >>> 8) & 0xff;
  target[at + 3] = length & 0xff;
  return at + 4;
}

/**
 * Encodes name-value pairs into a new buffer.
 *
 * @param pairs Name-value pairs.
 * @returns The encoded bytes.
 *
 * @example Usage
 * ```ts
 * import { encodeParams } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals([...encodeParams([["A", "B"]])], [1, 1, 65, 66]);
 * ```
 */
export function encodeParams(pairs: Iterable<readonly [string, string]>): Uint8Array {
  const list = [...pairs];
  const target = new Uint8Array(encodedParamsLength(list));
  encodeParamsInto(target, 0, list);
  return target;
}
