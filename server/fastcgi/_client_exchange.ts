// One request/response exchange of the FastCGI client on one connection (request id 1, no
// multiplexing, as nginx does): BEGIN_REQUEST, PARAMS and STDIN out (the body streamed with
// backpressure while the response is read), STDOUT parsed as a CGI response whose body is
// streamed to the caller record by record, STDERR to a callback, FCGI_ABORT_REQUEST when the
// caller aborts, and the connection handed back for reuse only after a clean END_REQUEST.

import {
  ConnectionClosedError,
  LimitExceededError,
  ProtocolError,
  RequestAbortedError,
} from "../errors.ts";
import { logLimit } from "../_log.ts";
import { decodeText } from "../_text.ts";
import type { GatewayLogger } from "../types.ts";
import {
  FLAG,
  MAX_UNPADDED_CONTENT_LENGTH,
  PROTOCOL_STATUS,
  RECORD_TYPE,
  ROLE,
} from "./constants.ts";
import { encodedParamsLength, encodeParamsInto } from "./params.ts";
import {
  decodeEndRequestBody,
  encodeBeginRequest,
  encodedStreamLength,
  encodeRecordHeader,
  encodeStream,
  paddingFor,
} from "./record.ts";
import {
  CgiHeadReader,
  type CgiResponseHead,
  concat,
  createResponse,
  type ForwardBody,
  isBodyless,
} from "../_client_cgi.ts";
import type { ClientConnection } from "./_client_connection.ts";
import type { Watchdog, Watched } from "../_client_watchdog.ts";

const REQUEST_ID = 1;
const EMPTY = new Uint8Array(0);
const STATUS_NAMES: Record<number, string> = {
  [PROTOCOL_STATUS.CantMpxConn]: "FCGI_CANT_MPX_CONN",
  [PROTOCOL_STATUS.Overloaded]: "FCGI_OVERLOADED",
  [PROTOCOL_STATUS.UnknownRole]: "FCGI_UNKNOWN_ROLE",
};

/** The resolved client settings an exchange uses. */
export interface ExchangeSettings {
  keepAlive: boolean;
  requestTimeout: number;
  readTimeout: number;
  abortTimeout: number;
  maxResponseHeadBytes: number;
  log: GatewayLogger;
  onStderr: (message: string, request: Request) => void;
  watchdog: Watchdog;
}

/** What an exchange produced: the head, and the Response unless it is a local redirect. */
export interface ExchangeResult {
  head: CgiResponseHead;
  response: Response | null;
}

type Timeout = "requestTimeout" | "readTimeout" | "abortTimeout";

/** One request on one connection. */
export class Exchange implements Watched {
  /** When the running timeout expires (ms since the epoch); watched by the watchdog. */
  deadline = Infinity;
  /** Some record arrived for this request: a failure now is not a dead kept connection. */
  receivedAny = false;
  /** Some of the request body stream was read: the request cannot be sent again. */
  bodyTaken = false;
  #connection: ClientConnection;
  #request: Request;
  #settings: ExchangeSettings;
  #release: (connection: ClientConnection, reusable: boolean) => void;
  #timeout: Timeout = "requestTimeout";
  #failure: unknown = null;
  #aborting = false;
  #abortReason: unknown = null;
  #reading = false;
  #follow = false;
  #done = false;
  #pumpDone = true;
  #pumpReader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  #onAbort = (): void => this.abort(this.#request.signal.reason);

  constructor(
    connection: ClientConnection,
    request: Request,
    settings: ExchangeSettings,
    release: (connection: ClientConnection, reusable: boolean) => void,
  ) {
    this.#connection = connection;
    this.#request = request;
    this.#settings = settings;
    this.#release = release;
  }

