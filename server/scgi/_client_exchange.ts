// One SCGI request on a connection of its own: the netstring header block (CONTENT_LENGTH
// first, SCGI "1"), exactly CONTENT_LENGTH body bytes streamed with backpressure, then the CGI
// response read to the end of the connection, its body streamed to the caller as it arrives.
// SCGI has no abort message: the caller's abort closes the connection.

import { ConnectionClosedError, LimitExceededError, ProtocolError } from "../errors.ts";
import { writeAll } from "../_conn.ts";
import { logLimit } from "../_log.ts";
import type { GatewayLogger } from "../types.ts";
import { encodeScgiHeaders } from "./netstring.ts";
import { SCGI_HEADER } from "./constants.ts";
import {
  CgiHeadReader,
  type CgiResponseHead,
  createResponse,
  type ForwardBody,
  isBodyless,
} from "../_client_cgi.ts";
import type { Watchdog, Watched } from "../_client_watchdog.ts";

const READ_SIZE = 65536;

/** The resolved client settings an exchange uses. */
export interface ScgiExchangeSettings {
  requestTimeout: number;
  readTimeout: number;
  maxResponseHeadBytes: number;
  log: GatewayLogger;
  watchdog: Watchdog;
}

/** What an exchange produced: the head, and the Response unless it is a followed redirect. */
export interface ScgiExchangeResult {
  head: CgiResponseHead;
  response: Response | null;
}

type Timeout = "requestTimeout" | "readTimeout";

/** One request on one connection; `onEnd` runs once when the connection is closed. */
export class ScgiExchange implements Watched {
  /** When the running timeout expires (ms since the epoch); watched by the watchdog. */
  deadline = Infinity;
  #conn: Deno.Conn;
  #request: Request;
  #settings: ScgiExchangeSettings;
  #onEnd: () => void;
  #timeout: Timeout = "requestTimeout";
  #failure: unknown = null;
  #aborted = false;
  #abortReason: unknown = null;
  #closed = false;
  #pumpReader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #onAbort = (): void => this.#abort(this.#request.signal.reason);

  constructor(
    conn: Deno.Conn,
    request: Request,
    settings: ScgiExchangeSettings,
    onEnd: () => void,
  ) {
    this.#conn = conn;
    this.#request = request;
    this.#settings = settings;
    this.#onEnd = onEnd;
  }

