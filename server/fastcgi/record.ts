/**
 * FastCGI records: headers, fixed bodies, streams and an incremental decoder.
 *
 * Pure code: no I/O, no promises. Encoders write into a buffer the caller supplies and return
 * the offset after what they wrote; the decoder reports "need more bytes" as `false`.
 *
 * @example Decode the records of a byte stream
 * ```ts
 * import { encodeRecord, RecordDecoder, RECORD_TYPE } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = new Uint8Array(64);
 * const end = encodeRecord(bytes, 0, RECORD_TYPE.Stdin, 1, new TextEncoder().encode("hi"));
 * const decoder = new RecordDecoder();
 * decoder.push(bytes.subarray(0, end));
 * assertEquals(decoder.next(), true);
 * assertEquals(decoder.type, RECORD_TYPE.Stdin);
 * assertEquals(new TextDecoder().decode(decoder.content), "hi");
 * assertEquals(decoder.next(), false);
 * ```
 *
 * @module
 */

import { LimitExceededError, ProtocolError } from "../errors.ts";
import {
  FIXED_BODY_LENGTH,
  HEADER_LENGTH,
  MAX_CONTENT_LENGTH,
  MAX_PADDING_LENGTH,
  MAX_UNPADDED_CONTENT_LENGTH as STREAM_CHUNK,
  NULL_REQUEST_ID,
  RECORD_TYPE,
  VERSION,
} from "./constants.ts";

/** The largest content a stream record carries when this module splits a stream. */
const ZERO_PADDING = new Uint8Array(8);

/** The fields of an 8-byte FastCGI record header (spec section 3.3, FCGI_Header). */
export interface RecordHeader {
  /** `version`: always 1. */
  version: number;
  /** `type`: a {@linkcode RECORD_TYPE} value (or an unknown one). */
  type: number;
  /** `requestIdB1 << 8 | requestIdB0`. */
  requestId: number;
  /** `contentLengthB1 << 8 | contentLengthB0`. */
  contentLength: number;
  /** `paddingLength`. */
  paddingLength: number;
}

/**
 * Padding that aligns a record of `contentLength` bytes to 8 bytes, as the spec recommends.
 *
 * @param contentLength Content bytes of the record.
 * @returns The padding length, 0 to 7.
 *
 * @example Usage
 * ```ts
 * import { paddingFor } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(paddingFor(5), 3);
 * assertEquals(paddingFor(8), 0);
 * ```
 */
export function paddingFor(contentLength: number): number {
  return (8 - (contentLength & 7)) & 7;
}

/**
 * Reads a record header at `offset`.
 *
 * @param bytes The input.
 * @param offset Where the header starts.
 * @returns The header, or `null` when fewer than 8 bytes are there.
 *
 * @example Usage
 * ```ts
 * import { decodeRecordHeader } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const header = decodeRecordHeader(new Uint8Array([1, 5, 0, 1, 0, 2, 6, 0]), 0);
 * assertEquals(header, { version: 1, type: 5, requestId: 1, contentLength: 2, paddingLength: 6 });
 * ```
 */
export function decodeRecordHeader(bytes: Uint8Array, offset = 0): RecordHeader | null {
  if (bytes.length - offset < HEADER_LENGTH) return null;
  return {
    version: bytes[offset]!,
    type: bytes[offset + 1]!,
    requestId: (bytes[offset + 2]! << 8) | bytes[offset + 3]!,
    contentLength: (bytes[offset + 4]! << 8) | bytes[offset + 5]!,
    paddingLength: bytes[offset + 6]!,
  };
}

/**
 * Writes a record header into `target` at `offset`.
 *
 * @param target The buffer to write into; needs 8 bytes from `offset`.
 * @param offset Where to write.
 * @param type The record type.
 * @param requestId The request id, 0 to 65535.
 * @param contentLength The content length, 0 to 65535.
 * @param paddingLength The padding length, 0 to 255.
 * @returns The offset after the header.
 *
 * @example Usage
 * ```ts
 * import { encodeRecordHeader, RECORD_TYPE } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(8);
 * encodeRecordHeader(target, 0, RECORD_TYPE.Stdout, 1, 300, 4);
 * assertEquals([...target], [1, 6, 0, 1, 1, 44, 4, 0]);
 * ```
 */
