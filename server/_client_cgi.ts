// The CGI side of the FastCGI and SCGI clients: a Request becomes CGI variables the way nginx's
// fastcgi_params does, and a CGI response head ("Status:", "Location:", headers) becomes a
// Response. Shared by server/fastcgi/client.ts and server/scgi/client.ts (both clients speak
// CGI/1.1 over their own framing); no I/O here.

import { LimitExceededError, ProtocolError, type ProtocolName } from "./errors.ts";

/** How request paths map to `SCRIPT_NAME`, `PATH_INFO` and `SCRIPT_FILENAME`. */
export interface CgiParamsOptions {
  /**
   * `DOCUMENT_ROOT`; `SCRIPT_FILENAME` is this plus `SCRIPT_NAME` (nginx `$document_root
   * $fastcgi_script_name`). Unset, neither is sent (a flup app needs neither; php-fpm does).
   *
   * @default {undefined}
   */
  documentRoot?: string;
  /**
   * A fixed `SCRIPT_FILENAME` for every request (a front controller such as
   * `/srv/app/public/index.php`); wins over `documentRoot` for that variable.
   *
   * @default {undefined}
   */
  scriptFilename?: string;
  /**
   * Where the backend app is mounted, as in flup: `SCRIPT_NAME` is this and `PATH_INFO` the
   * rest of the decoded path (`""` mounts at the root). Unset, `splitPath` decides.
   *
   * @default {undefined}
   */
  scriptName?: string;
  /**
   * nginx `fastcgi_split_path_info`: on a match of the decoded path, group 1 is `SCRIPT_NAME`
   * and group 2 `PATH_INFO`; otherwise the whole path is `SCRIPT_NAME`.
   *
   * @default {/^(.+?\.php)(\/.*)$/}
   */
  splitPath?: RegExp;
  /**
   * nginx `fastcgi_index`: appended to a path that ends in `/` before splitting. `""` appends
   * nothing.
   *
   * @default {"index.php"}
   */
  index?: string;
  /**
   * Extra variables for every request (they replace computed ones of the same name), or a
   * function that makes them per request.
   *
   * @default {undefined}
   */
  params?: Readonly<Record<string, string>> | ((request: Request) => Record<string, string>);
  /**
   * `SERVER_SOFTWARE`.
   *
   * @default {"flup-deno"}
   */
  serverSoftware?: string;
}

/** What only the caller of one request knows (the `Deno.serve` handler info, for example). */
export interface ClientRequestInit {
  /** The end client's address: `REMOTE_ADDR` and `REMOTE_PORT` (omitted when unknown). */
  remoteAddr?: Deno.Addr;
  /** The address the request arrived on: `SERVER_ADDR` (omitted when unknown). */
  serverAddr?: Deno.Addr;
  /** Extra variables for this request only; they replace every other of the same name. */
  params?: Readonly<Record<string, string>>;
}

const DEFAULT_SPLIT_PATH = /^(.+?\.php)(\/.*)$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers that describe one connection, never passed from the backend to the client. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
/** Statuses whose responses have no body (Fetch "null body status"). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

function badRequest(message: string, cause?: unknown): ProtocolError {
  return new ProtocolError(`Cannot forward request: ${message}`, {
    protocol: "http",
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The parts of a serialized http(s) URL (`request.url`) the variables need. */
interface UrlParts {
  https: boolean;
  /** `host[:port]` as in the URL. */
  host: string;
  /** The host without brackets or port. */
  hostname: string;
  /** The port, or `""` when it is the scheme's default. */
  port: string;
  /** The path, percent-encoded, starting with `/`. */
  path: string;
  /** Path and query as sent (`REQUEST_URI`). */
  target: string;
  /** The query without `?`. */
  query: string;
}

/**
 * Splits `request.url` without a URL object: the Request constructor has already parsed and
 * serialized it, so only the parts are left to find.
 */
