/**
 * The CGI gateway (RFC 3875): the process is one request. The environment and standard input
 * make the `Request`; the `Status:` line, the headers and the body go to standard output.
 *
 * @example Serve one request as a CGI script
 * ```ts ignore
 * import { serveCgi } from "@flup/flup/cgi";
 *
 * await serveCgi((request) => new Response(`Hello from ${new URL(request.url).pathname}`));
 * ```
 *
 * @module
 */

import { BodyQueue } from "../_body.ts";
import { createRequest, expectsBody, parseCgiVariables } from "../_cgi_env.ts";
import { stdinIsSocket } from "../_listen.ts";
import { logLimit } from "../_log.ts";
import { type ResolvedOptions, resolveOptions } from "../_options.ts";
import {
  callHandler,
  describe,
  encodeCgiHead,
  encodeLatin1,
  type Exchange,
  pipeBody,
  plainResponse,
  responseHasBody,
} from "../_respond.ts";
import { utf8Length } from "../_text.ts";
import { LimitExceededError, ProtocolError, RequestAbortedError } from "../errors.ts";
import type { GatewayInfo, GatewayOptions, Handler, LogLevel, ServeModule } from "../types.ts";
import { StdioWriter, StdoutSink } from "./_stdio.ts";

/**
 * Options of {@linkcode serveCgi}: the gateway limits, timeouts and hooks that apply to one
 * request, and the process's stdio and environment (replaceable for tests and embedding).
 *
 * Listening options, `maxConnections`, `paramsTimeout`, `keepAliveTimeout`, `drainTimeout`
 * and `allowedAddresses` do not apply (the web server owns the connection) and are ignored.
 */
export interface CgiServeOptions extends
  Pick<
    GatewayOptions,
    | "signal"
    | "onError"
    | "log"
    | "debug"
    | "maxParamsBytes"
    | "maxParamsPairs"
    | "maxBodyBytes"
    | "bodyBufferSize"
    | "bodyTimeout"
    | "handlerTimeout"
  > {
  /**
   * The CGI meta-variables. Every variable counts against `maxParamsBytes` and
   * `maxParamsPairs`, and all of them reach `info.env`.
   *
   * @default {Deno.env.toObject()}
   */
  env?: Readonly<Record<string, string>>;
  /**
   * The request body: read only when the request has one, never past `CONTENT_LENGTH`.
   *
   * @default {Deno.stdin.readable}
   */
  stdin?: ReadableStream<Uint8Array>;
  /**
   * Where the response goes. It is not closed: the response ends when the process exits.
   *
   * @default {Deno.stdout.writable}
   */
  stdout?: WritableStream<Uint8Array>;
  /**
   * The web server's error log: `info.writeStderr` and the default log write here.
   *
   * @default {Deno.stderr.writable}
   */
  stderr?: WritableStream<Uint8Array>;
}

/** The `FCGI_FORCE_CGI` values that force CGI mode. */
const FORCE_VALUES = new Set(["Y", "y", "1"]);

/**
 * Tells whether a FastCGI program was started as a CGI script: `true` when standard input is
 * not a socket (a FastCGI front end hands its listening socket over on fd 0; a CGI server gives
 * a pipe or `/dev/null`), or when the environment variable `FCGI_FORCE_CGI` is `Y`, `y` or `1`.
 * The variable is read only when that env permission is already granted
 * (`--allow-env=FCGI_FORCE_CGI`), so this never prompts.
 *
 * This is what lets one `.fcgi` script run under both kinds of hosting, as flup did.
 *
 * @returns `true` to serve this process's one request with {@linkcode serveCgi}.
 *
 * @example Pick the gateway at start
 * ```ts
 * import { shouldServeCgi } from "@flup/flup/cgi";
 * import { assertEquals } from "@std/assert";
 *
 * // Under `deno test` standard input is not a listening socket.
 * assertEquals(shouldServeCgi(), true);
 * ```
 */
export function shouldServeCgi(): boolean {
  if (!stdinIsSocket()) return true;
  const descriptor = { name: "env", variable: "FCGI_FORCE_CGI" } as const;
  if (Deno.permissions.querySync(descriptor).state !== "granted") return false;
  return FORCE_VALUES.has(Deno.env.get("FCGI_FORCE_CGI") ?? "");
}

