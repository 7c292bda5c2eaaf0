// Serves one FastCGI transport connection: decodes records, runs requests (multiplexed up to
// maxRequestsPerConnection), writes responses, and reports timeouts to the listener's sweeper.
// Modeled on the spec's sections 3 to 6 and Go's net/http/fcgi child.go.

import { BodyQueue } from "../_body.ts";
import { type GatewayConn, writeAll } from "../_conn.ts";
import { createRequest, expectsBody, parseCgiVariables } from "../_cgi_env.ts";
import type { ConnectionSlot } from "../_listen.ts";
import { logLimit } from "../_log.ts";
import type { ResolvedOptions } from "../_options.ts";
import {
  callHandler,
  encodeCgiHead,
  type Exchange,
  pipeBody,
  plainResponse,
  responseHasBody,
} from "../_respond.ts";
import { textEncoder } from "../_text.ts";
import { LimitExceededError, ProtocolError, RequestAbortedError } from "../errors.ts";
import type { GatewayInfo, GatewayRole, Handler } from "../types.ts";
import { FLAG, NULL_REQUEST_ID, PROTOCOL_STATUS, RECORD_TYPE, ROLE } from "./constants.ts";
import { ParamsDecoder } from "./params.ts";
import {
  decodeBeginRequestBody,
  encodedStreamLength,
  encodeEndRequest,
  encodeStream,
  encodeUnknownType,
  RecordDecoder,
} from "./record.ts";
import { type FastCgiRequest, OutputSlab, PHASE, StdoutSink } from "./_request.ts";
import { encodeGetValuesResult, encodeRefusal } from "./_management.ts";

/** What every connection of one server shares. */
export interface FastCgiContext {
  handler: Handler;
  options: ResolvedOptions;
  roles: ReadonlySet<number>;
  maxRequestsPerConnection: number;
}

const ROLE_NAMES: Record<number, GatewayRole> = {
  [ROLE.Responder]: "responder",
  [ROLE.Authorizer]: "authorizer",
  [ROLE.Filter]: "filter",
};

const READ_SIZE = 16384;

/** Params of at most this many bytes leave their buffer (at most twice this) for reuse. */
const KEEP_PARAMS_BUFFER = 8192;

/** Starts serving `conn`; the returned slot lets the listener time it out and drain it. */
export function serveFastCgiConnection(
  conn: GatewayConn,
  overloaded: boolean,
  context: FastCgiContext,
): ConnectionSlot {
  return new FastCgiConnection(conn, overloaded, context);
}

class FastCgiConnection implements ConnectionSlot {
  deadline = Infinity;
  deadlineOption = "paramsTimeout";
  deadlineLimit = 0;
  readonly done: Promise<void>;
  #conn: GatewayConn;
  #context: FastCgiContext;
  #options: ResolvedOptions;
  #overloaded: boolean;
  #decoder = new RecordDecoder();
  #requests = new Map<number, FastCgiRequest>();
  #pausedOn: BodyQueue | null = null;
  #writeTail: Promise<void> = Promise.resolve();
  #served = 0;
  #closeWhenIdle = false;
  /** Our side is shut after the last request; waiting for the front end to close its side. */
  #halfClosed = false;
  #draining = false;
  #closed = false;
  #openedAt = performance.now();
  #paramsDecoder: ParamsDecoder | null = null;
  #slab = new OutputSlab();
  #allocate = (size: number): Uint8Array => this.#slab.allocate(size);
  #paramsLimits: { maxBytes: number; maxPairs: number };

