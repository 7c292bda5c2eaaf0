/**
 * AJP 1.3 packet framing and the protocol's data types (spec "Packet Format", "Data types"):
 * bytes, booleans, 16-bit big-endian integers and strings (a length, the bytes, a 0 byte;
 * length 0xFFFF is the null string).
 *
 * Pure code: no I/O, no promises. Writers write into a buffer the caller supplies and return
 * the offset after what they wrote; the decoder reports "need more bytes" as `false`, and
 * checks a packet's length against `packetSize` before it buffers the payload.
 *
 * @example Frame a packet and decode it back
 * ```ts
 * import { encodePacketHeader, MAGIC_FROM_SERVER, PacketDecoder } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = new Uint8Array(5);
 * encodePacketHeader(bytes, 0, MAGIC_FROM_SERVER, 1);
 * bytes[4] = 10; // CPING
 * const decoder = new PacketDecoder();
 * decoder.push(bytes);
 * assertEquals(decoder.next(), true);
 * assertEquals([...decoder.payload], [10]);
 * ```
 *
 * @module
 */

import { LimitExceededError, ProtocolError } from "../errors.ts";
import { decodeText, textEncoder, utf8Length } from "../_text.ts";
import {
  DEFAULT_PACKET_SIZE,
  HEADER_LENGTH,
  MAGIC_FROM_SERVER,
  MAGIC_TO_SERVER,
  MAX_PACKET_SIZE,
  NULL_STRING_LENGTH,
} from "./constants.ts";

/**
 * Writes a packet header: the magic and the payload length.
 *
 * @param target The buffer; needs 4 bytes from `offset`.
 * @param offset Where to write.
 * @param magic {@linkcode MAGIC_FROM_SERVER} (0x1234) or {@linkcode MAGIC_TO_SERVER} ("AB").
 * @param payloadLength Bytes of payload that follow, 0 to 65535.
 * @returns The offset after the header.
 *
 * @example Usage
 * ```ts
 * import { encodePacketHeader, MAGIC_TO_SERVER } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(4);
 * encodePacketHeader(target, 0, MAGIC_TO_SERVER, 2);
 * assertEquals([...target], [0x41, 0x42, 0, 2]);
 * ```
 */
export function encodePacketHeader(
  target: Uint8Array,
  offset: number,
  magic: number,
  payloadLength: number,
): number {
  if (!(payloadLength >= 0 && payloadLength <= 0xffff)) {
    throw new RangeError(`Cannot encode AJP packet: payload length is "${payloadLength}"`);
  }
  target[offset] = magic >> 8;
  target[offset + 1] = magic & 0xff;
  target[offset + 2] = payloadLength >> 8;
  target[offset + 3] = payloadLength & 0xff;
  return offset + HEADER_LENGTH;
}

/**
 * Writes one byte.
 *
 * @param target The buffer.
 * @param offset Where to write.
 * @param value 0 to 255.
 * @returns The offset after it.
 *
 * @example Usage
 * ```ts
 * import { writeUint8 } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(1);
 * assertEquals(writeUint8(target, 0, 5), 1);
 * assertEquals(target[0], 5);
 * ```
 */
export function writeUint8(target: Uint8Array, offset: number, value: number): number {
  target[offset] = value;
  return offset + 1;
}

/**
 * Writes an AJP integer: 16 bits, big-endian.
 *
 * @param target The buffer.
 * @param offset Where to write.
 * @param value 0 to 65535.
 * @returns The offset after it.
 *
 * @example Usage
 * ```ts
 * import { writeUint16 } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(2);
 * writeUint16(target, 0, 8080);
 * assertEquals([...target], [0x1f, 0x90]);
 * ```
 */
export function writeUint16(target: Uint8Array, offset: number, value: number): number {
  if (!(value >= 0 && value <= 0xffff)) {
    throw new RangeError(`Cannot encode AJP integer: value is "${value}"`);
  }
  target[offset] = value >> 8;
  target[offset + 1] = value & 0xff;
  return offset + 2;
}