/**
 * Serves the one request of a CGI process (RFC 3875) with `handler`, then resolves.
 *
 * The environment's meta-variables make the `Request` (`REQUEST_URI`, else `SCRIPT_NAME` +
 * `PATH_INFO` + `QUERY_STRING`; `HTTP_*` as headers, `HTTP_PROXY` dropped); standard input is
 * the body, streamed with backpressure and read to exactly `CONTENT_LENGTH` bytes (fewer is a
 * 400; without `CONTENT_LENGTH`, as Apache sends a chunked upload, up to end of input).
 * Standard output gets the `Status:` line, every header (each `Set-Cookie` on its own line)
 * and the body chunk by chunk as the handler produces it; nothing after the head for HEAD,
 * 204 and 304. A throwing handler gives a generic 500, its details going to standard error,
 * which the web server logs. The command line (`Deno.args`) is never read.
 *
 * `request.signal` aborts when writing to standard output fails (the web server closed it
 * because the client went away); this is best effort, as many web servers only notice a gone
 * client when they write to it, or just kill the script.
 *
 * The returned promise resolves once the response is written and the input is read to its end.
 * It does not close standard output or exit: the web server sees the end of the response when
 * the process exits, so an app that may leave timers running should call `Deno.exit()` then.
 *
 * Permissions: `--allow-env` (the whole environment is read with `Deno.env.toObject()`), plus
 * whatever the app itself needs. Reading stdin and writing stdout need none.
 *
 * @param handler A Fetch handler, or a module in the `export default { fetch }` shape.
 * @param options Limits, timeouts, hooks, and replacement stdio and environment.
 * @returns Resolves when the request is served; never rejects for a request or handler error.
 *
 * @example Serve a request from given variables and body
 * ```ts
 * import { serveCgi } from "@flup/flup/cgi";
 * import { assertEquals } from "@std/assert";
 *
 * let text = "";
 * await serveCgi(async (request) => new Response(`got ${await request.text()}`), {
 *   env: { REQUEST_METHOD: "POST", REQUEST_URI: "/hi", HTTP_HOST: "a.test", CONTENT_LENGTH: "2" },
 *   stdin: ReadableStream.from([new TextEncoder().encode("ok")]),
 *   stdout: new WritableStream({ write: (chunk) => void (text += new TextDecoder().decode(chunk)) }),
 * });
 * assertEquals(text.startsWith("Status: 200 OK\r\n"), true);
 * assertEquals(text.endsWith("\r\n\r\ngot ok"), true);
 * ```
 */
export async function serveCgi(
  handler: Handler | ServeModule,
  options: CgiServeOptions = {},
): Promise<void> {
  const fetch = typeof handler === "function" ? handler : handler.fetch.bind(handler);
  if (typeof fetch !== "function") throw new TypeError("Cannot serve: handler is not a function");
  const stderr = new StdioWriter(options.stderr ?? Deno.stderr.writable);
  const log = options.log ?? ((level: LogLevel, message: string): void => {
    if (level === "warn" || level === "error") stderr.write(`flup ${level}: ${message}\n`);
  });
  const stdoutStream = options.stdout ?? Deno.stdout.writable;
  let resolved: ResolvedOptions;
  try {
    resolved = resolveOptions({ ...pickGatewayOptions(options), log });
  } catch (error) {
    await stderr.release();
    throw error;
  }
  if (resolved.debug) log("warn", "debug is on: error details are sent to clients");
  const stdout = new StdoutSink(stdoutStream);
  try {
    await new CgiRequest(fetch, options, resolved, stdout, stderr).serve();
  } finally {
    stdout.release();
    await stderr.release();
  }
}

function pickGatewayOptions(options: CgiServeOptions): GatewayOptions {
  const { env: _env, stdin: _stdin, stdout: _stdout, stderr: _stderr, ...rest } = options;
  return rest;
}

/** The state of the process's one request. */
class CgiRequest {
  #handler: Handler;
  #options: CgiServeOptions;
  #resolved: ResolvedOptions;
  #stdout: StdoutSink;
  #stderr: StdioWriter;
  #controller = new AbortController();
  #stop = new AbortController();
  #body: BodyQueue | null = null;
  #exchange: Exchange | null = null;
  #timeoutError: RequestAbortedError | null = null;

