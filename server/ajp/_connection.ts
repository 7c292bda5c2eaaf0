// Serves one AJP 1.3 connection: one request at a time (AJP does not multiplex), kept for the
// next FORWARD_REQUEST after END_RESPONSE with reuse = 1. Reads packets, runs the handler,
// asks for the request body with GET_BODY_CHUNK as the handler consumes it, answers CPING,
// ignores SHUTDOWN, and reports timeouts to the listener's sweeper. Modeled on the AJPv13
// spec and on what Tomcat's AjpProcessor does with mod_proxy_ajp and mod_jk.

import { BodyQueue } from "../_body.ts";
import { type GatewayConn, writeAll } from "../_conn.ts";
import { type CgiRequestHead, createRequest, expectsBody, parseCgiVariables } from "../_cgi_env.ts";
import type { ConnectionSlot } from "../_listen.ts";
import { logLimit } from "../_log.ts";
import type { ResolvedOptions } from "../_options.ts";
import {
  callHandler,
  describe,
  type Exchange,
  pipeBody,
  plainResponse,
  reasonPhrase,
  responseHasBody,
} from "../_respond.ts";
import { textEncoder } from "../_text.ts";
import { LimitExceededError, ProtocolError, RequestAbortedError } from "../errors.ts";
import type { GatewayInfo, Handler } from "../types.ts";
import { BODY_CHUNK_OVERHEAD, KNOWN_REQUEST_ATTRIBUTES, PREFIX_CODE } from "./constants.ts";
import {
  decodeForwardRequest,
  decodeRequestBodyChunk,
  type ForwardRequest,
} from "./forward_request.ts";
import { PacketDecoder } from "./packet.ts";
import {
  encodeCpong,
  encodeGetBodyChunk,
  encodeSendHeaders,
  sendHeadersLength,
} from "./response.ts";
import { type AjpRequest, AjpSink, BODY_MODE } from "./_request.ts";

/** What every connection of one server shares. */
export interface AjpContext {
  handler: Handler;
  options: ResolvedOptions;
  /** The shared secret as UTF-8 bytes; `null`: none required. */
  secret: Uint8Array | null;
  /** req_attribute names allowed beyond the known ones. */
  allowedRequestAttributesPattern: RegExp | null;
  /** The packet size, header included. */
  packetSize: number;
  /** Set when the server must not serve (fd 0 bound where a secret is required). */
  blocked?: boolean;
}

const READ_SIZE = 16384;
/** The most body bytes asked of lighttpd with one GET_BODY_CHUNK (see #askForBody); lighttpd
 * 1.4.69 sends nothing at all for a length of 65000 or more. */
const RAW_BODY_REQUEST = 32768;

const KNOWN_ATTRIBUTES = new Set(KNOWN_REQUEST_ATTRIBUTES);
/** Known req_attributes that also have a CGI name. */
const ATTRIBUTE_CGI_NAMES: Record<string, string> = {
  AJP_REMOTE_PORT: "REMOTE_PORT",
  AJP_LOCAL_ADDR: "SERVER_ADDR",
  AJP_SSL_PROTOCOL: "SSL_PROTOCOL",
};

/** Starts serving `conn`; the returned slot lets the listener time it out and drain it. */
export function serveAjpConnection(
  conn: GatewayConn,
  overloaded: boolean,
  context: AjpContext,
): ConnectionSlot {
  return new AjpConnection(conn, overloaded, context);
}

class AjpConnection implements ConnectionSlot {
  deadline = Infinity;
  deadlineOption = "paramsTimeout";
  deadlineLimit = 0;
  readonly done: Promise<void>;
  #conn: GatewayConn;
  #context: AjpContext;
  #options: ResolvedOptions;
  #overloaded: boolean;
  #decoder: PacketDecoder;
  #request: AjpRequest | null = null;
  #writeTail: Promise<void> = Promise.resolve();
  #idleSince = performance.now();
  #idleOption = "paramsTimeout";
  #partialSince: number | null = null;
  /** lighttpd's mod_ajp13 sends body packets without the 2-byte chunk length; see #bodyData. */
  #rawBodies: boolean | null = null;
  #draining = false;
  #closed = false;

