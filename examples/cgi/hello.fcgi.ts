/**
 * One script for both kinds of hosting, as flup's `.fcgi` scripts: a FastCGI front end that
 * spawns it with its listening socket on fd 0 (lighttpd `bin-path`, mod_fcgid, spawn-fcgi) gets
 * a FastCGI server; a CGI web server (standard input is a pipe or `/dev/null`), or
 * `FCGI_FORCE_CGI=Y`, gets the one request served as CGI.
 *
 *     deno run --no-prompt --allow-env examples/cgi/hello.fcgi.ts
 *
 * @module
 */

import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { app } from "./app.ts";

// With fd 0 a listening socket this is a FastCGI server; otherwise (or with FCGI_FORCE_CGI=Y)
// serveFastCgi serves the one CGI request and returns.
serveFastCgi(app, { fd: 0 });
