// Serves one SCGI connection (one request): the header block, exactly CONTENT_LENGTH body
// bytes streamed to the handler with backpressure, the CGI-style response, then close. A read
// stays pending after the body so a front end that hangs up aborts request.signal.

import { BodyQueue } from "../_body.ts";
import { type GatewayConn, writeAll } from "../_conn.ts";
import { type CgiRequestHead, createRequest, expectsBody, parseCgiVariables } from "../_cgi_env.ts";
import type { ConnectionSlot } from "../_listen.ts";
import { logLimit } from "../_log.ts";
import type { ResolvedOptions } from "../_options.ts";
import {
  callHandler,
  encodeCgiHead,
  encodeLatin1,
  type Exchange,
  pipeBody,
  plainResponse,
  responseHasBody,
  type ResponseSink,
} from "../_respond.ts";
import { decodeText } from "../_text.ts";
import { LimitExceededError, ProtocolError, RequestAbortedError } from "../errors.ts";
import type { GatewayInfo, Handler } from "../types.ts";
import { type ScgiHeaderBlock, ScgiHeaderDecoder } from "./netstring.ts";
import { applyScriptName } from "./_script_name.ts";

/** What every connection of one server shares. */
export interface ScgiContext {
  handler: Handler;
  options: ResolvedOptions;
  /** The `scriptName` option; `undefined` leaves SCRIPT_NAME and PATH_INFO as sent. */
  scriptName: string | undefined;
}

const READ_SIZE = 16384;

/** Starts serving `conn`; the returned slot lets the listener time it out and drain it. */
export function serveScgiConnection(
  conn: GatewayConn,
  overloaded: boolean,
  context: ScgiContext,
): ConnectionSlot {
  return new ScgiConnection(conn, overloaded, context);
}

/** The response head and body chunks, sent in one write per flush. */
class ScgiSink implements ResponseSink {
  #chunks: Uint8Array[] = [];
  #pending = 0;
  #conn: GatewayConn;

  constructor(conn: GatewayConn) {
    this.#conn = conn;
  }

  get pending(): number {
    return this.#pending;
  }

  write(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#pending += chunk.length;
  }