export function encodeRecordHeader(
  target: Uint8Array,
  offset: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): number {
  if (contentLength > MAX_CONTENT_LENGTH || contentLength < 0) {
    throw new RangeError(`Cannot encode FastCGI record: content length is "${contentLength}"`);
  }
  if (!(requestId >= 0 && requestId <= 0xffff)) {
    throw new RangeError(`Cannot encode FastCGI record: request id is "${requestId}"`);
  }
  if (!(type >= 0 && type <= 0xff)) {
    throw new RangeError(`Cannot encode FastCGI record: type is "${type}"`);
  }
  if (paddingLength > MAX_PADDING_LENGTH || paddingLength < 0) {
    throw new RangeError(`Cannot encode FastCGI record: padding length is "${paddingLength}"`);
  }
  target[offset] = VERSION;
  target[offset + 1] = type;
  target[offset + 2] = requestId >> 8;
  target[offset + 3] = requestId & 0xff;
  target[offset + 4] = contentLength >> 8;
  target[offset + 5] = contentLength & 0xff;
  target[offset + 6] = paddingLength;
  target[offset + 7] = 0;
  return offset + HEADER_LENGTH;
}

/**
 * Writes one whole record (header, content, zero padding to 8 bytes) into `target`.
 *
 * @param target The buffer to write into.
 * @param offset Where to write.
 * @param type The record type.
 * @param requestId The request id.
 * @param content At most 65535 bytes.
 * @returns The offset after the record.
 *
 * @example Usage
 * ```ts
 * import { encodeRecord, RECORD_TYPE } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(16);
 * const end = encodeRecord(target, 0, RECORD_TYPE.Stdout, 1, new Uint8Array([65]));
 * assertEquals([...target.subarray(0, end)], [1, 6, 0, 1, 0, 1, 7, 0, 65, 0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function encodeRecord(
  target: Uint8Array,
  offset: number,
  type: number,
  requestId: number,
  content: Uint8Array,
): number {
  const padding = paddingFor(content.length);
  let at = encodeRecordHeader(target, offset, type, requestId, content.length, padding);
  target.set(content, at);
  at += content.length;
  if (padding > 0) {
    target.set(ZERO_PADDING.subarray(0, padding), at);
    at += padding;
  }
  return at;
}

/**
 * Bytes {@linkcode encodeStream} writes for `dataLength` bytes of stream data.
 *
 * @param dataLength Bytes of data; 0 gives the length of the empty end-of-stream record.
 * @returns The encoded length, headers and padding included.
 *
 * @example Usage
 * ```ts
 * import { encodedStreamLength } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(encodedStreamLength(0), 8);
 * assertEquals(encodedStreamLength(3), 16);
 * ```
 */
export function encodedStreamLength(dataLength: number): number {
  if (dataLength === 0) return HEADER_LENGTH;
  const full = Math.floor(dataLength / STREAM_CHUNK);
  const rest = dataLength - full * STREAM_CHUNK;
  let length = full * (HEADER_LENGTH + STREAM_CHUNK);
  if (rest > 0) length += HEADER_LENGTH + rest + paddingFor(rest);
  return length;
}

/**
 * Writes `data` as stream records (STDOUT, STDERR, STDIN, DATA, PARAMS) of at most 65528
 * content bytes each, each padded to 8 bytes. Empty `data` writes the end-of-stream record.
 *
 * @param target The buffer; needs {@linkcode encodedStreamLength} bytes from `offset`.
 * @param offset Where to write.
 * @param type The stream record type.
 * @param requestId The request id.
 * @param data The stream bytes.
 * @returns The offset after the last record.
 *
 * @example Usage
 * ```ts
 * import { encodedStreamLength, encodeStream, RECORD_TYPE } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const data = new Uint8Array(70000);
 * const target = new Uint8Array(encodedStreamLength(data.length));
 * assertEquals(encodeStream(target, 0, RECORD_TYPE.Stdout, 1, data), target.length);
 * ```
 */