/**
 * Bytes {@linkcode writeString} writes for `value`: length, UTF-8 bytes and the 0 byte.
 *
 * @param value The string, or `null` for the null string (2 bytes).
 * @returns The encoded length.
 *
 * @example Usage
 * ```ts
 * import { stringLength } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(stringLength("GET"), 6);
 * assertEquals(stringLength(null), 2);
 * ```
 */
export function stringLength(value: string | null): number {
  return value === null ? 2 : utf8Length(value) + 3;
}

/**
 * Writes an AJP string as UTF-8: 2-byte length, the bytes, a 0 byte. `null` writes the null
 * string (length 0xFFFF, nothing after it).
 *
 * @param target The buffer; needs {@linkcode stringLength} bytes from `offset`.
 * @param offset Where to write.
 * @param value The string or `null`.
 * @returns The offset after it.
 * @throws {RangeError} When the string is 65535 bytes or longer.
 *
 * @example Usage
 * ```ts
 * import { writeString } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(5);
 * writeString(target, 0, "hi");
 * assertEquals([...target], [0, 2, 0x68, 0x69, 0]);
 * ```
 */
export function writeString(target: Uint8Array, offset: number, value: string | null): number {
  if (value === null) return writeUint16(target, offset, NULL_STRING_LENGTH);
  const length = utf8Length(value);
  if (length >= NULL_STRING_LENGTH) {
    throw new RangeError(`Cannot encode AJP string: "${length}" bytes is too long`);
  }
  let at = writeUint16(target, offset, length);
  if (length === value.length) {
    for (let i = 0; i < length; i++) target[at + i] = value.charCodeAt(i);
  } else textEncoder.encodeInto(value, target.subarray(at, at + length));
  at += length;
  target[at] = 0;
  return at + 1;
}

/**
 * Bytes {@linkcode writeByteString} writes for `value`.
 *
 * @param value A byte string (every char code below 256), as header values are.
 * @returns The encoded length: 2 + length + 1.
 *
 * @example Usage
 * ```ts
 * import { byteStringLength } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(byteStringLength("café"), 7);
 * ```
 */
export function byteStringLength(value: string): number {
  return value.length + 3;
}

/**
 * Writes an AJP string from a byte string (a header name, value or reason phrase), one byte
 * per char code, as Latin-1.
 *
 * @param target The buffer; needs {@linkcode byteStringLength} bytes from `offset`.
 * @param offset Where to write.
 * @param value A byte string.
 * @returns The offset after it.
 * @throws {RangeError} On a char code above 255 or 65535 bytes or more.
 *
 * @example Usage
 * ```ts
 * import { writeByteString } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(4);
 * writeByteString(target, 0, "\u00e9");
 * assertEquals([...target], [0, 1, 0xe9, 0]);
 * ```
 */
export function writeByteString(target: Uint8Array, offset: number, value: string): number {
  const length = value.length;
  if (length >= NULL_STRING_LENGTH) {
    throw new RangeError(`Cannot encode AJP string: "${length}" bytes is too long`);
  }
  let at = writeUint16(target, offset, length);
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code > 0xff) {
      throw new RangeError(`Cannot encode AJP string: character "${code}" is not a byte`);
    }
    target[at + i] = code;
  }
  at += length;
  target[at] = 0;
  return at + 1;
}

/**
 * Reads the AJP data types from one whole payload. Every read checks the bytes are there and
 * throws {@linkcode ProtocolError} (with `offset`) when they are not: inside a complete packet
 * a short field is malformed input, not "need more".
 *
 * @example Usage
 * ```ts
 * import { AjpReader } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const reader = new AjpReader(new Uint8Array([2, 0, 3, 0x47, 0x45, 0x54, 0, 0xff, 0xff]));
 * assertEquals(reader.uint8(), 2);
 * assertEquals(reader.string(), "GET");
 * assertEquals(reader.string(), null);
 * assertEquals(reader.remaining, 0);
 * ```
 */