function splitUrl(href: string): UrlParts {
  const https = href.startsWith("https://");
  if (!https && !href.startsWith("http://")) {
    throw badRequest(`the URL "${href.slice(0, 80)}" is not http: or https:`);
  }
  const hostStart = https ? 8 : 7;
  let pathStart = href.indexOf("/", hostStart);
  if (pathStart < 0) pathStart = href.length;
  let end = href.indexOf("#", pathStart);
  if (end < 0) end = href.length;
  let queryAt = href.indexOf("?", pathStart);
  if (queryAt < 0 || queryAt > end) queryAt = end;
  const host = href.slice(hostStart, pathStart);
  const bracket = host.lastIndexOf("]");
  const colon = host.lastIndexOf(":");
  const hasPort = colon > bracket;
  return {
    https,
    host,
    hostname: (hasPort ? host.slice(0, colon) : host).replace(/^\[(.*)\]$/, "$1"),
    port: hasPort ? host.slice(colon + 1) : "",
    path: pathStart < queryAt ? href.slice(pathStart, queryAt) : "/",
    target: pathStart < end ? href.slice(pathStart, end) : "/",
    query: queryAt < end ? href.slice(queryAt + 1, end) : "",
  };
}

/** The decoded, checked request path (nginx `$uri`): no NUL, no "." or ".." segment. */
function decodedPath(encoded: string): string {
  // The URL parser resolved literal dot segments; only escapes can hide new ones.
  if (!encoded.includes("%")) return encoded;
  let path: string;
  try {
    path = decodeURIComponent(encoded);
  } catch (cause) {
    throw badRequest(`the path "${encoded}" is not valid percent-encoded UTF-8`, cause);
  }
  if (path.includes("\0")) throw badRequest(`the path "${encoded}" has a NUL byte`);
  for (const segment of path.split("/")) {
    if (segment === ".." || segment === ".") {
      throw badRequest(`the decoded path "${path}" has a "${segment}" segment`);
    }
  }
  return path;
}

function splitScript(path: string, options: CgiParamsOptions): [string, string] {
  const mount = options.scriptName;
  if (mount !== undefined) {
    if (mount === "" || path === mount || path.startsWith(mount + "/")) {
      return [mount, path.slice(mount.length)];
    }
    return ["", path];
  }
  const index = options.index ?? "index.php";
  const script = path.endsWith("/") ? path + index : path;
  const match = (options.splitPath ?? DEFAULT_SPLIT_PATH).exec(script);
  if (match && match[1] !== undefined) return [match[1], match[2] ?? ""];
  return [script, ""];
}

function joinRoot(root: string, path: string): string {
  return root.endsWith("/") ? root + path.replace(/^\/+/, "") : root + path;
}

/**
 * The CGI variables for `request`, in the order nginx's `fastcgi_params` sends them, then
 * `HTTP_*` for each header, then the extra params (which replace computed ones of the same
 * name). `bodyLength` is `CONTENT_LENGTH` (`null`: not sent).
 *
 * @throws {ProtocolError} (protocol `"http"`) On a URL or path that must not reach a backend.
 */