export function encodeStream(
  target: Uint8Array,
  offset: number,
  type: number,
  requestId: number,
  data: Uint8Array,
): number {
  if (data.length === 0) return encodeRecordHeader(target, offset, type, requestId, 0, 0);
  let at = offset;
  for (let start = 0; start < data.length; start += STREAM_CHUNK) {
    at = encodeRecord(
      target,
      at,
      type,
      requestId,
      data.subarray(start, Math.min(start + STREAM_CHUNK, data.length)),
    );
  }
  return at;
}

/** The body of FCGI_BEGIN_REQUEST (spec section 5.1, FCGI_BeginRequestBody). */
export interface BeginRequestBody {
  /** `roleB1 << 8 | roleB0`: a {@linkcode ROLE} value, or an unknown one. */
  role: number;
  /** `flags`: {@linkcode FLAG}.KeepConn or 0. */
  flags: number;
}

/**
 * Reads the body of FCGI_BEGIN_REQUEST.
 *
 * @param content The record content; must be 8 bytes.
 * @returns The role and flags.
 * @throws {ProtocolError} When the content is not 8 bytes long.
 *
 * @example Usage
 * ```ts
 * import { decodeBeginRequestBody } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeBeginRequestBody(new Uint8Array([0, 1, 1, 0, 0, 0, 0, 0])), {
 *   role: 1,
 *   flags: 1,
 * });
 * ```
 */
export function decodeBeginRequestBody(content: Uint8Array): BeginRequestBody {
  if (content.length !== FIXED_BODY_LENGTH) {
    throw new ProtocolError(
      `Cannot decode FastCGI BEGIN_REQUEST: content length is "${content.length}", not 8`,
      { protocol: "fastcgi" },
    );
  }
  return { role: (content[0]! << 8) | content[1]!, flags: content[2]! };
}

/**
 * Writes a whole FCGI_BEGIN_REQUEST record.
 *
 * @param target The buffer; needs 16 bytes from `offset`.
 * @param offset Where to write.
 * @param requestId The request id, 1 to 65535.
 * @param role The role.
 * @param flags {@linkcode FLAG}.KeepConn or 0.
 * @returns The offset after the record.
 *
 * @example Usage
 * ```ts
 * import { encodeBeginRequest, ROLE, FLAG } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(16);
 * encodeBeginRequest(target, 0, 1, ROLE.Responder, FLAG.KeepConn);
 * assertEquals([...target], [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
 * ```
 */
export function encodeBeginRequest(
  target: Uint8Array,
  offset: number,
  requestId: number,
  role: number,
  flags: number,
): number {
  if (!(role >= 0 && role <= 0xffff) || !(flags >= 0 && flags <= 0xff)) {
    throw new RangeError(`Cannot encode FastCGI BEGIN_REQUEST: role "${role}", flags "${flags}"`);
  }
  let at = encodeRecordHeader(
    target,
    offset,
    RECORD_TYPE.BeginRequest,
    requestId,
    FIXED_BODY_LENGTH,
    0,
  );
  target[at++] = role >> 8;
  target[at++] = role & 0xff;
  target[at++] = flags;
  target.fill(0, at, at + 5);
  return at + 5;
}

/** The body of FCGI_END_REQUEST (spec section 5.5, FCGI_EndRequestBody). */
export interface EndRequestBody {
  /** `appStatus`: the CGI-style exit status, 32 bits. */
  appStatus: number;
  /** `protocolStatus`: a {@linkcode PROTOCOL_STATUS} value. */
  protocolStatus: number;
}

/**
 * Reads the body of FCGI_END_REQUEST.
 *
 * @param content The record content; must be 8 bytes.
 * @returns The application and protocol status.
 * @throws {ProtocolError} When the content is not 8 bytes long.
 *
 * @example Usage
 * ```ts
 * import { decodeEndRequestBody } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeEndRequestBody(new Uint8Array([0, 0, 1, 0, 2, 0, 0, 0])), {
 *   appStatus: 256,
 *   protocolStatus: 2,
 * });
 * ```
 */
