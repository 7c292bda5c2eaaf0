// CGI variables -> Request, shared by FastCGI, SCGI, AJP (through its attribute map) and CGI.
// DESIGN section 2: scheme, host, path and query rebuilt from the variables; HTTP_* become
// headers (httpoxy-safe); CONTENT_TYPE/CONTENT_LENGTH become headers.

import { ProtocolError, type ProtocolName } from "./errors.ts";
import { textEncoder } from "./_text.ts";

/** The request line and headers rebuilt from CGI variables, before a body is attached. */
export interface CgiRequestHead {
  /** The variables as received; repeated names joined (", ", or "; " for cookies). */
  env: Record<string, string>;
  /** REQUEST_METHOD, upper-case as sent; GET when missing. */
  method: string;
  /** The absolute URL. */
  url: string;
  /**
   * The request headers as `[name, value]` pairs (names lower-case, values trimmed), each one
   * valid for `new Headers`: `new Request` takes pairs several times faster than a `Headers`.
   */
  headers: [string, string][];
  /** CONTENT_LENGTH as a number; `null` when absent or empty (a chunked upload). */
  contentLength: number | null;
  /** REMOTE_ADDR/REMOTE_PORT when present. */
  remoteAddr: Deno.NetAddr | null;
}

const HOST_PATTERN = /^(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Rebuilds the request head from name-value pairs.
 *
 * @param pairs Names and values alternating, in wire order.
 * @param protocol For error messages.
 * @param scheme A scheme the protocol knows better (AJP is_ssl); else taken from the variables.
 * @throws {ProtocolError} When the variables cannot make a valid URL or CONTENT_LENGTH.
 */
export function parseCgiVariables(
  pairs: readonly string[],
  protocol: ProtocolName,
  scheme?: "http" | "https",
): CgiRequestHead {
  const env: Record<string, string> = {};
  const headers: [string, string][] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1]!;
    const previous = env[name];
    env[name] = previous === undefined
      ? value
      : `${previous}${name === "HTTP_COOKIE" ? "; " : ", "}${value}`;
    if (name.length > 5 && name.startsWith("HTTP_")) {
      // httpoxy (CVE-2016-5385): a client's "Proxy:" header must never look like HTTP_PROXY.
      if (name === "HTTP_PROXY") continue;
      // CONTENT_TYPE/CONTENT_LENGTH are authoritative; nginx and Apache may repeat them.
      if (name === "HTTP_CONTENT_TYPE" || name === "HTTP_CONTENT_LENGTH") continue;
      const headerName = name.slice(5).toLowerCase().replaceAll("_", "-");
      if (headerName === "cookie" && previous !== undefined) {
        setHeader(headers, headerName, env[name]!, true);
      } else setHeader(headers, headerName, value, false);
    }
  }
  const contentType = env.CONTENT_TYPE;
  if (contentType) setHeader(headers, "content-type", contentType, true);
  let contentLength: number | null = null;
  const lengthText = env.CONTENT_LENGTH;
  if (lengthText !== undefined && lengthText !== "") {
    if (!/^\d{1,15}$/.test(lengthText)) {
      throw new ProtocolError(`Cannot accept request: CONTENT_LENGTH is "${lengthText}"`, {
        protocol,
      });
    }
    contentLength = Number(lengthText);
    setHeader(headers, "content-length", lengthText, true);
  }
  const method = env.REQUEST_METHOD || "GET";
  return {
    env,
    method,
    url: rebuildUrl(env, protocol, scheme),
    headers,
    contentLength,
    remoteAddr: remoteAddress(env),
  };
}

/** A header name `Headers` accepts (an HTTP token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A char that is not a byte: `Headers` takes only byte strings. */
const NOT_LATIN1 = /[^\0-\xff]/;
/** The HTTP whitespace `Headers` trims from both ends of a value. */
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
/** What `Headers` refuses in a (trimmed) value. */
const BAD_VALUE = /[\0\r\n]/;

/**
 * Appends (or, with `replace`, sets) a header in `headers` exactly as `Headers.append` /
 * `Headers.set` would, without a `Headers` object: the value is trimmed of HTTP whitespace, and
 * a header `Headers` would refuse is left out.
 */
