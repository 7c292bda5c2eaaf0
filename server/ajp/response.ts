/**
 * What the container sends the web server (spec "Response Packet Structure"): SEND_HEADERS
 * with the response header code table, SEND_BODY_CHUNK, END_RESPONSE, GET_BODY_CHUNK and CPONG,
 * and a decoder of those packets for tests and clients.
 *
 * Pure code: no I/O, no promises. Encoders write whole packets into a buffer the caller
 * supplies and return the offset after them.
 *
 * @example A small response: headers, body and end in one buffer
 * ```ts
 * import {
 *   bodyChunksLength,
 *   encodeBodyChunks,
 *   encodeEndResponse,
 *   encodeSendHeaders,
 *   sendHeadersLength,
 * } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const headers = [["content-type", "text/plain"]] as const;
 * const body = new TextEncoder().encode("hi");
 * const out = new Uint8Array(
 *   sendHeadersLength(200, "OK", headers) + bodyChunksLength(body.length, 8192) + 6,
 * );
 * let at = encodeSendHeaders(out, 0, 200, "OK", headers);
 * at = encodeBodyChunks(out, at, body, 8192);
 * at = encodeEndResponse(out, at, true);
 * assertEquals(at, out.length);
 * ```
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import {
  CODED_HEADER_MARKER,
  HEADER_LENGTH,
  MAGIC_TO_SERVER,
  PREFIX_CODE,
  RESPONSE_HEADER_NAMES,
  SEND_BODY_CHUNK_OVERHEAD,
} from "./constants.ts";
import {
  AjpReader,
  byteStringLength,
  encodePacketHeader,
  writeByteString,
  writeUint16,
  writeUint8,
} from "./packet.ts";

const RESPONSE_HEADER_CODES: Record<string, number> = Object.fromEntries(
  Object.entries(RESPONSE_HEADER_NAMES).map(([code, name]) => [name, Number(code)]),
);

/**
 * Bytes {@linkcode encodeSendHeaders} writes, the packet header included.
 *
 * @param status The HTTP status.
 * @param reason The reason phrase (a byte string).
 * @param headers Header names and values (byte strings), each Set-Cookie on its own.
 * @returns The packet length.
 *
 * @example Usage
 * ```ts
 * import { sendHeadersLength } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(sendHeadersLength(204, "No Content", []), 22);
 * ```
 */
export function sendHeadersLength(
  status: number,
  reason: string,
  headers: readonly (readonly [string, string])[],
): number {
  let length = HEADER_LENGTH + 1 + 2 + byteStringLength(reason) + 2;
  for (const [name, value] of headers) {
    length +=
      (RESPONSE_HEADER_CODES[name.toLowerCase()] === undefined ? byteStringLength(name) : 2) +
      byteStringLength(value);
  }
  void status;
  return length;
}

/**
 * Writes a whole SEND_HEADERS packet: status, reason phrase, and every header (names in the
 * code table sent coded, case-insensitive; each Set-Cookie as its own header).
 *
 * @param target The buffer; needs {@linkcode sendHeadersLength} bytes from `offset`.
 * @param offset Where to write.
 * @param status The HTTP status, 100 to 999.
 * @param reason The reason phrase (a byte string).
 * @param headers Header names and values (byte strings).
 * @returns The offset after the packet.
 * @throws {RangeError} When the payload would be over 65535 bytes or a value is not a byte
 * string.
 *
 * @example Usage
 * ```ts
 * import { encodeSendHeaders, sendHeadersLength } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const headers = [["set-cookie", "a=1"]] as const;
 * const out = new Uint8Array(sendHeadersLength(200, "OK", headers));
 * encodeSendHeaders(out, 0, 200, "OK", headers);
 * assertEquals([...out], [
 *   0x41, 0x42, 0, 18, 4, 0, 200, 0, 2, 0x4f, 0x4b, 0, 0, 1, 0xa0, 0x07, 0, 3, 0x61, 0x3d, 0x31, 0,
 * ]);
 * ```
 */
export function encodeSendHeaders(
  target: Uint8Array,
  offset: number,
  status: number,
  reason: string,
  headers: readonly (readonly [string, string])[],
): number {
  const length = sendHeadersLength(status, reason, headers) - HEADER_LENGTH;
  if (length > 0xffff) {
    throw new RangeError(`Cannot encode AJP SEND_HEADERS: "${length}" bytes is too long`);
  }
  if (!(status >= 100 && status <= 999)) {
    throw new RangeError(`Cannot encode AJP SEND_HEADERS: status is "${status}"`);
  }
  let at = encodePacketHeader(target, offset, MAGIC_TO_SERVER, length);
  at = writeUint8(target, at, PREFIX_CODE.SendHeaders);
  at = writeUint16(target, at, status);
  at = writeByteString(target, at, reason);
  at = writeUint16(target, at, headers.length);
  for (const [name, value] of headers) {
    const code = RESPONSE_HEADER_CODES[name.toLowerCase()];
    at = code === undefined ? writeByteString(target, at, name) : writeUint16(target, at, code);
    at = writeByteString(target, at, value);
  }
  return at;
}

