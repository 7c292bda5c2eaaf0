/**
 * Hello world in the `deno serve` shape: runs unchanged under `deno serve`, `Deno.serve` and
 * every flup gateway.
 *
 *     deno run --allow-net=127.0.0.1:9000 cli.ts serve examples/hello.ts --fastcgi 127.0.0.1:9000
 *
 * @module
 */

export default {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    return new Response(`Hello, world! You asked for ${url.pathname}${url.search}\n`, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  },
};