function setHeader(
  headers: [string, string][],
  name: string,
  value: string,
  replace: boolean,
): void {
  if (!TOKEN.test(name)) return; // dropped: not a valid header name
  let bytes = value;
  if (NOT_LATIN1.test(value)) {
    // Header values are byte strings: non-Latin-1 text goes back to its UTF-8 bytes, one
    // character per byte, as Deno.serve would have delivered them.
    try {
      bytes = String.fromCharCode(...textEncoder.encode(value));
    } catch {
      return; // too long to re-encode
    }
  }
  const trimmed = bytes.replace(EDGE_WHITESPACE, "");
  // Anything else invalid (a control character) is dropped.
  if (BAD_VALUE.test(trimmed)) return;
  if (replace) {
    for (let i = headers.length - 1; i >= 0; i--) {
      if (headers[i]![0] === name) headers.splice(i, 1);
    }
  }
  headers.push([name, trimmed]);
}

function rebuildUrl(
  env: Record<string, string>,
  protocol: ProtocolName,
  knownScheme: "http" | "https" | undefined,
): string {
  const https = env.HTTPS?.toLowerCase();
  const scheme = knownScheme ??
    (https === "on" || https === "1" ? "https" : env.REQUEST_SCHEME === "https" ? "https" : "http");
  let host = env.HTTP_HOST;
  if (!host || !HOST_PATTERN.test(host)) {
    const name = env.SERVER_NAME;
    const port = env.SERVER_PORT;
    host = name && HOST_PATTERN.test(name) ? name : "localhost";
    if (
      port && /^\d{1,5}$/.test(port) &&
      !((scheme === "http" && port === "80") || (scheme === "https" && port === "443")) &&
      !host.includes(":")
    ) host += `:${port}`;
  }
  let target = env.REQUEST_URI;
  if (target) {
    // An absolute-form request target ("GET http://host/path") keeps only its path.
    if (!target.startsWith("/")) {
      const match = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(target);
      target = match ? (match[1] || "/") : target === "*" ? "/*" : `/${target}`;
    }
  } else {
    // SCRIPT_NAME and PATH_INFO are decoded; escape them back for the URL.
    const path = encodePath((env.SCRIPT_NAME ?? "") + (env.PATH_INFO ?? "")) || "/";
    const query = env.QUERY_STRING;
    target = query ? `${path}?${query}` : path;
  }
  const text = `${scheme}://${host}${target}`;
  try {
    return new URL(text).href;
  } catch (cause) {
    throw new ProtocolError(`Cannot rebuild request URL from "${text}"`, { protocol, cause });
  }
}

function encodePath(path: string): string {
  const encoded = encodeURI(path).replaceAll("?", "%3F").replaceAll("#", "%23");
  return encoded.startsWith("/") || encoded === "" ? encoded : `/${encoded}`;
}

function remoteAddress(env: Record<string, string>): Deno.NetAddr | null {
  const hostname = env.REMOTE_ADDR;
  if (!hostname) return null;
  const port = Number(env.REMOTE_PORT ?? 0);
  return { transport: "tcp", hostname, port: Number.isInteger(port) ? port : 0 };
}

/** `true` when the request can carry a body a handler should see (not GET/HEAD, length != 0). */
export function expectsBody(head: CgiRequestHead): boolean {
  return head.method !== "GET" && head.method !== "HEAD" && head.contentLength !== 0;
}

/**
 * Makes the `Request`.
 *
 * @throws {ProtocolError} On a method the Fetch standard forbids (CONNECT, TRACE, TRACK) or an
 * invalid method token.
 */
export function createRequest(
  head: CgiRequestHead,
  body: ReadableStream<Uint8Array> | null,
  signal: AbortSignal,
  protocol: ProtocolName,
): Request {
  try {
    return new Request(head.url, {
      method: head.method,
      headers: head.headers,
      body,
      signal,
      ...(body ? { duplex: "half" } : {}),
    } as RequestInit);
  } catch (cause) {
    throw new ProtocolError(`Cannot accept request: method is "${head.method}"`, {
      protocol,
      cause,
    });
  }
}