  constructor(conn: GatewayConn, overloaded: boolean, context: AjpContext) {
    this.#conn = conn;
    this.#context = context;
    this.#options = context.options;
    this.#overloaded = overloaded;
    this.#decoder = new PacketDecoder({ packetSize: context.packetSize });
    this.done = this.#run();
  }

  drain(): void {
    this.#draining = true;
    if (this.#request === null) this.#close("");
  }

  abort(reason: string): void {
    this.#close(reason);
  }

  retainedBytes(): number {
    return this.#decoder.capacity + (this.#request?.body?.queuedBytes ?? 0);
  }

  async #run(): Promise<void> {
    let reason = "";
    try {
      if (this.#context.blocked) {
        this.#close("");
        return;
      }
      while (!this.#closed) {
        while (!this.#closed && this.#decoder.next()) this.#onPacket(this.#decoder.payload);
        if (this.#closed) break;
        if (this.#decoder.buffered === 0) this.#partialSince = null;
        else this.#partialSince ??= performance.now();
        this.#setDeadline();
        const n = await this.#conn.read(this.#decoder.writable(READ_SIZE));
        if (n === null) {
          if (this.#request) reason = "the front end closed the connection mid-request";
          else if (this.#decoder.buffered > 0) {
            reason = "the front end closed the connection mid-packet";
          }
          break;
        }
        this.#decoder.commit(n);
      }
    } catch (error) {
      if (!this.#closed) {
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
    const request = this.#request;
    if (request) {
      if (request.awaiting) {
        this.#deadline(request.awaitingSince, "bodyTimeout", this.#options.bodyTimeout);
      } else this.deadline = Infinity; // the handler runs, or the response is being written
      return;
    }
    if (this.#partialSince !== null) {
      this.#deadline(this.#partialSince, "paramsTimeout", this.#options.paramsTimeout);
    } else if (this.#idleOption === "paramsTimeout") {
      this.#deadline(this.#idleSince, "paramsTimeout", this.#options.paramsTimeout);
    } else this.#deadline(this.#idleSince, "keepAliveTimeout", this.#options.keepAliveTimeout);
  }

  #deadline(from: number, option: string, limit: number): void {
    this.deadline = from + limit;
    this.deadlineOption = option;
    this.deadlineLimit = limit;
  }

  #onPacket(payload: Uint8Array): void {
    const request = this.#request;
    // lighttpd's mod_ajp13 follows every FORWARD_REQUEST without a body with an empty packet
    // (12 34 00 00), unasked. An empty packet carries no command: it is dropped.
    if (payload.length === 0 && !request?.awaiting) return;
    if (request) {
      if (!request.awaiting) {
        throw new ProtocolError("Cannot accept an AJP packet the container did not ask for", {
          protocol: "ajp",
          offset: this.#decoder.offset,
        });
      }
      return this.#onBodyChunk(request, this.#bodyData(request, payload));
    }
    const prefix = payload[0];
    switch (prefix) {
      case PREFIX_CODE.ForwardRequest:
        return this.#begin(payload);
      case PREFIX_CODE.CPing: {
        const out = new Uint8Array(5);
        encodeCpong(out, 0);
        this.#send(out).catch(() => {});
        this.#idleSince = performance.now();
        this.#idleOption = "keepAliveTimeout";
        return;
      }
      case PREFIX_CODE.Shutdown:
        // Tomcat stopped honouring SHUTDOWN from the network long ago; so do we.
        this.#options.log("info", "AJP SHUTDOWN from the front end ignored");
        return;
      default:
        throw new ProtocolError(
          `Cannot accept AJP packet with prefix code "${prefix ?? "none"}" between requests`,
          { protocol: "ajp", offset: this.#decoder.offset },
        );
    }
  }

  #begin(payload: Uint8Array): void {
    const options = this.#options;
    const log = options.log;
    let forward: ForwardRequest | null = null;
    let refusal: Response | null = null;
    if (payload.length > options.maxParamsBytes) {
      logLimit(log, "maxParamsBytes", options.maxParamsBytes, "AJP request answered 431");
      refusal = plainResponse(431, "Request Header Fields Too Large");
    } else {
      try {
        forward = decodeForwardRequest(payload, { maxHeaders: options.maxParamsPairs });
      } catch (error) {
        if (!(error instanceof LimitExceededError)) throw error;
        logLimit(log, error.option, error.limit, "AJP request answered 431");
        refusal = plainResponse(431, "Request Header Fields Too Large");
      }
    }
    // The framing of the body comes from the headers as sent, before any other check, so that
    // even a refused request has its first body packet read off the connection.
    let bodyMode: number = BODY_MODE.None;
    let contentLength: number | null = null;
    if (forward) {
      let lengthText: string | null = null;
      let chunked = false;
      for (const [name, value] of forward.headers) {
        const lower = name.length === 14 || name.length === 17 ? name.toLowerCase() : "";
        if (lower === "content-length") lengthText = lengthText === null ? value : "";
        else if (lower === "transfer-encoding") chunked = true;
      }
      if (lengthText !== null) {
        if (/^\d{1,15}$/.test(lengthText)) {
          contentLength = Number(lengthText);
          if (contentLength > 0) bodyMode = BODY_MODE.Length;
        } else {
          refusal ??= this.#refuse(400, `Content-Length is "${lengthText}"`);
          forward = null;
        }
      } else if (chunked) bodyMode = BODY_MODE.Chunked;
    }
    const request: AjpRequest = {
      method: forward?.method ?? "GET",
      sentAttributes: (forward?.attributes.requestAttributes.length ?? 0) > 0,
      bodyMode,
      contentLength,
      body: null,
      received: 0,
      inputDone: bodyMode === BODY_MODE.None,
      awaiting: bodyMode === BODY_MODE.Length,
      awaitingBytes: 0,
      awaitingSince: performance.now(),
      closeAfter: refusal !== null || this.#overloaded || this.#draining,
      exchange: null,
      controller: new AbortController(),
      stop: new AbortController(),
      ended: false,
      settled: null,
    };
    this.#request = request;
    if (!refusal && forward) refusal = this.#check(forward);
    if (!refusal && (this.#overloaded || this.#draining)) {
      refusal = plainResponse(503, "Service Unavailable");
    }
    if (refusal || !forward) {
      request.closeAfter = true;
      this.#serve(request, null, refusal ?? plainResponse(400, "Bad Request"));
      return;
    }
    this.#start(request, forward);
  }

  /** The Ghostcat lessons: the secret, and no request attribute the app did not allow. */
  #check(forward: ForwardRequest): Response | null {
    const { secret, allowedRequestAttributesPattern: pattern } = this.#context;
    if (secret) {
      const sent = forward.attributes.secret;
      if (sent === null) return this.#refuse(403, "secret: the request carries no secret");
      if (!sameBytes(textEncoder.encode(sent), secret)) {
        return this.#refuse(403, "secret: the request carries a wrong secret");
      }
    }
    for (const [name] of forward.attributes.requestAttributes) {
      if (KNOWN_ATTRIBUTES.has(name)) continue;
      if (pattern) {
        pattern.lastIndex = 0;
        if (pattern.test(name)) continue;
      }
      return this.#refuse(
        403,
        `allowedRequestAttributesPattern: the request carries unknown attribute "${name}"`,
      );
    }
    return null;
  }

  #refuse(status: number, why: string): Response {
    const peer = this.#conn.remoteAddr;
    const from = "hostname" in peer ? `${peer.hostname}:${peer.port}` : "a Unix socket peer";
    this.#options.log("warn", `AJP request from ${from} answered ${status}: ${why}`);
    return plainResponse(status, reasonPhrase(status));
  }

  #start(request: AjpRequest, forward: ForwardRequest): void {
    let head: CgiRequestHead;
    let httpRequest: Request;
    try {
      head = parseCgiVariables(cgiPairs(forward), "ajp", forward.isSsl ? "https" : "http");
      // req_attribute names as they are, never over a CGI variable.
      for (const [name, value] of forward.attributes.requestAttributes) {
        if (!(name in head.env)) head.env[name] = value;
      }
      if (request.bodyMode !== BODY_MODE.None && expectsBody(head)) {
        request.body = new BodyQueue(this.#options.bodyBufferSize);
      }
      httpRequest = createRequest(
        head,
        request.body?.stream ?? null,
        request.controller.signal,
        "ajp",
      );
    } catch (error) {
      this.#options.log("warn", `AJP request answered 400: ${(error as Error).message}`);
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
      protocol: "ajp",
      role: "responder",
      data: null,
      writeStderr: (message) => {
        const text = typeof message === "string" ? message : new TextDecoder().decode(message);
        if (text) this.#options.log("warn", `AJP request stderr: ${text.trimEnd()}`);
      },
    };
    request.exchange = {
      request: httpRequest,
      info,
      bodyFailure: undefined,
      abort: (reason) => request.controller.abort(reason),
    } satisfies Exchange;
    // Transfer-Encoding: the container asks for the first chunk (Tomcat does so on first read;
    // the bounded read-ahead here asks at once).
    if (request.bodyMode === BODY_MODE.Chunked && request.body) this.#askForBody(request);
    this.#serve(request, { resolve: resolveCompleted, reject: rejectCompleted }, null);
  }

  /**
   * The data of a request body packet. The spec (and mod_proxy_ajp, mod_jk) put a 2-byte chunk
   * length before the data; lighttpd 1.4's mod_ajp13 sends the data right after the packet
   * header. Which one a connection speaks is settled by its first body packet and kept: a
   * front end that sends req_attributes (mod_proxy_ajp always sends AJP_REMOTE_PORT) follows
   * the spec; otherwise a chunk length that does not match the packet, or a packet exactly as
   * long as the rest of Content-Length, means raw data.
   */
  #bodyData(request: AjpRequest, payload: Uint8Array): Uint8Array {
    if (payload.length === 0) return payload;
    if (this.#rawBodies === null) {
      if (request.sentAttributes) this.#rawBodies = false;
      else if (payload.length < 2) this.#rawBodies = true;
      else if (((payload[0]! << 8) | payload[1]!) !== payload.length - 2) this.#rawBodies = true;
      else {
        const expected = request.contentLength;
        this.#rawBodies = expected !== null && payload.length === expected - request.received;
      }
    }
    return this.#rawBodies ? payload : decodeRequestBodyChunk(payload);
  }

  #askForBody(request: AjpRequest): void {
    if (request.awaiting || request.inputDone || request.ended || this.#closed) return;
    const body = request.body;
    if (!body || body.closed) return;
    let length = this.#context.packetSize - BODY_CHUNK_OVERHEAD;
    request.awaitingBytes = 0;
    if (this.#rawBodies === true && request.contentLength !== null) {
      // lighttpd answers one GET_BODY_CHUNK with as many packets as the length allows. One
      // packet per round trip costs a delayed ACK each (lighttpd writes header and data
      // apart), so ask for what the queue has room for, and count the bytes in.
      const room = this.#options.bodyBufferSize - body.queuedBytes;
      const rest = request.contentLength - request.received;
      length = Math.max(1, Math.min(room, rest, RAW_BODY_REQUEST));
      request.awaitingBytes = length;
    }
    request.awaiting = true;
    request.awaitingSince = performance.now();
    const out = new Uint8Array(7);
    encodeGetBodyChunk(out, 0, length);
    this.#send(out).catch(() => {});
    this.#setDeadline();
  }

  #onBodyChunk(request: AjpRequest, data: Uint8Array): void {
    const settled = request.settled;
    if (request.awaitingBytes > data.length && data.length > 0) {
      request.awaitingBytes -= data.length;
      request.awaitingSince = performance.now();
    } else {
      request.awaitingBytes = 0;
      request.awaiting = false;
    }
    if (!request.awaiting) request.settled = null;
    const body = request.body;
    const expected = request.contentLength;
    if (data.length === 0) {
      request.inputDone = true;
      if (expected !== null && request.received !== expected && body && !body.closed) {
        this.#failBody(
          request,
          new ProtocolError(
            `Cannot accept request body: Content-Length is "${expected}" but ` +
              `"${request.received}" bytes arrived`,
            { protocol: "ajp" },
          ),
        );
      }
      body?.close();
      if (!request.awaiting) settled?.();
      return;
    }
    request.received += data.length;
    const max = this.#options.maxBodyBytes;
    if (request.received > max && body && !body.closed) {
      logLimit(this.#options.log, "maxBodyBytes", max, "AJP request body refused");
      this.#failBody(
        request,
        new LimitExceededError(`Cannot accept request body: more than "${max}" bytes`, {
          option: "maxBodyBytes",
          limit: max,
          protocol: "ajp",
        }),
      );
    }
    if (expected !== null && request.received > expected && body && !body.closed) {
      this.#failBody(
        request,
        new ProtocolError(
          `Cannot accept request body: more than Content-Length "${expected}" bytes arrived`,
          { protocol: "ajp" },
        ),
      );
    }
    let room = true;
    if (body && !body.closed) room = body.push(data.slice());
    if (expected !== null && request.received >= expected) {
      request.inputDone = true;
      body?.close();
    }
    if (request.awaiting) return;
    settled?.();
    if (request.inputDone || !body || body.closed) return;
    if (room) this.#askForBody(request);
    else body.drained().then(() => this.#askForBody(request));
  }

  #failBody(request: AjpRequest, error: Error): void {
    if (request.exchange && request.exchange.bodyFailure === undefined) {
      request.exchange.bodyFailure = error;
    }
    request.body?.error(error);
  }

  /** Runs the handler (or sends `fixed`), writes the response, then END_RESPONSE. */
  async #serve(
    request: AjpRequest,
    completion: { resolve: () => void; reject: (error: unknown) => void } | null,
    fixed: Response | null,
  ): Promise<void> {
    const exchange = request.exchange;
    let response: Response;
    if (fixed || !exchange) response = fixed ?? plainResponse(500, "Internal Server Error");
    else response = await callHandler(this.#context.handler, exchange, this.#options);
    const packetSize = this.#context.packetSize;
    const sink = new AjpSink(
      packetSize,
      (bytes) => request.ended ? Promise.resolve() : this.#send(bytes),
    );
    let bodyFailed: unknown = undefined;
    try {
      if (request.ended) throw abortedError();
      let headers = [...response.headers];
      let status = response.status;
      let reason = reasonPhrase(status, response.statusText);
      if (sendHeadersLength(status, reason, headers) > packetSize) {
        logLimit(this.#options.log, "packetSize", packetSize, "response headers answered 500");
        response.body?.cancel().catch(() => {});
        response = plainResponse(500, "Internal Server Error");
        headers = [...response.headers];
        status = 500;
        reason = reasonPhrase(500);
      }
      const head = new Uint8Array(sendHeadersLength(status, reason, headers));
      encodeSendHeaders(head, 0, status, reason, headers);
      sink.head(head);
      if (response.body) {
        if (responseHasBody(request.method, status)) {
          try {
            await pipeBody(response.body, sink, request.stop.signal);
          } catch (error) {
            if (request.stop.signal.aborted) throw error;
            bodyFailed = error;
            throw error;
          }
        } else await response.body.cancel();
      }
      // The handler is done with its input: ask for no more, but take in the packet that is
      // on its way so the next FORWARD_REQUEST is read as one (Tomcat swallows it the same way).
      if (request.body && !request.body.closed) {
        request.body.error(
          new RequestAbortedError("The handler finished without the body", { protocol: "ajp" }),
        );
      }
      if (request.awaiting) {
        await sink.flush();
        await new Promise<void>((resolve) => request.settled = resolve);
      }
      if (request.ended) throw abortedError();
      const reuse = !request.closeAfter && !this.#draining;
      // The connection is idle before END_RESPONSE reaches the front end, which may send the
      // next FORWARD_REQUEST at once.
      this.#request = null;
      this.#idleSince = performance.now();
      this.#idleOption = "keepAliveTimeout";
      const finishing = sink.finish(reuse);
      request.ended = true;
      await finishing;
      completion?.resolve();
      if (!reuse) this.#writeTail.then(() => this.#close(""));
    } catch (error) {
      response.body?.cancel(error).catch(() => {});
      completion?.reject(error instanceof RequestAbortedError ? error : abortedError(error));
      if (bodyFailed !== undefined) {
        // A truncated response must not look complete: close instead of END_RESPONSE.
        this.#close(`the response body failed: ${describe(bodyFailed).split("\n")[0]}`);
      } else if (!this.#closed && this.#request === request) {
        this.#close(`the response could not be written: ${describe(error).split("\n")[0]}`);
      }
    } finally {
      if (this.#request === request) this.#request = null;
      if (!this.#closed) {
        if (this.#draining) this.#writeTail.then(() => this.#close(""));
        else this.#setDeadline();
      }
    }
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
      this.#options.log("warn", `AJP connection from ${from} closed: ${reason}`);
    }
    const request = this.#request;
    if (request && !request.ended) {
      const error = new RequestAbortedError(
        `AJP request aborted: ${reason || "the connection closed"}`,
        { protocol: "ajp" },
      );
      request.controller.abort(error);
      request.stop.abort(error);
      request.body?.error(error);
      request.ended = true;
      const settled = request.settled;
      request.settled = null;
      settled?.();
    }
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

function abortedError(cause?: unknown): RequestAbortedError {
  return new RequestAbortedError("AJP request ended before its response", {
    protocol: "ajp",
    cause,
  });
}

/** Compares two byte strings in time that depends only on their lengths. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** FORWARD_REQUEST as CGI variables: the request line, attributes and HTTP_* headers. */
function cgiPairs(forward: ForwardRequest): string[] {
  const attributes = forward.attributes;
  let path = forward.requestUri;
  // req_uri is a path: a "?" or "#" in it is data, not the start of a query or fragment.
  if (path.includes("?") || path.includes("#")) {
    path = path.replaceAll("?", "%3F").replaceAll("#", "%23");
  }
  const query = attributes.queryString;
  const pairs = [
    "REQUEST_METHOD",
    forward.method,
    "REQUEST_URI",
    query ? `${path}?${query}` : path,
    "QUERY_STRING",
    query ?? "",
    "SERVER_PROTOCOL",
    forward.protocol,
    "REQUEST_SCHEME",
    forward.isSsl ? "https" : "http",
    "REMOTE_ADDR",
    forward.remoteAddr,
    "SERVER_NAME",
    forward.serverName,
    "SERVER_PORT",
    String(forward.serverPort),
  ];
  if (forward.remoteHost !== null) pairs.push("REMOTE_HOST", forward.remoteHost);
  if (forward.isSsl) pairs.push("HTTPS", "on");
  if (attributes.remoteUser !== null) pairs.push("REMOTE_USER", attributes.remoteUser);
  if (attributes.authType !== null) pairs.push("AUTH_TYPE", attributes.authType);
  if (attributes.sslCert !== null) pairs.push("SSL_CLIENT_CERT", attributes.sslCert);
  if (attributes.sslCipher !== null) pairs.push("SSL_CIPHER", attributes.sslCipher);
  if (attributes.sslSession !== null) pairs.push("SSL_SESSION_ID", attributes.sslSession);
  if (attributes.sslKeySize !== null) {
    pairs.push("SSL_CIPHER_USEKEYSIZE", String(attributes.sslKeySize));
  }
  if (attributes.route !== null) pairs.push("AJP_ROUTE", attributes.route);
  for (const [name, value] of attributes.requestAttributes) {
    const cgiName = ATTRIBUTE_CGI_NAMES[name];
    if (cgiName !== undefined) pairs.push(cgiName, value);
  }
  for (const [name, value] of forward.headers) {
    const lower = name.toLowerCase();
    if (lower === "content-type") pairs.push("CONTENT_TYPE", value);
    else if (lower === "content-length") pairs.push("CONTENT_LENGTH", value);
    else pairs.push(`HTTP_${name.toUpperCase().replaceAll("-", "_")}`, value);
  }
  return pairs;
}