  /**
   * Sends the request and reads the response head.
   *
   * @param params The CGI variables (CONTENT_LENGTH is added first).
   * @param body The body to send.
   * @param deadline When `requestTimeout` runs out (ms since the epoch).
   * @param follow Whether a local redirect is followed (then `response` is `null`).
   */
  async run(
    params: [string, string][],
    body: ForwardBody,
    deadline: number,
    follow: boolean,
  ): Promise<ScgiExchangeResult> {
    const signal = this.#request.signal;
    try {
      if (signal.aborted) throw signal.reason;
      signal.addEventListener("abort", this.#onAbort, { once: true });
      this.#arm("requestTimeout", deadline);
      const length = body.length ?? 0;
      const pairs: [string, string][] = [
        [SCGI_HEADER.ContentLength, String(length)],
        [SCGI_HEADER.Scgi, SCGI_HEADER.ScgiVersion],
      ];
      for (const [name, value] of params) {
        if (name !== SCGI_HEADER.ContentLength && name !== SCGI_HEADER.Scgi) {
          pairs.push([name, value]);
        }
      }
      const header = encodeScgiHeaders(pairs);
      const bytes = body.bytes;
      const first = bytes && bytes.length > 0
        ? new Uint8Array(header.length + bytes.length)
        : header;
      if (first !== header) {
        first.set(header);
        first.set(bytes!, header.length);
      }
      await writeAll(this.#conn, first);
      if (body.stream) this.#pump(body.stream, length);
      const reader = new CgiHeadReader(this.#settings.maxResponseHeadBytes, "scgi");
      let rest: Uint8Array | null = null;
      while (rest === null) {
        const chunk = await this.#read();
        if (chunk === null) throw this.#endedError("the response head");
        rest = reader.push(chunk);
      }
      this.#disarm();
      const head = reader.head!;
      const redirect = follow && head.localRedirect !== null;
      if (redirect || isBodyless(this.#request.method, head.status)) {
        this.#close();
        return { head, response: redirect ? null : createResponse(head, null) };
      }
      const initial = rest.length > 0 ? rest.slice() : null;
      const response = createResponse(
        head,
        new ReadableStream<Uint8Array>({
          start: (controller) => {
            if (initial) controller.enqueue(initial);
          },
          pull: (controller) => this.#pull(controller),
          cancel: (reason) => this.#abort(reason),
        }, { highWaterMark: 0 }),
      );
      return { head, response };
    } catch (error) {
      this.#close();
      if (this.#aborted) throw this.#abortReason;
      throw error;
    }
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#closed) {
      controller.error(this.#failure ?? this.#abortReason ?? this.#endedError("the body"));
      return;
    }
    this.#arm("readTimeout", Date.now() + this.#settings.readTimeout);
    try {
      const chunk = await this.#read();
      this.#disarm();
      if (this.#aborted) {
        controller.error(this.#abortReason);
        return;
      }
      if (chunk === null) {
        const failure = this.#failure;
        this.#close();
        if (failure) controller.error(failure);
        else controller.close();
        return;
      }
      controller.enqueue(chunk);
    } catch (error) {
      this.#close();
      controller.error(error);
    }
  }

  /** The next bytes of the response (an owned array), or `null` at the end. */
  async #read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    const buffer = new Uint8Array(READ_SIZE);
    let count: number | null;
    try {
      count = await this.#conn.read(buffer);
    } catch (error) {
      if (this.#closed || this.#aborted) return null;
      throw new ConnectionClosedError(
        `Cannot read SCGI response: ${error instanceof Error ? error.message : error}`,
        { protocol: "scgi", cause: error },
      );
    }
    return count === null ? null : buffer.subarray(0, count);
  }

  /** Copies the request body stream, exactly `length` bytes. */
  async #pump(stream: ReadableStream<Uint8Array>, length: number): Promise<void> {
    const reader = stream.getReader();
    this.#pumpReader = reader;
    let sent = 0;
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (this.#closed) return;
        if (done) break;
        sent += value.length;
        if (sent > length) {
          throw new ProtocolError(`Cannot forward request: the body is longer than "${length}"`, {
            protocol: "http",
          });
        }
        await writeAll(this.#conn, value);
      }
      if (sent !== length) {
        throw new ProtocolError(
          `Cannot forward request: the body ended at "${sent}" of "${length}" bytes`,
          { protocol: "http" },
        );
      }
    } catch (error) {
      if (this.#closed) return;
      if (
        !(error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset)
      ) {
        this.#failure ??= error;
        this.#close();
      }
    } finally {
      this.#pumpReader = null;
      reader.releaseLock();
    }
  }

  #abort(reason: unknown): void {
    if (this.#closed) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#close();
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
    const what = `${this.#request.method} ${this.#request.url}`;
    logLimit(this.#settings.log, option, limit, what);
    this.#failure ??= new LimitExceededError(
      `Cannot complete SCGI request ${what}: "${option}" ran out`,
      { option, limit, protocol: "scgi" },
    );
    this.#close();
  }

  #disarm(): void {
    this.#settings.watchdog.delete(this);
  }

  #endedError(what: string): unknown {
    if (this.#failure) return this.#failure;
    return new ConnectionClosedError(
      `Cannot read SCGI response: the backend closed the connection before ${what} ended`,
      { protocol: "scgi" },
    );
  }

  /** Closes the connection once and gives its slot back. */
  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    this.#request.signal.removeEventListener("abort", this.#onAbort);
    this.#pumpReader?.cancel().catch(() => {});
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#onEnd();
  }
}