export function buildCgiParams(
  request: Request,
  bodyLength: number | null,
  options: CgiParamsOptions,
  init: ClientRequestInit,
): [string, string][] {
  const url = splitUrl(request.url);
  const path = decodedPath(url.path);
  const [scriptName, pathInfo] = splitScript(path, options);
  const params: [string, string][] = [
    ["QUERY_STRING", url.query],
    ["REQUEST_METHOD", request.method],
  ];
  const contentType = request.headers.get("content-type");
  if (contentType !== null) params.push(["CONTENT_TYPE", contentType]);
  if (bodyLength !== null) params.push(["CONTENT_LENGTH", String(bodyLength)]);
  params.push(
    ["SCRIPT_NAME", scriptName],
    ["PATH_INFO", pathInfo],
    ["REQUEST_URI", url.target],
    ["DOCUMENT_URI", path],
  );
  const root = options.documentRoot;
  if (root !== undefined) params.push(["DOCUMENT_ROOT", root]);
  const filename = options.scriptFilename ??
    (root !== undefined ? joinRoot(root, scriptName) : undefined);
  if (filename !== undefined) params.push(["SCRIPT_FILENAME", filename]);
  if (root !== undefined && pathInfo !== "") {
    params.push(["PATH_TRANSLATED", joinRoot(root, pathInfo)]);
  }
  params.push(
    ["SERVER_PROTOCOL", "HTTP/1.1"],
    ["REQUEST_SCHEME", url.https ? "https" : "http"],
  );
  if (url.https) params.push(["HTTPS", "on"]);
  params.push(
    ["GATEWAY_INTERFACE", "CGI/1.1"],
    ["SERVER_SOFTWARE", options.serverSoftware ?? "flup-deno"],
  );
  const remote = init.remoteAddr;
  if (remote && "hostname" in remote) {
    params.push(["REMOTE_ADDR", remote.hostname], ["REMOTE_PORT", String(remote.port)]);
  }
  const local = init.serverAddr;
  if (local && "hostname" in local) params.push(["SERVER_ADDR", local.hostname]);
  params.push(
    ["SERVER_PORT", url.port || (url.https ? "443" : "80")],
    ["SERVER_NAME", url.hostname],
    // PHP's cgi.force_redirect: the variable says a web server, not a visitor, ran the script.
    ["REDIRECT_STATUS", "200"],
  );
  let host = false;
  // forEach visits the same sorted, combined list as the iterator, about ten times faster (no
  // iterator object and result arrays per header).
  request.headers.forEach((value, name) => {
    // Names with "_" would alias "-" names once mapped (nginx underscores_in_headers off);
    // "Proxy" would become HTTP_PROXY (httpoxy); the content headers are CONTENT_* above.
    if (name.includes("_") || name === "proxy") return;
    if (name === "content-type" || name === "content-length") return;
    if (name === "host") host = true;
    params.push(["HTTP_" + name.toUpperCase().replaceAll("-", "_"), value]);
  });
  if (!host) params.push(["HTTP_HOST", url.host]);
  const extra = typeof options.params === "function" ? options.params(request) : options.params;
  if (extra) override(params, extra);
  if (init.params) override(params, init.params);
  return params;
}

/** Replaces (or appends) the variables of `extra`. */
function override(params: [string, string][], extra: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(extra)) {
    const at = params.findIndex(([existing]) => existing === name);
    if (at >= 0) params[at] = [name, value];
    else params.push([name, value]);
  }
}

/** A request body ready to forward: its length when known, and the bytes or the stream. */
export interface ForwardBody {
  /** `CONTENT_LENGTH`, or `null` when it is not sent. */
  length: number | null;
  /** The whole body when it was read into memory (or is empty). */
  bytes: Uint8Array | null;
  /** The body still to stream, when it was not read. */
  stream: ReadableStream<Uint8Array> | null;
}

/** Methods whose missing body is sent as `CONTENT_LENGTH: 0`. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** The {@linkcode ForwardBody} of a request without a body. */
export function noBody(request: Request): ForwardBody {
  return { length: BODY_METHODS.has(request.method) ? 0 : null, bytes: null, stream: null };
}

/**
 * Decides how the body of `request` goes to the backend. A valid `content-length` header
 * streams the body; a body of unknown length is read into memory up to `maxBufferedBodyBytes`
 * so that `CONTENT_LENGTH` can be sent (nginx's request buffering), unless `streamUnknown`.
 *
 * @throws {LimitExceededError} (option `maxBufferedBodyBytes`) On a longer body.
 */
