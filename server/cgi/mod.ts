/**
 * CGI (RFC 3875): serve a Fetch handler as a CGI script under Apache `mod_cgi`/`mod_cgid`,
 * lighttpd `mod_cgi` or any CGI/1.1 web server. Each request is one process: the environment
 * and standard input make the `Request`, standard output gets the response. The command line
 * is never read as input.
 *
 * A FastCGI program can serve CGI too: {@linkcode shouldServeCgi} tells, at start, whether
 * the process was started as a CGI script (standard input is not a socket, or
 * `FCGI_FORCE_CGI=Y`), so one `.fcgi` script runs under both kinds of hosting.
 *
 * Run the script with `--allow-env` (the whole environment is read) and the app's own
 * permissions; see `examples/cgi/` for a wrapper the web server can execute.
 *
 * @example Serve one request from given variables
 * ```ts
 * import { serveCgi } from "@flup/flup/cgi";
 * import { assertEquals } from "@std/assert";
 *
 * let text = "";
 * await serveCgi((request) => new Response(new URL(request.url).search), {
 *   env: { REQUEST_METHOD: "GET", SCRIPT_NAME: "/app.cgi", QUERY_STRING: "a=1" },
 *   stdout: new WritableStream({ write: (chunk) => void (text += new TextDecoder().decode(chunk)) }),
 * });
 * assertEquals(text.endsWith("\r\n\r\n?a=1"), true);
 * ```
 *
 * @module
 */

export { type CgiServeOptions, serveCgi, shouldServeCgi } from "./server.ts";