  async flush(): Promise<void> {
    if (this.#pending === 0) return;
    let bytes: Uint8Array;
    if (this.#chunks.length === 1) bytes = this.#chunks[0]!;
    else {
      bytes = new Uint8Array(this.#pending);
      let at = 0;
      for (const chunk of this.#chunks) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
    }
    this.#chunks.length = 0;
    this.#pending = 0;
    await writeAll(this.#conn, bytes);
  }
}

class ScgiConnection implements ConnectionSlot {
  deadline = Infinity;
  deadlineOption = "paramsTimeout";
  deadlineLimit = 0;
  readonly done: Promise<void>;
  #conn: GatewayConn;
  #context: ScgiContext;
  #options: ResolvedOptions;
  #overloaded: boolean;
  #decoder: ScgiHeaderDecoder | null;
  #readBuffer: Uint8Array | null = null;
  #body: BodyQueue | null = null;
  /** The body is at its read-ahead limit: read no more until the handler drains it. */
  #pausedOn: BodyQueue | null = null;
  #exchange: Exchange | null = null;
  /** Body bytes still to read; the body ends at CONTENT_LENGTH. */
  #remaining = 0;
  #leftover = 0;
  #draining = false;
  #closed = false;
  /** The response was fully written: the request is complete. */
  #responded = false;
  /** Aborts `request.signal`. */
  #controller = new AbortController();
  /** Stops writing the response. */
  #stop = new AbortController();
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  /** Resolves once the body has been read to CONTENT_LENGTH (or reading it ended). */
  #bodyRead = Promise.withResolvers<void>();
  #done = Promise.withResolvers<void>();

  constructor(conn: GatewayConn, overloaded: boolean, context: ScgiContext) {
    this.#conn = conn;
    this.#context = context;
    this.#options = context.options;
    this.#overloaded = overloaded;
    this.#decoder = new ScgiHeaderDecoder({
      maxHeaderBytes: this.#options.maxParamsBytes,
      maxHeaderPairs: this.#options.maxParamsPairs,
      initialBufferSize: READ_SIZE,
    });
    this.#deadline(performance.now(), "paramsTimeout", this.#options.paramsTimeout);
    if (overloaded) {
      // The listener does not sweep the connections it serves only to refuse them.
      const limit = this.#options.paramsTimeout;
      this.#watchdog = setTimeout(() => {
        logLimit(this.#options.log, "paramsTimeout", limit, "connection closed");
        this.#close("paramsTimeout exceeded");
      }, limit);
    }
    // Settles when the connection closes, even if a handler never returns (as FastCGI's).
    this.done = this.#done.promise;
    this.#run();
  }

  drain(): void {
    this.#draining = true;
    // Nothing received yet: no request is in flight.
    if (this.#decoder !== null && this.#decoder.buffered === 0) this.#close("");
  }

  abort(reason: string): void {
    this.#close(reason);
  }

  retainedBytes(): number {
    return (this.#decoder?.capacity ?? 0) + (this.#readBuffer?.length ?? 0) +
      (this.#body?.queuedBytes ?? 0);
  }

  async #run(): Promise<void> {
    let reason = "";
    try {
      const block = await this.#readHeader();
      if (block) await this.#serve(block);
    } catch (error) {
      if (!this.#closed) reason = failureReason(error);
    }
    this.#close(reason);
  }

  async #readHeader(): Promise<ScgiHeaderBlock | null> {
    const decoder = this.#decoder!; // set until the header block is decoded
    for (;;) {
      const block = decoder.decode();
      if (block) return block;
      const n = await this.#conn.read(decoder.writable(READ_SIZE));
      if (n === null) {
        if (decoder.buffered === 0) return null;
        throw new ProtocolError("The front end closed the connection inside the header block", {
          protocol: "scgi",
          offset: decoder.buffered,
        });
      }
      decoder.commit(n);
    }
  }

  async #serve(block: ScgiHeaderBlock): Promise<void> {
    const options = this.#options;
    this.deadline = Infinity;
    let fixed: Response | null = null;
    let head: CgiRequestHead | null = null;
    let readBody = true;
    if (this.#overloaded || this.#draining) {
      fixed = plainResponse(503, "Service Unavailable");
      readBody = !this.#overloaded; // overload answers stay cheap
    } else if (block.contentLength > options.maxBodyBytes) {
      logLimit(options.log, "maxBodyBytes", options.maxBodyBytes, "SCGI request answered 413");
      fixed = plainResponse(413, "Content Too Large");
      readBody = false; // never read a body past the limit
    } else {
      try {
        head = parseCgiVariables(block.pairs, "scgi");
        if (this.#context.scriptName !== undefined) {
          applyScriptName(head.env, this.#context.scriptName);
        }
      } catch (error) {
        options.log("warn", `SCGI request answered 400: ${(error as Error).message}`);
        fixed = plainResponse(400, "Bad Request");
      }
    }
    let request: Request | null = null;
    if (head) {
      if (expectsBody(head)) this.#body = new BodyQueue(options.bodyBufferSize);
      try {
        request = createRequest(head, this.#body?.stream ?? null, this.#controller.signal, "scgi");
      } catch (error) {
        options.log("warn", `SCGI request answered 400: ${(error as Error).message}`);
        this.#body?.error(error);
        this.#body = null;
        fixed = plainResponse(400, "Bad Request");
      }
    }
    // The body starts with what came after the header block; the decoder is done.
    this.#remaining = block.contentLength;
    const first = this.#decoder!.remainder; // set until here
    const take = Math.min(first.length, this.#remaining);
    if (take > 0) this.#input(first.slice(0, take));
    if (first.length > take) this.#extra(first.length - take);
    this.#decoder = null;
    if (readBody) this.#readInput().finally(() => this.#bodyRead.resolve());
    else this.#bodyRead.resolve();

    const completion = Promise.withResolvers<void>();
    completion.promise.catch(() => {});
    let response: Response;
    if (fixed || !request || !head) response = fixed ?? plainResponse(500, "Internal Server Error");
    else {
      const remote = this.#conn.remoteAddr;
      const info: GatewayInfo = {
        remoteAddr: head.remoteAddr ??
          ("hostname" in remote
            ? remote as Deno.NetAddr
            : { transport: "tcp", hostname: "", port: 0 }),
        completed: completion.promise,
        env: head.env,
        protocol: "scgi",
        role: "responder",
        data: null,
        writeStderr: (message) => this.#writeStderr(message),
      };
      this.#exchange = {
        request,
        info,
        bodyFailure: undefined,
        abort: (reason) => this.#controller.abort(reason),
      };
      response = await callHandler(this.#context.handler, this.#exchange, options);
    }
    await this.#respond(response, request?.method ?? "GET", completion);
    // The handler is done with its input: drop the rest, but read it to CONTENT_LENGTH so the
    // front end is never cut off mid-write.
    this.#body?.error(
      new RequestAbortedError("The handler finished without the body", { protocol: "scgi" }),
    );
    if (this.#remaining > 0 && !this.#closed) await this.#bodyRead.promise;
  }

  /** Writes the response; resolves or rejects `info.completed`. */
  async #respond(
    response: Response,
    method: string,
    completion: PromiseWithResolvers<void>,
  ): Promise<void> {
    const stop = this.#stop.signal;
    const sink = new ScgiSink(this.#conn);
    try {
      if (stop.aborted) throw stop.reason;
      sink.write(encodeLatin1(encodeCgiHead(response)));
      if (response.body) {
        if (responseHasBody(method, response.status)) await pipeBody(response.body, sink, stop);
        else await response.body.cancel();
      }
      await sink.flush();
      this.#responded = true;
      completion.resolve();
    } catch (error) {
      response.body?.cancel(error).catch(() => {});
      const aborted = error instanceof RequestAbortedError ? error : new RequestAbortedError(
        "SCGI request ended before its response",
        { protocol: "scgi", cause: error },
      );
      completion.reject(aborted);
      this.#close(stop.aborted ? "" : `write failed: ${messageOf(error)}`);
    }
  }

  /** Reads the body to CONTENT_LENGTH, then keeps a read pending to notice a hang-up. */
  async #readInput(): Promise<void> {
    const buffer = this.#readBuffer = new Uint8Array(READ_SIZE);
    const options = this.#options;
    try {
      while (this.#remaining > 0) {
        const paused = this.#pausedOn;
        if (paused) {
          this.deadline = Infinity;
          await paused.drained();
          this.#pausedOn = null;
          if (this.#closed) return;
        }
        this.#deadline(performance.now(), "bodyTimeout", options.bodyTimeout);
        const n = await this.#conn.read(buffer.subarray(0, Math.min(READ_SIZE, this.#remaining)));
        if (n === null) {
          const error = new ProtocolError(
            `Cannot accept request body: the front end closed the connection with ` +
              `"${this.#remaining}" of CONTENT_LENGTH bytes missing`,
            { protocol: "scgi" },
          );
          if (this.#exchange && this.#exchange.bodyFailure === undefined) {
            this.#exchange.bodyFailure = error;
          }
          this.#body?.error(error);
          this.#close(error.message);
          return;
        }
        this.#input(buffer.slice(0, n));
      }
      this.#body?.close();
      this.deadline = Infinity;
      this.#bodyRead.resolve();
      // The front end sends nothing more: bytes are extra, the end of stream is a hang-up.
      for (;;) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        this.#extra(n);
      }
      if (!this.#responded && !this.#closed) {
        options.log("debug", "SCGI front end closed the connection before the response was done");
        this.#close("");
      }
    } catch (error) {
      if (!this.#closed) this.#close(`read failed: ${messageOf(error)}`);
    }
  }

  /** Body bytes (owned) toward CONTENT_LENGTH: to the handler, or dropped. */
  #input(chunk: Uint8Array): void {
    this.#remaining -= chunk.length;
    const body = this.#body;
    if (body && !body.closed && !body.push(chunk)) this.#pausedOn = body;
  }

  #extra(count: number): void {
    if (this.#leftover === 0) {
      this.#options.log(
        "warn",
        `SCGI connection from ${this.#peer()}: ignored "${count}" bytes past CONTENT_LENGTH`,
      );
    }
    this.#leftover += count;
  }

  #writeStderr(message: string | Uint8Array): void {
    const text = typeof message === "string" ? message : decodeText(message, 0, message.length);
    if (text !== "") this.#options.log("warn", `SCGI application: ${text.trimEnd()}`);
  }

  #deadline(from: number, option: string, limit: number): void {
    this.deadline = from + limit;
    this.deadlineOption = option;
    this.deadlineLimit = limit;
  }

  #peer(): string {
    const peer = this.#conn.remoteAddr;
    return "hostname" in peer ? `${peer.hostname}:${peer.port}` : "a Unix socket peer";
  }

  #close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.deadline = Infinity;
    clearTimeout(this.#watchdog);
    if (reason) this.#options.log("warn", `SCGI connection from ${this.#peer()} closed: ${reason}`);
    if (!this.#responded) {
      const error = new RequestAbortedError(
        `SCGI request aborted: ${reason || "the connection closed"}`,
        { protocol: "scgi" },
      );
      this.#controller.abort(error);
      this.#stop.abort(error);
      this.#body?.error(error);
    }
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#done.resolve();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function failureReason(error: unknown): string {
  if (error instanceof LimitExceededError) {
    return `${error.option} (${error.limit}) reached: ${error.message}`;
  }
  if (error instanceof ProtocolError) return error.message;
  return `read failed: ${messageOf(error)}`;
}