  constructor(
    handler: Handler,
    options: CgiServeOptions,
    resolved: ResolvedOptions,
    stdout: StdoutSink,
    stderr: StdioWriter,
  ) {
    this.#handler = handler;
    this.#options = options;
    this.#resolved = resolved;
    this.#stdout = stdout;
    this.#stderr = stderr;
  }

  async serve(): Promise<void> {
    const log = this.#resolved.log;
    let env: Readonly<Record<string, string>>;
    try {
      env = this.#options.env ?? Deno.env.toObject();
    } catch (error) {
      log("error", `Cannot read the CGI environment (run with --allow-env): ${describe(error)}`);
      await this.#write(plainResponse(500, "Internal Server Error"), "GET", null);
      return;
    }
    const pairs = this.#pairs(env);
    if (pairs === null) {
      await this.#write(plainResponse(431, "Request Header Fields Too Large"), "GET", null);
      return;
    }
    let head;
    try {
      head = parseCgiVariables(pairs, "cgi");
    } catch (error) {
      log("warn", `CGI request answered 400: ${(error as Error).message}`);
      await this.#write(plainResponse(400, "Bad Request"), "GET", null);
      return;
    }
    if (expectsBody(head)) this.#body = new BodyQueue(this.#resolved.bodyBufferSize);
    let request: Request;
    try {
      request = createRequest(head, this.#body?.stream ?? null, this.#controller.signal, "cgi");
    } catch (error) {
      log("warn", `CGI request answered 400: ${(error as Error).message}`);
      this.#body?.error(error);
      this.#body = null;
      await this.#write(plainResponse(400, "Bad Request"), "GET", null);
      return;
    }
    const completed = Promise.withResolvers<void>();
    completed.promise.catch(() => {});
    const info: GatewayInfo = {
      remoteAddr: head.remoteAddr ?? { transport: "tcp", hostname: "", port: 0 },
      completed: completed.promise,
      env: head.env,
      protocol: "cgi",
      role: "responder",
      data: null,
      writeStderr: (message) => this.#stderr.write(message),
    };
    const exchange: Exchange = {
      request,
      info,
      bodyFailure: undefined,
      abort: (reason) => this.#controller.abort(reason),
    };
    this.#exchange = exchange;
    // Read the input whenever the web server has some to write (Apache writes all of it before
    // it reads the output), even if the handler never looks at it.
    const readsInput = this.#body !== null || (head.contentLength ?? 0) > 0;
    const input = readsInput ? this.#readInput(head.contentLength) : Promise.resolve();
    const signal = this.#options.signal;
    const onAbort = (): void => {
      this.#abort(
        new RequestAbortedError("CGI request aborted by the server's signal", {
          protocol: "cgi",
          cause: signal?.reason,
        }),
      );
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    try {
      const response = await callHandler(this.#bodyTimeoutAware(), exchange, this.#resolved);
      // A handler that returned without touching the body will not read it: let it go, so
      // the input is discarded as it arrives rather than held against backpressure.
      if (this.#body && !request.bodyUsed && !request.body?.locked) {
        await request.body?.cancel().catch(() => {});
      }
      const error = await this.#write(response, request.method, this.#body);
      if (error === null) completed.resolve();
      else completed.reject(error);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      await input;
    }
  }

  /** The variables as flat pairs, or `null` past `maxParamsPairs` / `maxParamsBytes`. */
  #pairs(env: Readonly<Record<string, string>>): string[] | null {
    const { maxParamsBytes, maxParamsPairs, log } = this.#resolved;
    const pairs: string[] = [];
    let bytes = 0;
    for (const name in env) {
      const value = env[name]!;
      bytes += utf8Length(name) + utf8Length(value);
      pairs.push(name, value);
      if (pairs.length / 2 > maxParamsPairs) {
        logLimit(log, "maxParamsPairs", maxParamsPairs, "CGI request answered 431");
        return null;
      }
      if (bytes > maxParamsBytes) {
        logLimit(log, "maxParamsBytes", maxParamsBytes, "CGI request answered 431");
        return null;
      }
    }
    return pairs;
  }

  /** The handler, answering 408 when it failed because the body timed out. */
  #bodyTimeoutAware(): Handler {
    return async (request, info) => {
      try {
        return await this.#handler(request, info);
      } catch (error) {
        const timeout = this.#timeoutError;
        if (timeout !== null && (error === timeout || (error as Error)?.cause === timeout)) {
          return plainResponse(408, "Request Timeout");
        }
        throw error;
      }
    };
  }