  /**
   * Sends the request and reads the response head.
   *
   * @param params The CGI variables.
   * @param body The body to send.
   * @param deadline When `requestTimeout` runs out (ms since the epoch).
   * @param follow Whether a local redirect is followed (then `response` is `null`).
   */
  async run(
    params: [string, string][],
    body: ForwardBody,
    deadline: number,
    follow: boolean,
  ): Promise<ExchangeResult> {
    this.#follow = follow;
    const connection = this.#connection;
    const signal = this.#request.signal;
    if (signal.aborted) {
      this.#finish(true);
      throw signal.reason;
    }
    this.#arm("requestTimeout", deadline);
    // No `{ once: true }`: #finish removes the listener, and abort() runs at most once.
    signal.addEventListener("abort", this.#onAbort);
    this.#reading = true;
    try {
      // The connection's send buffer is free: its last request's write has completed.
      await connection.write(
        encodeStart(params, body, this.#settings.keepAlive, connection.sendBuffer),
      );
      if (body.stream) this.#pump(body.stream, body.length);
      const reader = new CgiHeadReader(this.#settings.maxResponseHeadBytes, "fastcgi");
      let rest: Uint8Array | null = null;
      while (rest === null) {
        if (signal.aborted) this.abort(signal.reason);
        if (!await connection.nextRecord()) throw this.#endedError("the response head");
        this.receivedAny = true;
        if (this.#aborting) break;
        const type = this.#check();
        if (this.#aborting) break; // onStderr may abort
        const content = connection.decoder.content;
        if (type === RECORD_TYPE.Stdout) {
          if (content.length === 0) {
            throw this.#protocolError("STDOUT ended before the response head was complete");
          }
          rest = reader.push(content);
        } else if (type === RECORD_TYPE.EndRequest) {
          const { protocolStatus } = decodeEndRequestBody(content);
          throw this.#protocolError(
            protocolStatus === PROTOCOL_STATUS.RequestComplete
              ? "the request ended without a response head"
              : `the backend refused the request with ${
                STATUS_NAMES[protocolStatus] ?? protocolStatus
              }`,
          );
        }
      }
      if (this.#aborting || rest === null) {
        await this.#afterAbort();
        throw this.#abortReason;
      }
      this.#disarm();
      return this.#respond(reader.head!, rest);
    } catch (error) {
      this.#finish(false);
      if (this.#aborting) throw this.#abortReason;
      throw error;
    } finally {
      this.#reading = false;
    }
  }

  /** Builds the Response once the head is in; `rest` is the body that came with it. */
  #respond(head: CgiResponseHead, rest: Uint8Array): ExchangeResult {
    const redirect = this.#follow && head.localRedirect !== null;
    const bodyless = redirect || isBodyless(this.#request.method, head.status);
    // Views into the receive buffer: decoding more records does not move its bytes.
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let total = 0;
    if (rest.length > 0 && !bodyless) {
      chunks.push(rest as Uint8Array<ArrayBuffer>);
      total = rest.length;
    }
    // Records already received are taken now, so a small response needs no stream at all.
    let ended = false;
    while (!ended && this.#connection.decoder.next()) {
      const type = this.#check();
      const content = this.#connection.decoder.content;
      if (type === RECORD_TYPE.Stdout && content.length > 0 && !bodyless) {
        chunks.push(content as Uint8Array<ArrayBuffer>);
        total += content.length;
      } else if (type === RECORD_TYPE.EndRequest) ended = true;
    }
    if (ended) {
      // The Response copies its bytes now (Fetch "extract a body" copies a BufferSource), so
      // a view into the receive buffer, which the next read reuses, needs no copy first.
      let response: Response | null = null;
      try {
        if (!redirect) response = createResponse(head, bodyless ? null : concat(chunks, total));
      } finally {
        this.#finish(true);
      }
      return { head, response };
    }
    if (bodyless) {
      // Whatever STDOUT still comes is read and dropped, so the connection can be reused.
      void this.#drainToEnd();
      return { head, response: redirect ? null : createResponse(head, null) };
    }
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        // Copies: the receive buffer is reused by the reads to come.
        for (const chunk of chunks) controller.enqueue(chunk.slice());
      },
      pull: (controller) => this.#pull(controller),
      cancel: (reason) => this.abort(reason ?? new RequestAbortedError("Response body cancelled")),
    }, { highWaterMark: 0 });
    return { head, response: createResponse(head, body) };
  }

  /** Reads records until a STDOUT chunk (enqueued) or END_REQUEST (closes the stream). */
  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#done) {
      controller.error(this.#failure ?? this.#abortReason ?? this.#endedError("the body"));
      return;
    }
    const connection = this.#connection;
    this.#reading = true;
    try {
      this.#arm("readTimeout", Date.now() + this.#settings.readTimeout);
      while (true) {
        if (!await connection.nextRecord()) {
          if (this.#aborting) return this.#finish(false);
          const error = this.#endedError("the response body");
          this.#finish(false);
          controller.error(error);
          return;
        }
        if (this.#aborting) return await this.#afterAbort();
        const type = this.#check();
        const content = connection.decoder.content;
        if (type === RECORD_TYPE.Stdout && content.length > 0) {
          this.#disarm();
          controller.enqueue(content.slice());
          return;
        }
        if (type === RECORD_TYPE.EndRequest) {
          this.#finish(true);
          controller.close();
          return;
        }
      }
    } catch (error) {
      this.#finish(false);
      controller.error(error);
    } finally {
      this.#reading = false;
    }
  }

  /**
   * The caller gave up (signal or body cancelled): FCGI_ABORT_REQUEST is sent, and the
   * backend's END_REQUEST awaited within `abortTimeout` so the connection can be reused.
   */
  abort(reason: unknown): void {
    if (this.#done || this.#aborting) return;
    this.#aborting = true;
    this.#abortReason = reason ?? new RequestAbortedError("Request aborted");
    try {
      // A body still being read ends with the reason (a cancelled one ignores this).
      this.#controller?.error(this.#abortReason);
    } catch {
      // already closed
    }
    this.#stopPump();
    const record = new Uint8Array(8);
    encodeRecordHeader(record, 0, RECORD_TYPE.AbortRequest, REQUEST_ID, 0, 0);
    this.#connection.write(record).catch(() => {});
    this.#arm("abortTimeout", Date.now() + this.#settings.abortTimeout);
    if (!this.#reading) void this.#drainAfterAbort();
  }

  /** After an abort, with a record just decoded: finishes on END_REQUEST, else drains. */
  #afterAbort(): Promise<void> {
    const { type, requestId } = this.#connection.decoder;
    if (type === RECORD_TYPE.EndRequest && requestId === REQUEST_ID) {
      this.#finish(true);
      return Promise.resolve();
    }
    return this.#drainAfterAbort();
  }

  async #drainAfterAbort(): Promise<void> {
    this.#reading = true;
    try {
      const ended = await this.#readToEnd();
      this.#finish(ended);
    } finally {
      this.#reading = false;
    }
  }

  async #drainToEnd(): Promise<void> {
    this.#arm("readTimeout", Date.now() + this.#settings.readTimeout);
    this.#reading = true;
    try {
      this.#finish(await this.#readToEnd());
    } catch {
      this.#finish(false);
    } finally {
      this.#reading = false;
    }
  }

  /** Reads and drops records up to END_REQUEST; `false` when the connection ended first. */
  async #readToEnd(): Promise<boolean> {
    const connection = this.#connection;
    while (await connection.nextRecord()) {
      if (this.#check() === RECORD_TYPE.EndRequest) return true;
    }
    return false;
  }

  /** Checks the record just decoded; passes STDERR on. Returns its type. */
  #check(): number {
    const { type, requestId, content } = this.#connection.decoder;
    if (requestId !== REQUEST_ID) {
      throw this.#protocolError(`a record of type "${type}" came for request "${requestId}"`);
    }
    if (type === RECORD_TYPE.Stderr) {
      if (content.length > 0) {
        try {
          this.#settings.onStderr(decodeText(content, 0, content.length), this.#request);
        } catch (error) {
          this.#settings.log("error", `onStderr failed: ${error}`);
        }
      }
    } else if (type !== RECORD_TYPE.Stdout && type !== RECORD_TYPE.EndRequest) {
      throw this.#protocolError(`a record of type "${type}" came for a request`);
    }
    return type;
  }

  /** Copies the request body stream into STDIN records. */
  async #pump(stream: ReadableStream<Uint8Array>, length: number | null): Promise<void> {
    this.#pumpDone = false;
    const reader = stream.getReader();
    this.#pumpReader = reader;
    let sent = 0;
    try {
      while (true) {
        this.bodyTaken = true;
        const { done, value } = await reader.read();
        if (this.#done || this.#aborting) return;
        if (done) break;
        sent += value.length;
        if (length !== null && sent > length) {
          throw new ProtocolError(`Cannot forward request: the body is longer than "${length}"`, {
            protocol: "http",
          });
        }
        const out = new Uint8Array(encodedStreamLength(value.length));
        encodeStream(out, 0, RECORD_TYPE.Stdin, REQUEST_ID, value);
        await this.#connection.write(out);
      }
      if (length !== null && sent !== length) {
        throw new ProtocolError(
          `Cannot forward request: the body ended at "${sent}" of "${length}" bytes`,
          { protocol: "http" },
        );
      }
      const end = new Uint8Array(8);
      encodeRecordHeader(end, 0, RECORD_TYPE.Stdin, REQUEST_ID, 0, 0);
      await this.#connection.write(end);
      this.#pumpDone = true;
    } catch (error) {
      if (this.#done || this.#aborting) return;
      // A write error means the backend went away: the record reader reports that. A body
      // that fails (the client's upload broke) or lies about its length ends the exchange.
      if (
        !(error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset)
      ) {
        this.#failure ??= error;
      }
      this.#connection.close();
    } finally {
      this.#pumpReader = null;
      reader.releaseLock();
    }
  }

  #stopPump(): void {
    this.#pumpReader?.cancel().catch(() => {});
  }

  /** Runs `option` until `deadline` (ms since the epoch). */
  #arm(option: Timeout, deadline: number): void {
    this.#timeout = option;
    this.deadline = deadline;
    this.#settings.watchdog.add(this);
  }