export async function prepareBody(
  request: Request,
  maxBufferedBodyBytes: number,
  streamUnknown: boolean,
  protocol: ProtocolName,
): Promise<ForwardBody> {
  const body = request.body;
  if (body === null) return noBody(request);
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d{1,15}$/.test(declared)) {
    return { length: Number(declared), bytes: null, stream: body };
  }
  if (streamUnknown) return { length: null, bytes: null, stream: body };
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let total = 0;
  for await (const chunk of body as ReadableStream<Uint8Array<ArrayBuffer>>) {
    total += chunk.length;
    if (total > maxBufferedBodyBytes) {
      await body.cancel().catch(() => {});
      throw new LimitExceededError(
        `Cannot forward request: the body of unknown length is over "${maxBufferedBodyBytes}" ` +
          `bytes`,
        { option: "maxBufferedBodyBytes", limit: maxBufferedBodyBytes, protocol },
      );
    }
    chunks.push(chunk);
  }
  return { length: total, bytes: concat(chunks, total), stream: null };
}

/** The chunks as one array (the only chunk itself when there is one). */
export function concat(
  chunks: readonly Uint8Array<ArrayBuffer>[],
  total: number,
): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** A CGI response head as the backend wrote it. */
export interface CgiResponseHead {
  /** The status: `Status:`, else 302 with `Location:`, else 200. */
  status: number;
  /** The reason phrase of `Status:`. */
  statusText: string;
  /**
   * Every header but `Status:` and hop-by-hop ones, as `[name, value]` pairs in the order
   * received (each `Set-Cookie` kept); every pair is valid for `new Headers`.
   */
  headers: [string, string][];
  /** A local redirect (RFC 3875 section 6.2.2): `Location:` with a path and no `Status:`. */
  localRedirect: string | null;
}

/**
 * Collects a CGI response head from chunks split anywhere, within `maxBytes`.
 */
export class CgiHeadReader {
  /** The head so far, when it came in more than one chunk (allocated only then). */
  #buffer: Uint8Array | null = null;
  #length = 0;
  #maxBytes: number;
  #protocol: ProtocolName;
  /** The head, once complete. */
  head: CgiResponseHead | null = null;

  constructor(maxBytes: number, protocol: ProtocolName) {
    this.#maxBytes = maxBytes;
    this.#protocol = protocol;
  }

