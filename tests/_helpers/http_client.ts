/**
 * A raw HTTP/1.1 client over `Deno.connect` for requests that `fetch` cannot express: repeated
 * or oddly ordered headers, a missing `Host`, hand-made chunked bodies, exact status lines.
 *
 * One request per connection; the connection is closed at the end.
 *
 * @module
 */

/** Options for {@linkcode rawRequest}. */
export interface RawRequestOptions {
  /**
   * The request method, sent as given.
   *
   * @default {"GET"}
   */
  method?: string;
  /**
   * The request target, sent as given (e.g. `"/a/b?x=1"`, `"*"` or an absolute URL).
   *
   * @default {"/"}
   */
  path?: string;
  /**
   * Header fields in order; a name may repeat.
   *
   * @default {[]}
   */
  headers?: [string, string][];
  /**
   * Bytes sent after the head, as given (already chunk-encoded if the headers say so).
   *
   * @default {undefined}
   */
  body?: Uint8Array;
  /**
   * Add `Host` (from the origin) and, with a body, `Content-Length` when the headers lack
   * them (`Transfer-Encoding` also counts as a length). Set `false` to send only `headers`.
   *
   * @default {true}
   */
  defaultHeaders?: boolean;
  /**
   * The time allowed for the whole exchange, in milliseconds.
   *
   * @default {10000}
   */
  timeout?: number;
}