  /** The running timeout expired (the watchdog calls this). */
  expire(): void {
    const option = this.#timeout;
    const limit = this.#settings[option];
    logLimit(this.#settings.log, option, limit, this.#describe());
    this.#failure ??= new LimitExceededError(
      `Cannot complete FastCGI request ${this.#describe()}: "${option}" ran out`,
      { option, limit, protocol: "fastcgi" },
    );
    this.#connection.close();
  }

  #disarm(): void {
    this.#settings.watchdog.delete(this);
  }

  #describe(): string {
    return `${this.#request.method} ${this.#request.url}`;
  }

  #protocolError(what: string): ProtocolError {
    return new ProtocolError(`Cannot read FastCGI response: ${what}`, {
      protocol: "fastcgi",
      requestId: REQUEST_ID,
    });
  }

  #endedError(what: string): unknown {
    if (this.#failure) return this.#failure;
    const cause = this.#connection.readError;
    return new ConnectionClosedError(
      `Cannot read FastCGI response: the backend closed the connection before ${what} ended`,
      { protocol: "fastcgi", requestId: REQUEST_ID, ...(cause ? { cause } : {}) },
    );
  }

  /** Ends the exchange once: hands the connection back (reusable or closed). */
  #finish(clean: boolean): void {
    if (this.#done) return;
    this.#done = true;
    this.#disarm();
    this.#request.signal.removeEventListener("abort", this.#onAbort);
    if (!this.#pumpDone) this.#stopPump();
    const connection = this.#connection;
    const reusable = clean && this.#settings.keepAlive && this.#pumpDone &&
      this.#failure === null && !connection.closed && connection.decoder.buffered === 0;
    this.#release(connection, reusable);
  }
}

