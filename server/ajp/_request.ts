// One AJP request's state on its connection, and the sink that frames its response.

import type { BodyQueue } from "../_body.ts";
import type { Exchange, ResponseSink } from "../_respond.ts";
import { bodyChunksLength, encodeBodyChunks, encodeEndResponse } from "./response.ts";

/** How the request body arrives on the wire (spec "Request Packet Structure", data packets). */
export const BODY_MODE = {
  /** No body: no Content-Length (or 0) and no Transfer-Encoding. */
  None: 0,
  /** Content-Length > 0: the first chunk follows FORWARD_REQUEST unasked. */
  Length: 1,
  /** Transfer-Encoding without Content-Length: chunks only on GET_BODY_CHUNK, an empty one ends. */
  Chunked: 2,
} as const;

/** The request state the connection keeps while a request is active. */
export interface AjpRequest {
  readonly method: string;
  /** FORWARD_REQUEST carried req_attributes (mod_proxy_ajp and mod_jk do; lighttpd does not). */
  readonly sentAttributes: boolean;
  /** A BODY_MODE value. */
  readonly bodyMode: number;
  /** Content-Length, checked against what arrives. */
  readonly contentLength: number | null;
  /** The handler's body; `null` when the request has none (input is read and dropped). */
  body: BodyQueue | null;
  /** Body bytes received. */
  received: number;
  /** The wire body is complete (end chunk, Content-Length reached, or none). */
  inputDone: boolean;
  /** A body packet is on its way: the first one, or one asked for with GET_BODY_CHUNK. */
  awaiting: boolean;
  /** Bytes still to come for the last GET_BODY_CHUNK (lighttpd); 0: one packet answers it. */
  awaitingBytes: number;
  /** `performance.now()` when `awaiting` began. */
  awaitingSince: number;
  /** Answer END_RESPONSE with reuse = 0 and close (refused, overloaded, draining). */
  closeAfter: boolean;
  exchange: Exchange | null;
  /** Aborts `request.signal` (closed connection, handler timeout). */
  controller: AbortController;
  /** Aborted when nothing more may be written for this request. */
  stop: AbortController;
  /** END_RESPONSE was sent or the connection died: nothing more is written. */
  ended: boolean;
  /** Resolved when no body packet is awaited any more (only made when someone waits). */
  settled: (() => void) | null;
}

/** SEND_HEADERS and SEND_BODY_CHUNK packets for one response, in one write per flush. */
export class AjpSink implements ResponseSink {
  #head: Uint8Array | null = null;
  #chunks: Uint8Array[] = [];
  #bodyBytes = 0;
  #packetSize: number;
  #send: (bytes: Uint8Array) => Promise<void>;

  constructor(packetSize: number, send: (bytes: Uint8Array) => Promise<void>) {
    this.#packetSize = packetSize;
    this.#send = send;
  }

  get pending(): number {
    return this.#bodyBytes + (this.#head?.length ?? 0);
  }

  /** Queues the encoded SEND_HEADERS packet; it goes out before any body. */
  head(packet: Uint8Array): void {
    this.#head = packet;
  }

  write(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#bodyBytes += chunk.length;
  }

  flush(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return this.#send(this.#encode(null));
  }

  /** What is queued and END_RESPONSE, in one write. */
  finish(reuse: boolean): Promise<void> {
    return this.#send(this.#encode(reuse));
  }

  #encode(reuse: boolean | null): Uint8Array {
    const head = this.#head;
    const size = (head?.length ?? 0) + bodyChunksLength(this.#bodyBytes, this.#packetSize) +
      (reuse === null ? 0 : 6);
    const out = new Uint8Array(size);
    let at = 0;
    if (head) {
      out.set(head);
      at = head.length;
    }
    at = encodeBodyChunks(out, at, this.#chunks, this.#packetSize);
    if (reuse !== null) encodeEndResponse(out, at, reuse);
    this.#head = null;
    this.#chunks.length = 0;
    this.#bodyBytes = 0;
    return out;
  }
}