export function decodeEndRequestBody(content: Uint8Array): EndRequestBody {
  if (content.length !== FIXED_BODY_LENGTH) {
    throw new ProtocolError(
      `Cannot decode FastCGI END_REQUEST: content length is "${content.length}", not 8`,
      { protocol: "fastcgi" },
    );
  }
  const appStatus = ((content[0]! << 24) | (content[1]! << 16) | (content[2]! << 8) |
    content[3]!) >>> 0;
  return { appStatus, protocolStatus: content[4]! };
}

/**
 * Writes a whole FCGI_END_REQUEST record.
 *
 * @param target The buffer; needs 16 bytes from `offset`.
 * @param offset Where to write.
 * @param requestId The request id.
 * @param appStatus The application status (0 for success), 32 bits unsigned.
 * @param protocolStatus A {@linkcode PROTOCOL_STATUS} value.
 * @returns The offset after the record.
 *
 * @example Usage
 * ```ts
 * import { encodeEndRequest, PROTOCOL_STATUS } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(16);
 * encodeEndRequest(target, 0, 1, 0, PROTOCOL_STATUS.RequestComplete);
 * assertEquals([...target], [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function encodeEndRequest(
  target: Uint8Array,
  offset: number,
  requestId: number,
  appStatus: number,
  protocolStatus: number,
): number {
  let at = encodeRecordHeader(
    target,
    offset,
    RECORD_TYPE.EndRequest,
    requestId,
    FIXED_BODY_LENGTH,
    0,
  );
  target[at++] = (appStatus >>> 24) & 0xff;
  target[at++] = (appStatus >>> 16) & 0xff;
  target[at++] = (appStatus >>> 8) & 0xff;
  target[at++] = appStatus & 0xff;
  target[at++] = protocolStatus;
  target.fill(0, at, at + 3);
  return at + 3;
}

/**
 * Writes a whole FCGI_UNKNOWN_TYPE record (spec section 4.2) answering a record of `type`.
 *
 * @param target The buffer; needs 16 bytes from `offset`.
 * @param offset Where to write.
 * @param type The type the application did not understand.
 * @returns The offset after the record.
 *
 * @example Usage
 * ```ts
 * import { encodeUnknownType } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(16);
 * encodeUnknownType(target, 0, 42);
 * assertEquals([...target], [1, 11, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function encodeUnknownType(target: Uint8Array, offset: number, type: number): number {
  let at = encodeRecordHeader(
    target,
    offset,
    RECORD_TYPE.UnknownType,
    NULL_REQUEST_ID,
    FIXED_BODY_LENGTH,
    0,
  );
  target[at++] = type;
  target.fill(0, at, at + 7);
  return at + 7;
}

/** Options of {@linkcode RecordDecoder}. */
export interface RecordDecoderOptions {
  /**
   * The largest record content accepted, checked from the header before the content is
   * buffered; a larger record throws {@linkcode LimitExceededError}.
   *
   * @default {65535}
   */
  maxContentLength?: number;
  /**
   * Initial size of the decoder's buffer; it grows to hold one whole record at most.
   *
   * @default {16384}
   */
  initialBufferSize?: number;
}

/**
 * An incremental record decoder over one reusable buffer. Bytes may arrive split anywhere.
 *
 * Feed it with {@linkcode RecordDecoder.push}, or read straight into
 * {@linkcode RecordDecoder.writable} and {@linkcode RecordDecoder.commit} the count (no copy).
 * Then call {@linkcode RecordDecoder.next} until it returns `false`; after `true`, `type`,
 * `requestId` and `content` describe the record. `content` is a view into the decoder's buffer,
 * valid until the next call of any method.
 *
 * @example Bytes split anywhere
 * ```ts
 * import { encodeRecord, RecordDecoder, RECORD_TYPE } from "@flup/flup/fastcgi";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = new Uint8Array(16);
 * encodeRecord(bytes, 0, RECORD_TYPE.Stdin, 7, new Uint8Array([1, 2, 3]));
 * const decoder = new RecordDecoder();
 * decoder.push(bytes.subarray(0, 5));
 * assertEquals(decoder.next(), false);
 * decoder.push(bytes.subarray(5));
 * assertEquals(decoder.next(), true);
 * assertEquals(decoder.requestId, 7);
 * assertEquals([...decoder.content], [1, 2, 3]);
 * ```
 */
