// One FastCGI request's state on its connection, and its STDOUT framing.

import type { BodyQueue } from "../_body.ts";
import type { ParamsDecoder } from "./params.ts";
import { encodeEndRequest, encodeRecordHeader, paddingFor } from "./record.ts";
import {
  HEADER_LENGTH,
  MAX_UNPADDED_CONTENT_LENGTH as STREAM_CHUNK,
  PROTOCOL_STATUS,
  RECORD_TYPE,
} from "./constants.ts";
import type { Exchange, ResponseSink } from "../_respond.ts";

/** Which input stream a request is reading (FastCGI sends them in this order). */
export const PHASE = { Params: 0, Stdin: 1, Data: 2, Done: 3 } as const;

/** The request state the connection keeps while an id is active. */
export interface FastCgiRequest {
  readonly id: number;
  readonly role: number;
  readonly keepConn: boolean;
  readonly startedAt: number;
  phase: number;
  /** Collects PARAMS; `null` once they are complete. */
  params: ParamsDecoder | null;
  /** PARAMS went past a limit: the option name, to answer 431 at the end of params. */
  paramsRefused: string | null;
  /** The handler's body; `null` when the request has none (input is read and dropped). */
  body: BodyQueue | null;
  /** FCGI_DATA for the Filter role. */
  data: BodyQueue | null;
  /** CONTENT_LENGTH, checked against what arrives. */
  contentLength: number | null;
  stdinBytes: number;
  exchange: Exchange | null;
  /** Aborts `request.signal` (front end abort, closed connection, handler timeout). */
  controller: AbortController;
  /** Aborted when nothing more may be written for this request. */
  stop: AbortController;
  /** END_REQUEST was sent or the connection died: nothing more is written for this id. */
  ended: boolean;
  /** Resolved when the input streams are complete (only made when someone waits). */
  inputDone: (() => void) | null;
}

/**
 * Carves small zero-filled output buffers out of larger ones that are never reused, so a small
 * response costs a view, not an ArrayBuffer. A region is handed out once; the slab is freed
 * when no view of it is alive.
 */
export class OutputSlab {
  #slab: Uint8Array = new Uint8Array(0);
  #used = 0;

  /** A zero-filled buffer of `size` bytes that nothing else uses. */
  allocate(size: number): Uint8Array {
    if (size > SLAB_MAX_CARVE) return new Uint8Array(size);
    if (this.#used + size > this.#slab.length) {
      this.#slab = new Uint8Array(SLAB_SIZE);
      this.#used = 0;
    }
    return this.#slab.subarray(this.#used, this.#used += size);
  }
}

/** Size of one {@linkcode OutputSlab} slab. */
const SLAB_SIZE = 4096;
/** Larger buffers get their own ArrayBuffer. */
const SLAB_MAX_CARVE = 1024;

/** Queued bytes framed per write at most: larger queues go out in slices of this size. */
const SEND_SLICE = 262144;

/**
 * STDOUT records for one request, handed to the connection in one write per flush (per 256 KiB
 * slice of a larger queue). What is queued between two flushes (the response head and body
 * chunks) is framed as one stream: records of up to 65528 bytes that span the chunks, not a
 * record per chunk.
 */
export class StdoutSink implements ResponseSink {
  /** Queued output: owned byte chunks, or the head as a Latin-1 byte string. */
  #chunks: (Uint8Array | string)[] = [];
  /** Bytes of `#chunks[0]` already framed (a slice ended inside it). */
  #offset = 0;
  #pending = 0;
  #id: number;
  #send: (bytes: Uint8Array) => Promise<void>;
  #allocate: (size: number) => Uint8Array;

  /**
   * @param id The request id of the records.
   * @param send Writes encoded records (in order, after those before).
   * @param allocate Returns a zero-filled buffer of `size` bytes that nothing else uses.
   */
  constructor(
    id: number,
    send: (bytes: Uint8Array) => Promise<void>,
    allocate: (size: number) => Uint8Array,
  ) {
    this.#id = id;
    this.#send = send;
    this.#allocate = allocate;
  }

  get pending(): number {
    return this.#pending;
  }

  write(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#pending += chunk.length;
  }

  /** Queues a byte string (each char code below 256), written as Latin-1 without a copy. */
  writeLatin1(text: string): void {
    this.#chunks.push(text);
    this.#pending += text.length;
  }

  flush(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    if (this.#pending <= SEND_SLICE) return this.#send(this.#encode(false, 0));
    return this.#sendSlices(false, 0);
  }

  /** Queued STDOUT, the empty STDOUT that ends the stream and END_REQUEST, in one write. */
  finish(appStatus: number): Promise<void> {
    if (this.#pending <= SEND_SLICE) return this.#send(this.#encode(true, appStatus));
    return this.#sendSlices(true, appStatus);
  }

  /**
   * Sends a large queue in slices of {@linkcode SEND_SLICE} bytes, each framed and written
   * once the one before is written: a 10 MiB body costs 256 KiB of records at a time, not a
   * second 10 MiB buffer per response.
   */
  async #sendSlices(final: boolean, appStatus: number): Promise<void> {
    while (this.#pending > SEND_SLICE) await this.#send(this.#encode(false, 0));
    if (final) await this.#send(this.#encode(true, appStatus));
    else if (this.#pending > 0) await this.#send(this.#encode(false, 0));
  }

  /**
   * Frames up to {@linkcode SEND_SLICE} queued bytes (all of them when `final`, which the
   * callers ensure fit), plus the end of the stream and END_REQUEST when `final`.
   */
  #encode(final: boolean, appStatus: number): Uint8Array {
    const total = Math.min(this.#pending, SEND_SLICE);
    const full = Math.floor(total / STREAM_CHUNK);
    const rest = total - full * STREAM_CHUNK;
    let size = total + full * HEADER_LENGTH + (rest > 0 ? HEADER_LENGTH + paddingFor(rest) : 0);
    if (final) size += HEADER_LENGTH + 16;
    // Zero-filled: padding needs no writes.
    const out = this.#allocate(size);
    let at = 0;
    const chunks = this.#chunks;
    let index = 0;
    let offset = this.#offset; // into chunks[index]
    for (let left = total; left > 0;) {
      const length = Math.min(left, STREAM_CHUNK);
      at = encodeRecordHeader(out, at, RECORD_TYPE.Stdout, this.#id, length, paddingFor(length));
      for (let need = length; need > 0;) {
        const chunk = chunks[index]!;
        const take = Math.min(chunk.length - offset, need);
        if (typeof chunk === "string") {
          for (let i = 0; i < take; i++) out[at + i] = chunk.charCodeAt(offset + i);
        } else out.set(chunk.subarray(offset, offset + take), at);
        at += take;
        need -= take;
        offset += take;
        if (offset === chunk.length) {
          index++;
          offset = 0;
        }
      }
      at += paddingFor(length);
      left -= length;
    }
    if (final) {
      at = encodeRecordHeader(out, at, RECORD_TYPE.Stdout, this.#id, 0, 0);
      encodeEndRequest(out, at, this.#id, appStatus, PROTOCOL_STATUS.RequestComplete);
    }
    // Drop the chunks framed whole; keep where the next slice starts in a partial one.
    if (index === chunks.length) chunks.length = 0;
    else if (index > 0) chunks.splice(0, index);
    this.#offset = offset;
    this.#pending -= total;
    return out;
  }
}