/**
 * The most body bytes one SEND_BODY_CHUNK carries for a packet size (Tomcat's
 * `packetSize - SEND_HEAD_LEN`).
 *
 * @param packetSize The packet size, header included.
 * @returns `packetSize - 8`.
 *
 * @example Usage
 * ```ts
 * import { maxBodyChunk } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(maxBodyChunk(8192), 8184);
 * ```
 */
export function maxBodyChunk(packetSize: number): number {
  return Math.min(packetSize, 0xffff + HEADER_LENGTH) - SEND_BODY_CHUNK_OVERHEAD;
}

/**
 * Bytes {@linkcode encodeBodyChunks} writes for `dataLength` bytes of body.
 *
 * @param dataLength Body bytes; 0 writes nothing.
 * @param packetSize The packet size, header included.
 * @returns The encoded length.
 *
 * @example Usage
 * ```ts
 * import { bodyChunksLength } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(bodyChunksLength(10, 8192), 18);
 * assertEquals(bodyChunksLength(8185, 8192), 8185 + 16);
 * ```
 */
export function bodyChunksLength(dataLength: number, packetSize: number): number {
  const chunk = maxBodyChunk(packetSize);
  return dataLength + Math.ceil(dataLength / chunk) * SEND_BODY_CHUNK_OVERHEAD;
}

/**
 * Writes `data` as SEND_BODY_CHUNK packets of at most `packetSize - 8` data bytes each. Each
 * ends with the 0 byte that mod_proxy_ajp's ajp_parse_data() requires (and Tomcat writes).
 * A list of chunks is written as one run of bytes: small chunks share packets.
 *
 * @param target The buffer; needs {@linkcode bodyChunksLength} bytes (of the total length)
 * from `offset`.
 * @param offset Where to write.
 * @param data The body bytes, or a list of chunks sent back to back.
 * @param packetSize The packet size, header included.
 * @returns The offset after the last packet.
 *
 * @example Usage
 * ```ts
 * import { encodeBodyChunks } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(10);
 * encodeBodyChunks(target, 0, [new Uint8Array([7]), new Uint8Array([8])], 8192);
 * assertEquals([...target], [0x41, 0x42, 0, 6, 3, 0, 2, 7, 8, 0]);
 * ```
 */
export function encodeBodyChunks(
  target: Uint8Array,
  offset: number,
  data: Uint8Array | readonly Uint8Array[],
  packetSize: number,
): number {
  const max = maxBodyChunk(packetSize);
  if (!(max > 0)) throw new RangeError(`Cannot encode AJP body: packet size is "${packetSize}"`);
  const chunks = data instanceof Uint8Array ? [data] : data;
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  let at = offset;
  let index = 0;
  let within = 0;
  while (total > 0) {
    const length = Math.min(max, total);
    total -= length;
    at = encodePacketHeader(target, at, MAGIC_TO_SERVER, length + 4);
    target[at++] = PREFIX_CODE.SendBodyChunk;
    at = writeUint16(target, at, length);
    let left = length;
    while (left > 0) {
      const chunk = chunks[index]!;
      const take = Math.min(left, chunk.length - within);
      target.set(chunk.subarray(within, within + take), at);
      at += take;
      left -= take;
      within += take;
      if (within === chunk.length) {
        index++;
        within = 0;
      }
    }
    target[at++] = 0;
  }
  return at;
}

/**
 * Writes a whole END_RESPONSE packet.
 *
 * @param target The buffer; needs 6 bytes from `offset`.
 * @param offset Where to write.
 * @param reuse `true`: the web server may send the next request on this connection.
 * @returns The offset after the packet.
 *
 * @example Usage
 * ```ts
 * import { encodeEndResponse } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(6);
 * encodeEndResponse(target, 0, true);
 * assertEquals([...target], [0x41, 0x42, 0, 2, 5, 1]);
 * ```
 */
export function encodeEndResponse(target: Uint8Array, offset: number, reuse: boolean): number {
  const at = encodePacketHeader(target, offset, MAGIC_TO_SERVER, 2);
  target[at] = PREFIX_CODE.EndResponse;
  target[at + 1] = reuse ? 1 : 0;
  return at + 2;
}

/**
 * Writes a whole GET_BODY_CHUNK packet.
 *
 * @param target The buffer; needs 7 bytes from `offset`.
 * @param offset Where to write.
 * @param requestedLength The most body bytes wanted (Tomcat asks `packetSize - 6`).
 * @returns The offset after the packet.
 *
 * @example Usage
 * ```ts
 * import { encodeGetBodyChunk } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(7);
 * encodeGetBodyChunk(target, 0, 8186);
 * assertEquals([...target], [0x41, 0x42, 0, 3, 6, 0x1f, 0xfa]);
 * ```
 */