export class AjpReader {
  /** Where the next read starts. */
  offset: number;
  #bytes: Uint8Array;

  /**
   * Makes a reader.
   *
   * @param bytes The payload.
   * @param offset Where to start reading.
   */
  constructor(bytes: Uint8Array, offset = 0) {
    this.#bytes = bytes;
    this.offset = offset;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.#bytes.length - this.offset;
  }

  #need(count: number, what: string): void {
    if (this.#bytes.length - this.offset < count) {
      throw new ProtocolError(`Cannot decode AJP packet: ${what} runs past the end`, {
        protocol: "ajp",
        offset: this.offset,
      });
    }
  }

  /**
   * Reads a byte.
   *
   * @returns 0 to 255.
   */
  uint8(): number {
    this.#need(1, "a byte");
    return this.#bytes[this.offset++]!;
  }

  /**
   * Reads the next byte without moving on.
   *
   * @returns 0 to 255.
   */
  peekUint8(): number {
    this.#need(1, "a byte");
    return this.#bytes[this.offset]!;
  }

  /**
   * Reads an integer: 16 bits, big-endian.
   *
   * @returns 0 to 65535.
   */
  uint16(): number {
    this.#need(2, "an integer");
    const at = this.offset;
    this.offset = at + 2;
    return (this.#bytes[at]! << 8) | this.#bytes[at + 1]!;
  }

  /**
   * Reads a boolean: 1 is true, 0 is false; anything else is malformed.
   *
   * @returns The value.
   */
  boolean(): boolean {
    const at = this.offset;
    const value = this.uint8();
    if (value > 1) {
      throw new ProtocolError(`Cannot decode AJP boolean: value is "${value}"`, {
        protocol: "ajp",
        offset: at,
      });
    }
    return value === 1;
  }

  /**
   * Reads a string (UTF-8; invalid bytes become U+FFFD) and checks its 0 terminator.
   *
   * @returns The string, or `null` for the null string (length 0xFFFF).
   */
  string(): string | null {
    const start = this.offset;
    const length = this.uint16();
    if (length === NULL_STRING_LENGTH) return null;
    this.#need(length + 1, "a string");
    const at = this.offset;
    if (this.#bytes[at + length] !== 0) {
      throw new ProtocolError("Cannot decode AJP string: it does not end with a 0 byte", {
        protocol: "ajp",
        offset: start,
      });
    }
    this.offset = at + length + 1;
    return decodeText(this.#bytes, at, at + length);
  }

  /**
   * Reads `length` raw bytes.
   *
   * @param length How many.
   * @returns A view into the payload.
   */
  bytes(length: number): Uint8Array {
    this.#need(length, "a byte block");
    const at = this.offset;
    this.offset = at + length;
    return this.#bytes.subarray(at, at + length);
  }
}

/** Options of {@linkcode PacketDecoder}. */
export interface PacketDecoderOptions {
  /**
   * The largest packet accepted, its 4-byte header included (mod_proxy_ajp's
   * `ProxyIOBufferSize`, Tomcat's `packetSize`); a longer one throws
   * {@linkcode LimitExceededError} (option `packetSize`) before any payload is buffered.
   *
   * @default {8192}
   */
  packetSize?: number;
  /**
   * The magic packets must start with: {@linkcode MAGIC_FROM_SERVER} (0x1234) to decode what a
   * web server sends, {@linkcode MAGIC_TO_SERVER} ("AB") to decode what a container sends.
   *
   * @default {0x1234}
   */
  magic?: number;
}

/**
 * An incremental packet decoder over one reusable buffer. Bytes may arrive split anywhere.
 *
 * Feed it with {@linkcode PacketDecoder.push}, or read straight into
 * {@linkcode PacketDecoder.writable} and {@linkcode PacketDecoder.commit} the count (no copy).
 * Then call {@linkcode PacketDecoder.next} until it returns `false`; after `true`, `payload`
 * is the packet's payload: a view valid until the next call of any method.
 *
 * @example Bytes split anywhere
 * ```ts
 * import { PacketDecoder } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = new Uint8Array([0x12, 0x34, 0, 1, 10, 0x12, 0x34, 0, 1, 7]);
 * const decoder = new PacketDecoder();
 * decoder.push(bytes.subarray(0, 3));
 * assertEquals(decoder.next(), false);
 * decoder.push(bytes.subarray(3));
 * assertEquals(decoder.next(), true);
 * assertEquals([...decoder.payload], [10]);
 * assertEquals(decoder.next(), true);
 * assertEquals([...decoder.payload], [7]);
 * assertEquals(decoder.next(), false);
 * ```
 */
export class PacketDecoder {
  /** Payload of the last decoded packet: a view valid until the next method call. */
  payload: Uint8Array = new Uint8Array(0);
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #packetSize: number;
  #magic: number;
  #consumed = 0;

  /**
   * Makes a decoder.
   *
   * @param options The packet size limit and the expected magic.
   */
  constructor(options: PacketDecoderOptions = {}) {
    const packetSize = options.packetSize ?? DEFAULT_PACKET_SIZE;
    if (!(packetSize >= HEADER_LENGTH + 1 && packetSize <= MAX_PACKET_SIZE + HEADER_LENGTH)) {
      throw new RangeError(`Cannot decode AJP packets: packet size is "${packetSize}"`);
    }
    this.#packetSize = packetSize;
    this.#magic = options.magic ?? MAGIC_FROM_SERVER;
    if (this.#magic !== MAGIC_FROM_SERVER && this.#magic !== MAGIC_TO_SERVER) {
      throw new RangeError(`Cannot decode AJP packets: magic is "${this.#magic}"`);
    }
    this.#buffer = new Uint8Array(Math.min(packetSize, 16384));
  }

  /** Bytes received but not yet decoded as a whole packet. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Bytes of the buffer the decoder holds (for memory accounting). */
  get capacity(): number {
    return this.#buffer.length;
  }

  /** Total bytes consumed as whole packets so far (the stream offset of the next packet). */
  get offset(): number {
    return this.#consumed;
  }

  /**
   * Space to read into: at least `minimum` bytes. Compacts or grows the buffer as needed.
   * Follow it with {@linkcode PacketDecoder.commit}.
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
   * Marks `count` bytes written into the last {@linkcode PacketDecoder.writable} view as
   * received.
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
   * Decodes the next whole packet.
   *
   * @returns `true` when a packet was decoded, `false` when more bytes are needed.
   * @throws {ProtocolError} On a wrong magic.
   * @throws {LimitExceededError} On a packet longer than `packetSize` (option `packetSize`),
   * before any of its payload is buffered.
   */
  next(): boolean {
    const available = this.#end - this.#start;
    if (available < 2) return false;
    const buffer = this.#buffer;
    const at = this.#start;
    const magic = (buffer[at]! << 8) | buffer[at + 1]!;
    if (magic !== this.#magic) {
      throw new ProtocolError(
        `Cannot decode AJP packet: magic is "0x${magic.toString(16).padStart(4, "0")}", not ` +
          `"0x${this.#magic.toString(16)}"`,
        { protocol: "ajp", offset: this.#consumed },
      );
    }
    if (available < HEADER_LENGTH) return false;
    const length = (buffer[at + 2]! << 8) | buffer[at + 3]!;
    if (length + HEADER_LENGTH > this.#packetSize) {
      throw new LimitExceededError(
        `Cannot decode AJP packet: "${length + HEADER_LENGTH}" bytes is over "${this.#packetSize}"`,
        {
          option: "packetSize",
          limit: this.#packetSize,
          protocol: "ajp",
          offset: this.#consumed,
        },
      );
    }
    const total = HEADER_LENGTH + length;
    if (available < total) return false;
    this.payload = buffer.subarray(at + HEADER_LENGTH, at + total);
    this.#start = at + total;
    this.#consumed += total;
    return true;
  }
}