  /**
   * Reads standard input to `CONTENT_LENGTH` (or its end when there is none) into the body,
   * waiting while the handler is behind; once the body is closed the rest is discarded.
   */
  async #readInput(expected: number | null): Promise<void> {
    const { bodyTimeout, maxBodyBytes, log } = this.#resolved;
    const body = this.#body;
    if (expected !== null && expected > maxBodyBytes) this.#bodyTooLarge(maxBodyBytes);
    const reader = (this.#options.stdin ?? Deno.stdin.readable).getReader();
    let received = 0;
    let finished = false;
    try {
      while (expected === null || received < expected) {
        const result = await readWithin(reader, bodyTimeout);
        if (result === null) {
          logLimit(log, "bodyTimeout", bodyTimeout, "CGI request body abandoned");
          const error = new RequestAbortedError(
            `Cannot read request body: idle for "${bodyTimeout}" ms`,
            { protocol: "cgi", cause: new DOMException("Body timed out", "TimeoutError") },
          );
          this.#timeoutError = error;
          this.#failBody(error);
          return;
        }
        if (result.done) {
          finished = true;
          break;
        }
        let chunk = result.value;
        // RFC 3875 section 4.2: the script must not read past CONTENT_LENGTH.
        if (expected !== null && received + chunk.length > expected) {
          chunk = chunk.subarray(0, expected - received);
        }
        received += chunk.length;
        if (received > maxBodyBytes && body !== null && !body.closed) {
          this.#bodyTooLarge(maxBodyBytes);
        }
        if (body !== null && !body.closed && !body.push(chunk)) await body.drained();
      }
      if (expected !== null && received < expected) {
        this.#failBody(
          new ProtocolError(
            `Cannot accept request body: CONTENT_LENGTH is "${expected}" but "${received}" ` +
              `bytes arrived`,
            { protocol: "cgi" },
          ),
        );
      }
      body?.close();
      finished = true;
    } catch (error) {
      this.#failBody(
        new RequestAbortedError(`Cannot read request body: ${describe(error)}`, {
          protocol: "cgi",
          cause: error,
        }),
      );
    } finally {
      if (!finished) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }

  #bodyTooLarge(limit: number): void {
    if (this.#body === null || this.#body.closed) return;
    logLimit(this.#resolved.log, "maxBodyBytes", limit, "CGI request body refused");
    this.#failBody(
      new LimitExceededError(`Cannot accept request body: more than "${limit}" bytes`, {
        option: "maxBodyBytes",
        limit,
        protocol: "cgi",
      }),
    );
  }

  #failBody(error: Error): void {
    const exchange = this.#exchange;
    if (exchange !== null && exchange.bodyFailure === undefined && this.#body?.closed === false) {
      exchange.bodyFailure = error;
    }
    this.#body?.error(error);
  }

  /** Standard output broke: the web server (and so the client) is gone. */
  #abort(error: RequestAbortedError): void {
    this.#controller.abort(error);
    this.#stop.abort(error);
    this.#body?.error(error);
  }

  /** Writes the response; returns the error that stopped it, or `null`. */
  async #write(
    response: Response,
    method: string,
    body: BodyQueue | null,
  ): Promise<RequestAbortedError | null> {
    const sink = this.#stdout;
    try {
      if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
      sink.write(encodeLatin1(encodeCgiHead(response)));
      if (response.body) {
        if (responseHasBody(method, response.status)) {
          await pipeBody(response.body, sink, this.#stop.signal);
        } else await response.body.cancel();
      }
      await sink.flush();
      if (body !== null && !body.closed) {
        body.error(
          new RequestAbortedError("The handler finished without the body", { protocol: "cgi" }),
        );
      }
      return null;
    } catch (cause) {
      response.body?.cancel(cause).catch(() => {});
      const error = cause instanceof RequestAbortedError
        ? cause
        : new RequestAbortedError(`Cannot write the CGI response: ${describe(cause)}`, {
          protocol: "cgi",
          cause,
        });
      if (!this.#stop.signal.aborted) {
        this.#resolved.log("warn", `CGI response not completed: ${error.message}`);
      }
      this.#abort(error);
      return error;
    }
  }
}

/** One read, or `null` when nothing arrived within `ms` milliseconds. */
async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
): Promise<ReadableStreamReadResult<Uint8Array> | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      reader.read(),
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
