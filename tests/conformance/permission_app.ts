// Serves a hello handler on the address in Deno.args[0] ("PORT" or "unix:PATH") and prints
// "ready". The permission test runs it with only the flags the README promises.

import { serveFastCgi } from "../../server/fastcgi/server.ts";

const where = Deno.args[0] ?? "";
const server = serveFastCgi(
  (request) => new Response(`permission ok ${new URL(request.url).pathname}`),
  where.startsWith("unix:") ? { path: where.slice(5) } : { port: Number(where) },
);
await server.ready;
console.log("ready");
