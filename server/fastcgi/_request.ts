// One FastCGI request's state on its connection, and its STDOUT framing.

import type { BodyQueue } from "../_body.ts";
import type { ParamsDecoder } from "./params.ts";
import {
  encodedStreamLength,
  encodeEndRequest,
  encodeRecordHeader,
  encodeStream,
} from "./record.ts";
import { HEADER_LENGTH, PROTOCOL_STATUS, RECORD_TYPE } from "./constants.ts";
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

/** STDOUT records for one request, handed to the connection in one write per flush. */
export class StdoutSink implements ResponseSink {
  #chunks: Uint8Array[] = [];
  #pending = 0;
  #id: number;
  #send: (bytes: Uint8Array) => Promise<void>;

  constructor(id: number, send: (bytes: Uint8Array) => Promise<void>) {
    this.#id = id;
    this.#send = send;
  }

  get pending(): number {
    return this.#pending;
  }

  write(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#pending += chunk.length;
  }

  flush(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return this.#send(this.#encode(false, 0));
  }

  /** Queued STDOUT, the empty STDOUT that ends the stream and END_REQUEST, in one write. */
  finish(appStatus: number): Promise<void> {
    return this.#send(this.#encode(true, appStatus));
  }

  #encode(final: boolean, appStatus: number): Uint8Array {
    let size = final ? HEADER_LENGTH + 16 : 0;
    for (const chunk of this.#chunks) size += encodedStreamLength(chunk.length);
    const out = new Uint8Array(size);
    let at = 0;
    for (const chunk of this.#chunks) {
      at = encodeStream(out, at, RECORD_TYPE.Stdout, this.#id, chunk);
    }
    if (final) {
      at = encodeRecordHeader(out, at, RECORD_TYPE.Stdout, this.#id, 0, 0);
      encodeEndRequest(out, at, this.#id, appStatus, PROTOCOL_STATUS.RequestComplete);
    }
    this.#chunks.length = 0;
    this.#pending = 0;
    return out;
  }
}