/**
 * BEGIN_REQUEST, the params, their end, and the whole body when it is already in memory: one
 * buffer (the connection's own when `reuse` is big enough), one write. Params that fit one
 * record are written straight into it, with no buffer of their own.
 */
export function encodeStart(
  params: [string, string][],
  body: ForwardBody,
  keepAlive: boolean,
  reuse: Uint8Array | null = null,
): Uint8Array {
  const pairsLength = encodedParamsLength(params);
  if (pairsLength > MAX_UNPADDED_CONTENT_LENGTH) {
    return encodeStartSplit(params, pairsLength, body, keepAlive);
  }
  const stdin = body.stream ? null : body.bytes ?? EMPTY;
  const padding = paddingFor(pairsLength);
  const size = 16 + (pairsLength > 0 ? 8 + pairsLength + padding : 0) + 8 +
    (stdin === null ? 0 : (stdin.length > 0 ? encodedStreamLength(stdin.length) : 0) + 8);
  // A new ArrayBuffer costs more than encoding the params: the connection's is reused.
  const out = reuse !== null && reuse.length >= size
    ? reuse.subarray(0, size)
    : new Uint8Array(size);
  let at = encodeBeginRequest(out, 0, REQUEST_ID, ROLE.Responder, keepAlive ? FLAG.KeepConn : 0);
  if (pairsLength > 0) {
    at = encodeRecordHeader(out, at, RECORD_TYPE.Params, REQUEST_ID, pairsLength, padding);
    at = encodeParamsInto(out, at, params);
    if (padding > 0) out.fill(0, at, at + padding);
    at += padding;
  }
  at = encodeRecordHeader(out, at, RECORD_TYPE.Params, REQUEST_ID, 0, 0);
  if (stdin !== null) {
    if (stdin.length > 0) at = encodeStream(out, at, RECORD_TYPE.Stdin, REQUEST_ID, stdin);
    at = encodeRecordHeader(out, at, RECORD_TYPE.Stdin, REQUEST_ID, 0, 0);
  }
  return out;
}

/**
 * {@linkcode encodeStart} for params that need more than one record: encoded apart, then split
 * into records.
 */
function encodeStartSplit(
  params: [string, string][],
  pairsLength: number,
  body: ForwardBody,
  keepAlive: boolean,
): Uint8Array {
  const pairs = new Uint8Array(pairsLength);
  encodeParamsInto(pairs, 0, params);
  const stdin = body.stream ? null : body.bytes ?? EMPTY;
  const size = 16 + encodedStreamLength(pairsLength) + (pairsLength > 0 ? 8 : 0) +
    (stdin === null ? 0 : (stdin.length > 0 ? encodedStreamLength(stdin.length) : 0) + 8);
  const out = new Uint8Array(size);
  let at = encodeBeginRequest(out, 0, REQUEST_ID, ROLE.Responder, keepAlive ? FLAG.KeepConn : 0);
  if (pairsLength > 0) at = encodeStream(out, at, RECORD_TYPE.Params, REQUEST_ID, pairs);
  at = encodeStream(out, at, RECORD_TYPE.Params, REQUEST_ID, EMPTY);
  if (stdin !== null) {
    if (stdin.length > 0) at = encodeStream(out, at, RECORD_TYPE.Stdin, REQUEST_ID, stdin);
    at = encodeStream(out, at, RECORD_TYPE.Stdin, REQUEST_ID, EMPTY);
  }
  return out;
}
