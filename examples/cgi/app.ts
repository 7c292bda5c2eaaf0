/**
 * A CGI script: serves the one request of this process with `serveCgi` and exits. The web
 * server runs it through the executable wrapper `hello.cgi` (see the README next to it).
 *
 *     REQUEST_METHOD=GET REQUEST_URI=/hi?x=1 HTTP_HOST=example.test \
 *       deno run --no-prompt --allow-env examples/cgi/app.ts
 *
 * @module
 */

import { serveCgi } from "../../server/cgi/mod.ts";
import type { GatewayInfo } from "../../server/types.ts";

/** The app, in the `deno serve` shape, so it also runs under every other gateway. */
export const app = {
  async fetch(request: Request, info: GatewayInfo): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/fail")) throw new Error("example failure: details stay in the log");
    const body = request.body ? `${(await request.bytes()).length} bytes received\n` : "";
    return new Response(
      `Hello from ${info.protocol}! ${request.method} ${url.pathname}${url.search}\n${body}`,
      { headers: { "content-type": "text/plain; charset=utf-8" } },
    );
  },
};

if (import.meta.main) await serveCgi(app);