export class RecordDecoder {
  /** `type` of the last decoded record. */
  type = 0;
  /** `requestId` of the last decoded record. */
  requestId = 0;
  /** Content of the last decoded record: a view valid until the next method call. */
  content: Uint8Array = new Uint8Array(0);
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #maxContentLength: number;
  #consumed = 0;

  /**
   * Makes a decoder.
   *
   * @param options Limits and the initial buffer size.
   */
  constructor(options: RecordDecoderOptions = {}) {
    this.#maxContentLength = options.maxContentLength ?? MAX_CONTENT_LENGTH;
    this.#buffer = new Uint8Array(options.initialBufferSize ?? 16384);
  }

  /** Bytes received but not yet decoded as a whole record. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Bytes of the buffer the decoder holds (for memory accounting). */
  get capacity(): number {
    return this.#buffer.length;
  }

  /** Total bytes consumed as whole records so far (the stream offset of the next record). */
  get offset(): number {
    return this.#consumed;
  }

  /**
   * Space to read into: at least `minimum` bytes (fewer only past the largest record size).
   * Compacts or grows the buffer as needed. Follow it with {@linkcode RecordDecoder.commit}.
   *
   * @param minimum The fewest free bytes wanted.
   * @returns A view of the free space.
   */
  writable(minimum = 4096): Uint8Array {
    if (this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
    }
    if (this.#buffer.length - this.#end < minimum) {
      const pending = this.#end - this.#start;
      if (this.#start > 0 && this.#buffer.length - pending >= minimum) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      } else {
        const size = Math.max(this.#buffer.length * 2, pending + minimum);
        const grown = new Uint8Array(size);
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
      }
      this.#start = 0;
      this.#end = pending;
    }
    return this.#buffer.subarray(this.#end);
  }

  /**
   * Marks `count` bytes written into the last {@linkcode RecordDecoder.writable} view as received.
   *
   * @param count Bytes written.
   */
  commit(count: number): void {
    if (count < 0 || this.#end + count > this.#buffer.length) {
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
   * Decodes the next whole record.
   *
   * @returns `true` when a record was decoded, `false` when more bytes are needed.
   * @throws {ProtocolError} On a version other than 1.
   * @throws {LimitExceededError} On content longer than `maxContentLength` (option
   * `maxRecordContentLength`), before any of it is buffered.
   */
  next(): boolean {
    const available = this.#end - this.#start;
    if (available < HEADER_LENGTH) return false;
    const buffer = this.#buffer;
    const at = this.#start;
    const version = buffer[at]!;
    if (version !== VERSION) {
      throw new ProtocolError(`Cannot decode FastCGI record: version is "${version}"`, {
        protocol: "fastcgi",
        offset: this.#consumed,
      });
    }
    const contentLength = (buffer[at + 4]! << 8) | buffer[at + 5]!;
    if (contentLength > this.#maxContentLength) {
      throw new LimitExceededError(
        `Cannot decode FastCGI record: content length "${contentLength}" is over ` +
          `"${this.#maxContentLength}"`,
        {
          option: "maxRecordContentLength",
          limit: this.#maxContentLength,
          protocol: "fastcgi",
          offset: this.#consumed,
        },
      );
    }
    const total = HEADER_LENGTH + contentLength + buffer[at + 6]!;
    if (available < total) return false;
    this.type = buffer[at + 1]!;
    this.requestId = (buffer[at + 2]! << 8) | buffer[at + 3]!;
    this.content = buffer.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + contentLength);
    this.#start = at + total;
    this.#consumed += total;
    return true;
  }

  /**
   * Bytes still needed to complete the record that is being received (0 if unknown or none).
   *
   * @returns Missing bytes of the current record.
   */
  missing(): number {
    const available = this.#end - this.#start;
    if (available < HEADER_LENGTH) return available === 0 ? 0 : HEADER_LENGTH - available;
    const at = this.#start;
    const total = HEADER_LENGTH + ((this.#buffer[at + 4]! << 8) | this.#buffer[at + 5]!) +
      this.#buffer[at + 6]!;
    return Math.max(0, total - available);
  }
}