  constructor(conn: GatewayConn, overloaded: boolean, context: FastCgiContext) {
    this.#conn = conn;
    this.#context = context;
    this.#options = context.options;
    this.#overloaded = overloaded;
    this.#paramsLimits = {
      maxBytes: context.options.maxParamsBytes,
      maxPairs: context.options.maxParamsPairs,
    };
    this.done = this.#run();
  }

  drain(): void {
    this.#draining = true;
    // A connection that has served nothing yet was accepted before the drain began: the front
    // end is about to send its first request on it, and it is answered before closing.
    if (this.#requests.size === 0 && this.#served > 0) this.#close("");
  }

  abort(reason: string): void {
    this.#close(reason);
  }

  retainedBytes(): number {
    let bytes = this.#decoder.capacity;
    for (const request of this.#requests.values()) {
      bytes += (request.params?.length ?? 0) + (request.body?.queuedBytes ?? 0) +
        (request.data?.queuedBytes ?? 0);
    }
    return bytes;
  }

  async #run(): Promise<void> {
    let reason = "";
    try {
      while (!this.#closed) {
        // Whole records already buffered come first, also after a pause: the front end may
        // have sent everything and be waiting for the answer.
        while (!this.#closed && this.#pausedOn === null && this.#decoder.next()) this.#onRecord();
        if (this.#closed) break;
        const paused = this.#pausedOn;
        if (paused) {
          this.deadline = Infinity;
          await paused.drained();
          this.#pausedOn = null;
          continue;
        }
        this.#setDeadline();
        const n = await this.#conn.read(this.#decoder.writable(READ_SIZE));
        if (n === null) {
          if (this.#decoder.buffered > 0) reason = "the front end closed the connection mid-record";
          break;
        }
        if (this.#halfClosed) {
          reason = "the front end sent more after the last request (FCGI_KEEP_CONN was not set)";
          break;
        }
        this.#decoder.commit(n);
      }
    } catch (error) {
      // After our half-close, a reset instead of an orderly close by the peer is no news.
      if (!this.#closed && !this.#halfClosed) {
        reason = error instanceof LimitExceededError
          ? `${error.option} (${error.limit}) reached: ${error.message}`
          : error instanceof ProtocolError
          ? error.message
          : `read failed: ${error instanceof Error ? error.message : error}`;
      }
    }
    this.#close(reason);
  }

  #setDeadline(): void {
    const options = this.#options;
    if (this.#requests.size === 0) {
      if (this.#served === 0) {
        this.#deadline(this.#openedAt, "paramsTimeout", options.paramsTimeout);
      } else this.#deadline(performance.now(), "keepAliveTimeout", options.keepAliveTimeout);
      return;
    }
    let reading = false;
    for (const request of this.#requests.values()) {
      if (request.phase === PHASE.Params) {
        this.#deadline(request.startedAt, "paramsTimeout", options.paramsTimeout);
        return;
      }
      if (request.phase !== PHASE.Done) reading = true;
    }
    if (reading) this.#deadline(performance.now(), "bodyTimeout", options.bodyTimeout);
    else this.deadline = Infinity;
  }

  #deadline(from: number, option: string, limit: number): void {
    this.deadline = from + limit;
    this.deadlineOption = option;
    this.deadlineLimit = limit;
  }

  #onRecord(): void {
    const decoder = this.#decoder;
    const type = decoder.type;
    const id = decoder.requestId;
    const content = decoder.content;
    if (id === NULL_REQUEST_ID) {
      if (type === RECORD_TYPE.GetValues) {
        this.#send(encodeGetValuesResult(content, this.#context)).catch(() => {});
      } else if (type > RECORD_TYPE.UnknownType || type === 0) this.#sendUnknownType(type);
      else {throw new ProtocolError(
          `Cannot accept FastCGI record type "${type}" with request id 0`,
          {
            protocol: "fastcgi",
            offset: decoder.offset,
          },
        );}
      return;
    }
    switch (type) {
      case RECORD_TYPE.BeginRequest:
        return this.#begin(id, content);
      case RECORD_TYPE.AbortRequest: {
        const request = this.#requests.get(id);
        if (request) this.#abortRequest(request, "FCGI_ABORT_REQUEST", true);
        return;
      }
      case RECORD_TYPE.Params:
        return this.#params(id, content);
      case RECORD_TYPE.Stdin:
        return this.#input(id, content, PHASE.Stdin);
      case RECORD_TYPE.Data:
        return this.#input(id, content, PHASE.Data);
      case RECORD_TYPE.EndRequest:
      case RECORD_TYPE.Stdout:
      case RECORD_TYPE.Stderr:
      case RECORD_TYPE.GetValues:
      case RECORD_TYPE.GetValuesResult:
      case RECORD_TYPE.UnknownType:
        throw new ProtocolError(`Cannot accept FastCGI record type "${type}" from a front end`, {
          protocol: "fastcgi",
          offset: decoder.offset,
          requestId: id,
        });
      default:
        this.#sendUnknownType(type);
    }
  }

  #begin(id: number, content: Uint8Array): void {
    if (this.#requests.has(id)) {
      throw new ProtocolError(`Cannot begin FastCGI request: request id "${id}" is active`, {
        protocol: "fastcgi",
        requestId: id,
      });
    }
    const { role, flags } = decodeBeginRequestBody(content);
    const keepConn = (flags & FLAG.KeepConn) !== 0;
    this.#closeWhenIdle = !keepConn;
    if (!this.#context.roles.has(role)) {
      this.#options.log("warn", `roles: refused FastCGI request with role "${role}"`);
      return this.#refuse(id, PROTOCOL_STATUS.UnknownRole, null);
    }
    if (this.#overloaded || (this.#draining && this.#served > 0)) {
      return this.#refuse(
        id,
        PROTOCOL_STATUS.Overloaded,
        plainResponse(503, "Service Unavailable"),
      );
    }
    const max = this.#context.maxRequestsPerConnection;
    if (this.#requests.size >= max) {
      logLimit(this.#options.log, "maxRequestsPerConnection", max, `request ${id} refused`);
      return this.#refuse(
        id,
        max === 1 ? PROTOCOL_STATUS.CantMpxConn : PROTOCOL_STATUS.Overloaded,
        null,
      );
    }
    this.#requests.set(id, {
      id,
      role,
      keepConn,
      startedAt: performance.now(),
      phase: PHASE.Params,
      params: this.#takeParamsDecoder(),
      paramsRefused: null,
      body: null,
      data: null,
      contentLength: null,
      stdinBytes: 0,
      exchange: null,
      controller: new AbortController(),
      stop: new AbortController(),
      ended: false,
      inputDone: null,
    });
  }

  /**
   * The connection's params decoder (its buffer is reused request after request), or a new
   * one when another request of this connection is still collecting its params.
   */
  #takeParamsDecoder(): ParamsDecoder {
    let shared = this.#paramsDecoder;
    if (shared !== null) {
      for (const other of this.#requests.values()) {
        if (other.params === shared) return new ParamsDecoder(this.#paramsLimits);
      }
      // Not in use but not empty: left by a request that ended mid-params (aborted, refused).
      if (shared.length > 0) shared = null;
    }
    return this.#paramsDecoder = shared ?? new ParamsDecoder(this.#paramsLimits);
  }

  /** Answers a request id without running it: optional response, then END_REQUEST. */
  #refuse(id: number, protocolStatus: number, response: Response | null): void {
    this.#send(encodeRefusal(id, protocolStatus, response)).then(
      () => this.#afterRequest(),
      () => {},
    );
  }

  #params(id: number, content: Uint8Array): void {
    const request = this.#requests.get(id);
    if (!request) return; // inactive id: ignored (spec section 3.3)
    if (request.phase !== PHASE.Params || !request.params) {
      throw new ProtocolError(`Cannot accept FastCGI PARAMS after the end of params`, {
        protocol: "fastcgi",
        requestId: id,
      });
    }
    if (content.length > 0) {
      if (request.paramsRefused) return;
      try {
        request.params.push(content);
      } catch (error) {
        if (!(error instanceof LimitExceededError)) throw error;
        request.paramsRefused = error.option;
        logLimit(this.#options.log, error.option, error.limit, `request ${id} answered 431`);
      }
      return;
    }
    let pairs: string[] = [];
    const decoder = request.params;
    // A large params buffer is not kept for the next request of the connection.
    if (decoder === this.#paramsDecoder && decoder.length > KEEP_PARAMS_BUFFER) {
      this.#paramsDecoder = null;
    }
    if (!request.paramsRefused) {
      try {
        pairs = decoder.finish();
      } catch (error) {
        if (!(error instanceof LimitExceededError)) throw error;
        request.paramsRefused = error.option;
        logLimit(this.#options.log, error.option, error.limit, `request ${id} answered 431`);
      }
    }
    request.params = null;
    request.phase = request.role === ROLE.Authorizer ? PHASE.Done : PHASE.Stdin;
    if (request.paramsRefused) {
      this.#serve(request, null, plainResponse(431, "Request Header Fields Too Large"));
      return;
    }
    this.#start(request, pairs);
  }

  #start(request: FastCgiRequest, pairs: string[]): void {
    let head;
    try {
      head = parseCgiVariables(pairs, "fastcgi");
    } catch (error) {
      this.#options.log(
        "warn",
        `FastCGI request ${request.id} answered 400: ${(error as Error).message}`,
      );
      this.#serve(request, null, plainResponse(400, "Bad Request"));
      return;
    }
    request.contentLength = head.contentLength;
    if (request.phase !== PHASE.Done && expectsBody(head)) {
      request.body = new BodyQueue(this.#options.bodyBufferSize);
    }
    if (request.role === ROLE.Filter) {
      request.data = new BodyQueue(this.#options.bodyBufferSize);
    }
    let httpRequest: Request;
    try {
      httpRequest = createRequest(
        head,
        request.body?.stream ?? null,
        request.controller.signal,
        "fastcgi",
      );
    } catch (error) {
      this.#options.log(
        "warn",
        `FastCGI request ${request.id} answered 400: ${(error as Error).message}`,
      );
      request.body?.error(error);
      request.body = null;
      this.#serve(request, null, plainResponse(400, "Bad Request"));
      return;
    }
    let resolveCompleted!: () => void;
    let rejectCompleted!: (error: unknown) => void;
    const completed = new Promise<void>((resolve, reject) => {
      resolveCompleted = resolve;
      rejectCompleted = reject;
    });
    completed.catch(() => {});
    const remote = this.#conn.remoteAddr;
    const info: GatewayInfo = {
      remoteAddr: head.remoteAddr ??
        ("hostname" in remote
          ? remote as Deno.NetAddr
          : { transport: "tcp", hostname: "", port: 0 }),
      completed,
      env: head.env,
      protocol: "fastcgi",
      role: ROLE_NAMES[request.role] ?? "responder",
      data: request.data?.stream ?? null,
      writeStderr: (message) => this.#writeStderr(request, message),
    };
    const exchange: Exchange = {
      request: httpRequest,
      info,
      bodyFailure: undefined,
      abort: (reason) => request.controller.abort(reason),
    };
    request.exchange = exchange;
    this.#serve(request, { resolve: resolveCompleted, reject: rejectCompleted }, null);
  }

  #input(id: number, content: Uint8Array, phase: number): void {
    const request = this.#requests.get(id);
    if (!request) return; // inactive id: ignored (spec section 3.3)
    if (request.role === ROLE.Authorizer && phase === PHASE.Stdin && request.phase === PHASE.Done) {
      return; // an Authorizer has no input; some front ends send an empty STDIN anyway
    }
    if (request.phase !== phase) {
      const name = phase === PHASE.Stdin ? "STDIN" : "DATA";
      throw new ProtocolError(`Cannot accept FastCGI ${name} in this state of request "${id}"`, {
        protocol: "fastcgi",
        requestId: id,
      });
    }
    const queue = phase === PHASE.Stdin ? request.body : request.data;
    if (content.length === 0) {
      if (phase === PHASE.Stdin) {
        const expected = request.contentLength;
        if (expected !== null && request.stdinBytes !== expected && request.body) {
          this.#failBody(
            request,
            new ProtocolError(
              `Cannot accept request body: CONTENT_LENGTH is "${expected}" but ` +
                `"${request.stdinBytes}" bytes arrived`,
              { protocol: "fastcgi", requestId: id },
            ),
          );
        }
        request.body?.close();
        request.phase = request.role === ROLE.Filter ? PHASE.Data : PHASE.Done;
      } else {
        request.data?.close();
        request.phase = PHASE.Done;
      }
      if (request.phase === PHASE.Done) {
        const done = request.inputDone;
        request.inputDone = null;
        done?.();
      }
      return;
    }
    if (phase === PHASE.Stdin) {
      request.stdinBytes += content.length;
      const max = this.#options.maxBodyBytes;
      if (request.stdinBytes > max && request.body && !request.body.closed) {
        logLimit(this.#options.log, "maxBodyBytes", max, `request ${id} body refused`);
        this.#failBody(
          request,
          new LimitExceededError(
            `Cannot accept request body: more than "${max}" bytes`,
            { option: "maxBodyBytes", limit: max, protocol: "fastcgi", requestId: id },
          ),
        );
      }
      const expected = request.contentLength;
      if (
        expected !== null && request.stdinBytes > expected && request.body && !request.body.closed
      ) {
        this.#failBody(
          request,
          new ProtocolError(
            `Cannot accept request body: more than CONTENT_LENGTH "${expected}" bytes arrived`,
            { protocol: "fastcgi", requestId: id },
          ),
        );
      }
    }
    if (queue && !queue.closed && !queue.push(content.slice())) this.#pausedOn = queue;
  }

  #failBody(request: FastCgiRequest, error: Error): void {
    if (request.exchange && request.exchange.bodyFailure === undefined) {
      request.exchange.bodyFailure = error;
    }
    request.body?.error(error);
  }

  /** Runs the handler (or sends `fixed`), writes the response, then END_REQUEST. */
  async #serve(
    request: FastCgiRequest,
    completion: { resolve: () => void; reject: (error: unknown) => void } | null,
    fixed: Response | null,
  ): Promise<void> {
    const exchange = request.exchange;
    let response: Response;
    if (fixed || !exchange) response = fixed ?? plainResponse(500, "Internal Server Error");
    else response = await callHandler(this.#context.handler, exchange, this.#options);
    const sink = new StdoutSink(
      request.id,
      (bytes) => request.ended ? Promise.resolve() : this.#send(bytes),
      this.#allocate,
    );
    try {
      if (request.ended) throw abortedError(request);
      sink.writeLatin1(encodeCgiHead(response));
      const method = exchange?.request.method ?? "GET";
      if (response.body) {
        if (responseHasBody(method, response.status)) {
          await pipeBody(response.body, sink, request.stop.signal);
        } else await response.body.cancel();
      }
      // The handler is done with its input: drop what is still to come, but read it to the end
      // so the front end is never cut off mid-write.
      if (request.body && !request.body.closed) {
        request.body.error(
          new RequestAbortedError("The handler finished without the body", {
            protocol: "fastcgi",
            requestId: request.id,
          }),
        );
      }
      request.data?.error(
        new RequestAbortedError("The handler finished without the data", {
          protocol: "fastcgi",
          requestId: request.id,
        }),
      );
      if (request.phase !== PHASE.Done) {
        await sink.flush();
        await new Promise<void>((resolve) => request.inputDone = resolve);
      }
      if (request.ended) throw abortedError(request);
      // The id is free before END_REQUEST reaches the front end, which may reuse it at once.
      this.#requests.delete(request.id);
      const finishing = sink.finish(0);
      request.ended = true;
      await finishing;
      this.#served++;
      completion?.resolve();
    } catch (error) {
      response.body?.cancel(error).catch(() => {});
      completion?.reject(
        error instanceof RequestAbortedError ? error : abortedError(request, error),
      );
    } finally {
      this.#requests.delete(request.id);
      this.#afterRequest();
    }
  }

  #afterRequest(): void {
    if (this.#closed) return;
    // A read is pending: move the deadline from "handler running" to the next phase now.
    this.#setDeadline();
    if (this.#requests.size > 0) return;
    if (this.#closeWhenIdle || this.#draining) {
      this.#writeTail.then(() => this.#closeAfterLastRequest());
    }
  }

  /**
   * Ends a connection whose last request is answered. When the connection can half-close, only
   * our side is shut: the front end sees end of stream, closes its side (nginx does so at
   * END_REQUEST anyway), and the pending read ends with null, after which the connection is
   * closed. Closing outright would cancel that read, and a cancelled read costs an error
   * object with a stack trace per connection (about a tenth of the CPU time of per-request
   * connections through nginx). A front end that keeps its side open is closed at
   * keepAliveTimeout, like any idle connection.
   */
  #closeAfterLastRequest(): void {
    if (this.#closed || this.#requests.size > 0) return;
    const conn = this.#conn;
    if (this.#draining || this.#halfClosed || conn.closeWrite === undefined) {
      this.#close("");
      return;
    }
    try {
      // Deno.Conn's closeWrite returns a promise: a failed shutdown must not go unhandled.
      const shut = conn.closeWrite();
      if (shut instanceof Promise) shut.catch(() => this.#close(""));
    } catch {
      this.#close("");
      return;
    }
    this.#halfClosed = true;
  }

  #abortRequest(request: FastCgiRequest, why: string, sendEnd: boolean): void {
    if (request.ended) return;
    const error = new RequestAbortedError(`FastCGI request "${request.id}" aborted: ${why}`, {
      protocol: "fastcgi",
      requestId: request.id,
    });
    request.controller.abort(error);
    request.stop.abort(error);
    request.body?.error(error);
    request.data?.error(error);
    const done = request.inputDone;
    request.inputDone = null;
    if (sendEnd) {
      const out = new Uint8Array(16);
      encodeEndRequest(out, 0, request.id, 0, PROTOCOL_STATUS.RequestComplete);
      this.#send(out).catch(() => {});
    }
    request.ended = true;
    request.phase = PHASE.Done;
    done?.();
  }

  #writeStderr(request: FastCgiRequest, message: string | Uint8Array): void {
    if (request.ended || this.#closed) return;
    const bytes = typeof message === "string" ? textEncoder.encode(message) : message;
    if (bytes.length === 0) return;
    const out = new Uint8Array(encodedStreamLength(bytes.length));
    encodeStream(out, 0, RECORD_TYPE.Stderr, request.id, bytes);
    this.#send(out).catch(() => {});
  }

  #sendUnknownType(type: number): void {
    const out = new Uint8Array(16);
    encodeUnknownType(out, 0, type);
    this.#send(out).catch(() => {});
  }

  /** Queues a write after those before it; a failed write closes the connection. */
  #send(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new RequestAbortedError("The connection is closed"));
    const write = this.#writeTail.then(() => writeAll(this.#conn, bytes));
    this.#writeTail = write.catch((error) => {
      this.#close(`write failed: ${error instanceof Error ? error.message : error}`);
    });
    return write;
  }

  #close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.deadline = Infinity;
    if (reason) {
      const peer = this.#conn.remoteAddr;
      const from = "hostname" in peer ? `${peer.hostname}:${peer.port}` : "a Unix socket peer";
      this.#options.log("warn", `FastCGI connection from ${from} closed: ${reason}`);
    }
    for (const request of this.#requests.values()) {
      this.#abortRequest(request, reason || "the connection closed", false);
    }
    this.#pausedOn = null;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

function abortedError(request: FastCgiRequest, cause?: unknown): RequestAbortedError {
  return new RequestAbortedError(`FastCGI request "${request.id}" ended before its response`, {
    protocol: "fastcgi",
    requestId: request.id,
    cause,
  });
}
