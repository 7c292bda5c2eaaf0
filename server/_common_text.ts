// The CGI names and values front ends send with nearly every request, decoded from bytes by
// comparison with a table instead of being built char by char: shared by the FastCGI params
// decoder and the SCGI header-block decoder.

import { decodeText, textEncoder } from "./_text.ts";

/**
 * Names and values that front ends send with (nearly) every request: nginx's fastcgi_params,
 * Apache's and lighttpd's variables, common request headers, and frequent values. They are
 * decoded to these (internalized) strings by comparing bytes, which is cheaper than building a
 * string byte by byte, and makes the later `env[name]` lookups cheaper too.
 */
const COMMON_TEXT = [
  // nginx fastcgi_params / fastcgi.conf and scgi_params, Apache mod_proxy_fcgi and
  // mod_proxy_scgi, lighttpd mod_fastcgi and mod_scgi
  "SCGI",
  "SCRIPT_FILENAME",
  "QUERY_STRING",
  "REQUEST_METHOD",
  "CONTENT_TYPE",
  "CONTENT_LENGTH",
  "SCRIPT_NAME",
  "REQUEST_URI",
  "DOCUMENT_URI",
  "DOCUMENT_ROOT",
  "SERVER_PROTOCOL",
  "REQUEST_SCHEME",
  "HTTPS",
  "GATEWAY_INTERFACE",
  "SERVER_SOFTWARE",
  "REMOTE_ADDR",
  "REMOTE_PORT",
  "REMOTE_USER",
  "REMOTE_HOST",
  "SERVER_ADDR",
  "SERVER_PORT",
  "SERVER_NAME",
  "REDIRECT_STATUS",
  "PATH_INFO",
  "PATH_TRANSLATED",
  "AUTH_TYPE",
  "SERVER_ADMIN",
  "SERVER_SIGNATURE",
  "CONTEXT_PREFIX",
  "CONTEXT_DOCUMENT_ROOT",
  "PATH",
  "UNIQUE_ID",
  // Request headers
  "HTTP_HOST",
  "HTTP_USER_AGENT",
  "HTTP_ACCEPT",
  "HTTP_ACCEPT_ENCODING",
  "HTTP_ACCEPT_LANGUAGE",
  "HTTP_CONNECTION",
  "HTTP_COOKIE",
  "HTTP_REFERER",
  "HTTP_ORIGIN",
  "HTTP_CACHE_CONTROL",
  "HTTP_PRAGMA",
  "HTTP_CONTENT_TYPE",
  "HTTP_CONTENT_LENGTH",
  "HTTP_AUTHORIZATION",
  "HTTP_UPGRADE_INSECURE_REQUESTS",
  "HTTP_IF_NONE_MATCH",
  "HTTP_IF_MODIFIED_SINCE",
  "HTTP_X_FORWARDED_FOR",
  "HTTP_X_FORWARDED_PROTO",
  "HTTP_X_FORWARDED_HOST",
  "HTTP_X_REAL_IP",
  "HTTP_X_REQUESTED_WITH",
  "HTTP_SEC_FETCH_SITE",
  "HTTP_SEC_FETCH_MODE",
  "HTTP_SEC_FETCH_USER",
  "HTTP_SEC_FETCH_DEST",
  "HTTP_SEC_CH_UA",
  "HTTP_SEC_CH_UA_MOBILE",
  "HTTP_SEC_CH_UA_PLATFORM",
  "HTTP_PRIORITY",
  "HTTP_DNT",
  "HTTP_TE",
  // Values
  "GET",
  "POST",
  "HEAD",
  "PUT",
  "DELETE",
  "HTTP/1.0",
  "HTTP/1.1",
  "HTTP/2.0",
  "CGI/1.1",
  "http",
  "https",
  "on",
  "1",
  "200",
  "80",
  "443",
  "127.0.0.1",
  "::1",
  "localhost",
  "keep-alive",
  "close",
  "*/*",
  "/",
  "gzip, deflate",
  "gzip, deflate, br",
  "gzip, deflate, br, zstd",
  "application/x-www-form-urlencoded",
  "application/json",
] as const;

/** {@linkcode COMMON_TEXT} by length, first and last byte: a key of {@linkcode commonKey}. */
const COMMON_BY_KEY: ReadonlyMap<number, readonly (readonly [Uint8Array, string])[]> = (() => {
  const table = new Map<number, [Uint8Array, string][]>();
  for (const text of COMMON_TEXT) {
    const bytes = textEncoder.encode(text);
    const key = commonKey(bytes, 0, bytes.length);
    const list = table.get(key) ?? [];
    list.push([bytes, text]);
    table.set(key, list);
  }
  return table;
})();

function commonKey(bytes: Uint8Array, start: number, end: number): number {
  return ((end - start) << 16) | (bytes[start]! << 8) | bytes[end - 1]!;
}

/**
 * {@linkcode decodeText}, answering the common names and values from a table.
 *
 * @param bytes The buffer.
 * @param start Where the text starts.
 * @param end Where it ends (exclusive).
 * @returns The text; a common one as the table's (internalized) string.
 */
export function decodeCommonText(bytes: Uint8Array, start: number, end: number): string {
  if (start === end) return "";
  const candidates = COMMON_BY_KEY.get(commonKey(bytes, start, end));
  if (candidates !== undefined) {
    next: for (const [known, text] of candidates) {
      for (let i = known.length - 2; i > 0; i--) {
        if (known[i] !== bytes[start + i]) continue next;
      }
      return text;
    }
  }
  return decodeText(bytes, start, end);
}