  /**
   * Adds a chunk of response bytes.
   *
   * @returns `null` while the head is incomplete; then the body bytes that followed it in
   * `chunk` (a view into `chunk`).
   * @throws {LimitExceededError} (option `maxResponseHeadBytes`) Past `maxBytes`.
   * @throws {ProtocolError} On a malformed head.
   */
  push(chunk: Uint8Array): Uint8Array | null {
    const before = this.#length;
    if (before === 0) {
      // The usual case: the whole head is in the first chunk, parsed where it is.
      const take = Math.min(chunk.length, this.#maxBytes + 4);
      const end = headEnd(chunk, 0, take);
      if (end >= 0) {
        this.head = parseHead(chunk, end, this.#protocol);
        return chunk.subarray(end);
      }
    }
    const searchFrom = Math.max(0, before - 3);
    const take = Math.min(chunk.length, this.#maxBytes + 4 - before);
    let buffer = this.#buffer;
    if (buffer === null || before + take > buffer.length) {
      const grown = new Uint8Array(
        Math.max(buffer === null ? 1024 : buffer.length * 2, before + take),
      );
      if (buffer !== null) grown.set(buffer.subarray(0, before));
      this.#buffer = buffer = grown;
    }
    buffer.set(chunk.subarray(0, take), before);
    this.#length = before + take;
    const end = headEnd(buffer, searchFrom, this.#length);
    if (end < 0) {
      if (this.#length > this.#maxBytes) {
        throw new LimitExceededError(
          `Cannot read ${this.#protocol} response: the head is over "${this.#maxBytes}" bytes`,
          { option: "maxResponseHeadBytes", limit: this.#maxBytes, protocol: this.#protocol },
        );
      }
      return null;
    }
    this.head = parseHead(buffer, end, this.#protocol);
    return chunk.subarray(end - before);
  }
}

/** The offset after the blank line that ends the head, or -1. */
function headEnd(bytes: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i + 1] === 0x0a && i + 1 < to) return i + 2;
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a && i + 2 < to) return i + 3;
  }
  // A head that is only a blank line.
  if (from === 0 && to >= 1 && bytes[0] === 0x0a) return 1;
  if (from === 0 && to >= 2 && bytes[0] === 0x0d && bytes[1] === 0x0a) return 2;
  return -1;
}

/** Control characters a header value must not have (what `Headers` refuses after trimming). */
const BAD_VALUE = /[\0\r\n]/;

/** Parses the head in `bytes[0..end)`. */
function parseHead(bytes: Uint8Array, end: number, protocol: ProtocolName): CgiResponseHead {
  let text = "";
  // In slices: apply() takes the typed array as its argument list, bounded in length.
  for (let i = 0; i < end; i += 8192) {
    const slice = bytes.subarray(i, Math.min(i + 8192, end));
    text += String.fromCharCode.apply(null, slice as unknown as number[]);
  }
  const fail = (what: string): ProtocolError =>
    new ProtocolError(`Cannot read ${protocol} response head: ${what}`, { protocol });
  const headers: [string, string][] = [];
  let status: number | null = null;
  let statusText = "";
  let location: string | null = null;
  let start = 0;
  while (start < text.length) {
    let lineEnd = text.indexOf("\n", start);
    if (lineEnd < 0) lineEnd = text.length;
    const next = lineEnd + 1;
    if (lineEnd > start && text.charCodeAt(lineEnd - 1) === 0x0d) lineEnd--;
    const trimmed = text.slice(start, lineEnd);
    start = next;
    if (trimmed === "") continue;
    const colon = trimmed.indexOf(":");
    const name = colon > 0 ? trimmed.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw fail(`the line "${trimmed.slice(0, 80)}" is not a header`);
    const value = trimmed.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (lower === "status") {
      const match = /^(\d{3})(?:[ \t]+(.*))?$/.exec(value);
      const code = match ? Number(match[1]) : 0;
      if (code < 200 || code > 599) throw fail(`Status is "${value}"`);
      status = code;
      statusText = match?.[2] ?? "";
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === "location") location = value;
    // Every char is a byte (Latin-1) and the name a token: only NUL or a lone CR is left for
    // `Headers` to refuse.
    if (BAD_VALUE.test(value)) {
      throw new ProtocolError(`Cannot read ${protocol} response head: header "${name}" is bad`, {
        protocol,
        cause: new TypeError(`Header value is not valid: "${value.slice(0, 80)}"`),
      });
    }
    headers.push([name, value]);
  }
  let localRedirect: string | null = null;
  if (status === null) {
    if (location !== null && location.startsWith("/") && !location.startsWith("//")) {
      localRedirect = location;
    }
    status = location !== null ? 302 : 200;
  }
  return { status, statusText, headers, localRedirect };
}

/** `true` when a response to `method` with `status` must have no body. */
export function isBodyless(method: string, status: number): boolean {
  return method === "HEAD" || NULL_BODY_STATUS.has(status);
}

/** The Response for a head and a body (`null` for bodyless responses). */
export function createResponse(
  head: CgiResponseHead,
  body: BodyInit | null,
): Response {
  return new Response(body, {
    status: head.status,
    ...(head.statusText ? { statusText: head.statusText } : {}),
    headers: head.headers,
  });
}

/**
 * The request a local redirect asks for (RFC 3875 section 6.2.2): a GET of the new path with
 * the original headers, as Apache's mod_cgi makes it.
 */
export function redirectRequest(request: Request, location: string): Request {
  const headers = new Headers(request.headers);
  headers.delete("content-length");
  headers.delete("content-type");
  return new Request(new URL(location, request.url), {
    method: "GET",
    headers,
    signal: request.signal,
  });
}