/** What {@linkcode rawRequest} read back. */
export interface RawResponse {
  /** The status code, e.g. `200`. */
  status: number;
  /** The reason phrase, e.g. `"OK"` (may be empty). */
  statusText: string;
  /** Header fields in the order received, names as the server spelled them. */
  headers: [string, string][];
  /** The body, de-chunked; empty for HEAD, 1xx, 204 and 304. */
  body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF = "\r\n";
const MAX_HEAD_BYTES = 1 << 20;

/**
 * Sends one HTTP/1.1 request over a new TCP connection and reads one response.
 *
 * The response body is delimited by `Transfer-Encoding: chunked` (trailers are read and
 * dropped), else `Content-Length`, else the end of the connection; HEAD requests and 1xx, 204
 * and 304 responses have none. Interim 1xx responses before the final one are skipped.
 *
 * @param origin The server, e.g. `"http://127.0.0.1:8080"`.
 * @param options Method, target, headers, body and timeout.
 * @returns The final response with its body.
 * @throws {Error} When the response is malformed, the connection ends early, or the timeout
 * passes.
 *
 * @example Send a repeated header
 * ```ts
 * import { rawRequest } from "./http_client.ts";
 *
 * await using server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   (request) => new Response(request.headers.get("x-twice")),
 * );
 * const response = await rawRequest(`http://127.0.0.1:${server.addr.port}`, {
 *   path: "/echo",
 *   headers: [["X-Twice", "1"], ["X-Twice", "2"]],
 * });
 * if (new TextDecoder().decode(response.body) !== "1, 2") throw new Error("not joined");
 * ```
 */
export async function rawRequest(
  origin: string,
  options: RawRequestOptions = {},
): Promise<RawResponse> {
  const {
    method = "GET",
    path = "/",
    headers = [],
    body,
    defaultHeaders = true,
    timeout = 10_000,
  } = options;
  const url = new URL(origin);
  if (url.protocol !== "http:") {
    throw new TypeError(`Cannot send a raw request to "${origin}": only http: is supported`);
  }
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? 80 : Number(url.port);
  const fields: [string, string][] = [...headers];
  if (defaultHeaders) {
    const has = (name: string) => fields.some(([n]) => n.toLowerCase() === name);
    if (!has("host")) fields.unshift(["Host", url.host]);
    if (body !== undefined && !has("content-length") && !has("transfer-encoding")) {
      fields.push(["Content-Length", String(body.length)]);
    }
  }
  const head = `${method} ${path} HTTP/1.1${CRLF}` +
    fields.map(([name, value]) => `${name}: ${value}${CRLF}`).join("") + CRLF;
  const headBytes = encoder.encode(head);
  const request = new Uint8Array(headBytes.length + (body?.length ?? 0));
  request.set(headBytes);
  if (body !== undefined) request.set(body, headBytes.length);

  let timedOut = false;
  let closed = false;
  let conn: Deno.TcpConn | undefined;
  const close = () => {
    if (closed || conn === undefined) return;
    closed = true;
    conn.close();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    close();
  }, timeout);
  try {
    conn = await Deno.connect({ hostname, port, transport: "tcp" });
    if (timedOut) close();
    let written = 0;
    while (written < request.length) {
      written += await conn.write(request.subarray(written));
    }
    return await readResponse(new Reader(conn), method.toUpperCase() === "HEAD");
  } catch (error) {
    if (timedOut) {
      throw new Error(
        `Cannot finish raw request "${method} ${path}": timed out after ${timeout} ms`,
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    close();
  }
}

/** A buffered reader over one connection. */
class Reader {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  #eof = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads more bytes into the buffer; returns `false` at the end of the stream. */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const joined = new Uint8Array(this.#buffer.length + n);
    joined.set(this.#buffer);
    joined.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = joined;
    return true;
  }

  /** Reads up to and including `delimiter`; returns the bytes before it. */
  async until(delimiter: string, limit: number): Promise<Uint8Array> {
    const needle = encoder.encode(delimiter);
    let from = 0;
    for (;;) {
      const at = indexOf(this.#buffer, needle, from);
      if (at !== -1) {
        const before = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.slice(at + needle.length);
        return before;
      }
      if (this.#buffer.length > limit) {
        throw new Error(
          `Cannot read HTTP response: no "${JSON.stringify(delimiter)}" in ${limit} bytes`,
        );
      }
      from = Math.max(0, this.#buffer.length - needle.length + 1);
      if (!await this.#fill()) {
        throw new Error("Cannot read HTTP response: connection closed before the end");
      }
    }
  }

  /** Reads exactly `length` bytes. */
  async exactly(length: number): Promise<Uint8Array> {
    while (this.#buffer.length < length) {
      if (!await this.#fill()) {
        throw new Error(
          `Cannot read HTTP response: connection closed after ${this.#buffer.length} of ${length} body bytes`,
        );
      }
    }
    const out = this.#buffer.slice(0, length);
    this.#buffer = this.#buffer.slice(length);
    return out;
  }

  /** Reads everything until the peer closes. */
  async rest(): Promise<Uint8Array> {
    while (await this.#fill()) {
      // Keep reading.
    }
    const out = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return out;
  }
}

async function readResponse(reader: Reader, isHead: boolean): Promise<RawResponse> {
  for (;;) {
    const head = decoder.decode(await reader.until(CRLF + CRLF, MAX_HEAD_BYTES));
    const [statusLine = "", ...lines] = head.split(CRLF);
    const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (match === null) {
      throw new Error(`Cannot read HTTP response: bad status line "${statusLine}"`);
    }
    const status = Number(match[1]);
    const statusText = match[2] ?? "";
    const headers: [string, string][] = [];
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error(`Cannot read HTTP response: bad header line "${line}"`);
      headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
    if (status >= 100 && status < 200 && status !== 101) continue; // interim response
    const get = (name: string) =>
      headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    let body: Uint8Array;
    if (isHead || status === 101 || status === 204 || status === 304) {
      body = new Uint8Array(0);
    } else if (get("transfer-encoding").join(",").toLowerCase().includes("chunked")) {
      body = await readChunked(reader);
    } else if (get("content-length").length > 0) {
      const values = new Set(
        get("content-length").flatMap((v) => v.split(",")).map((v) => v.trim()),
      );
      const [value = ""] = values;
      if (values.size !== 1 || !/^\d+$/.test(value)) {
        throw new Error(`Cannot read HTTP response: bad Content-Length "${[...values].join(",")}"`);
      }
      body = await reader.exactly(Number(value));
    } else {
      body = await reader.rest();
    }
    return { status, statusText, headers, body };
  }
}

async function readChunked(reader: Reader): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const line = decoder.decode(await reader.until(CRLF, 4096));
    const size = line.split(";")[0]?.trim() ?? "";
    if (!/^[0-9a-fA-F]+$/.test(size)) {
      throw new Error(`Cannot read HTTP response: bad chunk size "${line}"`);
    }
    const length = parseInt(size, 16);
    if (length === 0) break;
    parts.push(await reader.exactly(length));
    if ((await reader.exactly(2)).some((b, i) => b !== CRLF.charCodeAt(i))) {
      throw new Error("Cannot read HTTP response: chunk not followed by CRLF");
    }
  }
  // Trailer fields until an empty line.
  while ((await reader.until(CRLF, 64 * 1024)).length > 0) {
    // Dropped.
  }
  return concat(parts);
}

/**
 * Encodes body parts as HTTP/1.1 chunked transfer coding, ending with the last chunk.
 *
 * @param parts The chunks to send; empty parts are skipped (an empty chunk would end the body).
 * @returns The encoded bytes, for `rawRequest(..., { body })` with a
 * `Transfer-Encoding: chunked` header.
 *
 * @example Encode two chunks
 * ```ts
 * import { encodeChunked } from "./http_client.ts";
 *
 * const bytes = encodeChunked([new TextEncoder().encode("ab"), new TextEncoder().encode("c")]);
 * if (new TextDecoder().decode(bytes) !== "2\r\nab\r\n1\r\nc\r\n0\r\n\r\n") throw new Error();
 * ```
 */
export function encodeChunked(parts: Uint8Array[]): Uint8Array {
  const out: Uint8Array[] = [];
  for (const part of parts) {
    if (part.length === 0) continue;
    out.push(encoder.encode(part.length.toString(16) + CRLF), part, encoder.encode(CRLF));
  }
  out.push(encoder.encode("0" + CRLF + CRLF));
  return concat(out);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