export function encodeGetBodyChunk(
  target: Uint8Array,
  offset: number,
  requestedLength: number,
): number {
  const at = encodePacketHeader(target, offset, MAGIC_TO_SERVER, 3);
  target[at] = PREFIX_CODE.GetBodyChunk;
  return writeUint16(target, at + 1, requestedLength);
}

/**
 * Writes a whole CPONG packet, the answer to CPING.
 *
 * @param target The buffer; needs 5 bytes from `offset`.
 * @param offset Where to write.
 * @returns The offset after the packet.
 *
 * @example Usage
 * ```ts
 * import { encodeCpong } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const target = new Uint8Array(5);
 * encodeCpong(target, 0);
 * assertEquals([...target], [0x41, 0x42, 0, 1, 9]);
 * ```
 */
export function encodeCpong(target: Uint8Array, offset: number): number {
  const at = encodePacketHeader(target, offset, MAGIC_TO_SERVER, 1);
  target[at] = PREFIX_CODE.CPong;
  return at + 1;
}

/** A decoded packet from the container. */
export type ContainerPacket =
  | {
    /** SEND_HEADERS */
    type: "headers";
    /** `http_status_code` */
    status: number;
    /** `http_status_msg` */
    reason: string;
    /** Coded names as lower-case names, string names as sent. */
    headers: [string, string][];
  }
  | {
    /** SEND_BODY_CHUNK */
    type: "body";
    /** The chunk: a view into the payload. */
    data: Uint8Array;
  }
  | {
    /** END_RESPONSE */
    type: "end";
    /** `reuse` */
    reuse: boolean;
  }
  | {
    /** GET_BODY_CHUNK */
    type: "get-body";
    /** `requested_length` */
    length: number;
  }
  | {
    /** CPONG */
    type: "cpong";
  };

/**
 * Decodes a packet the container sent (what a web server or a test reads). Strings are read
 * as Latin-1-safe text: header values come back as the byte strings that were written.
 *
 * @param payload One whole packet payload (see {@linkcode PacketDecoder} with `MAGIC_TO_SERVER`).
 * @returns The packet.
 * @throws {ProtocolError} On an unknown prefix code or a malformed packet.
 *
 * @example Usage
 * ```ts
 * import { decodeContainerPacket } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(decodeContainerPacket(new Uint8Array([5, 1])), { type: "end", reuse: true });
 * ```
 */
export function decodeContainerPacket(payload: Uint8Array): ContainerPacket {
  const reader = new AjpReader(payload);
  const prefix = reader.uint8();
  let packet: ContainerPacket;
  switch (prefix) {
    case PREFIX_CODE.SendHeaders: {
      const status = reader.uint16();
      const reason = byteString(reader);
      const count = reader.uint16();
      const headers: [string, string][] = [];
      for (let i = 0; i < count; i++) {
        let name: string;
        if (reader.peekUint8() === CODED_HEADER_MARKER) {
          const code = reader.uint16();
          const known = RESPONSE_HEADER_NAMES[code];
          if (known === undefined) {
            throw new ProtocolError(`Cannot decode AJP SEND_HEADERS: header code "${code}"`, {
              protocol: "ajp",
              offset: reader.offset - 2,
            });
          }
          name = known;
        } else name = byteString(reader);
        headers.push([name, byteString(reader)]);
      }
      packet = { type: "headers", status, reason, headers };
      break;
    }
    case PREFIX_CODE.SendBodyChunk: {
      const length = reader.uint16();
      const data = reader.bytes(length);
      if (reader.uint8() !== 0) {
        throw new ProtocolError("Cannot decode AJP SEND_BODY_CHUNK: no 0 byte after the data", {
          protocol: "ajp",
          offset: reader.offset - 1,
        });
      }
      packet = { type: "body", data };
      break;
    }
    case PREFIX_CODE.EndResponse:
      packet = { type: "end", reuse: reader.boolean() };
      break;
    case PREFIX_CODE.GetBodyChunk:
      packet = { type: "get-body", length: reader.uint16() };
      break;
    case PREFIX_CODE.CPong:
      packet = { type: "cpong" };
      break;
    default:
      throw new ProtocolError(
        `Cannot decode AJP packet from a container: prefix code "${prefix}"`,
        {
          protocol: "ajp",
          offset: 0,
        },
      );
  }
  if (reader.remaining !== 0) {
    throw new ProtocolError(`Cannot decode AJP packet: "${reader.remaining}" bytes left over`, {
      protocol: "ajp",
      offset: reader.offset,
    });
  }
  return packet;
}

/** Reads an AJP string as a byte string (one char per byte), checking its 0 byte. */
function byteString(reader: AjpReader): string {
  const start = reader.offset;
  const length = reader.uint16();
  if (length === 0xffff) return "";
  const bytes = reader.bytes(length + 1);
  if (bytes[length] !== 0) {
    throw new ProtocolError("Cannot decode AJP string: it does not end with a 0 byte", {
      protocol: "ajp",
      offset: start,
    });
  }
  let text = "";
  for (let i = 0; i < length; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}
