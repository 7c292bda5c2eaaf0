// One gateway server of the end-to-end benchmark, in its own process so that its peak RSS and
// its CPU time can be read from /proc. run.ts starts it:
//
//   deno run --allow-all bench/e2e/server.ts PROTOCOL ADDRESS FLAVOR WORKERS [AJP_SECRET]
//
// PROTOCOL: fastcgi, scgi or ajp. ADDRESS: HOST:PORT or unix:/PATH. FLAVOR: inprocess,
// thread or fork. It serves app.ts until SIGTERM or SIGINT, then drains and exits 0. Only the
// server it runs is imported, as an app that uses one gateway would.

import type { GatewayServer, ListenOptions } from "../../server/types.ts";

const [protocolText, address, flavor = "inprocess", workersText = "2", secret] = Deno.args;
const workers = Number(workersText);
const PROTOCOLS = ["fastcgi", "scgi", "ajp"] as const;
const protocol = PROTOCOLS.find((name) => name === protocolText);
if (protocol === undefined) {
  throw new TypeError(`Cannot start: protocol "${protocolText}" is not fastcgi, scgi or ajp`);
}
if (address === undefined) throw new TypeError("Cannot start: no address");

function listenOptions(text: string): ListenOptions {
  if (text.startsWith("unix:")) return { path: text.slice(5) };
  const colon = text.lastIndexOf(":");
  return { hostname: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}

const controller = new AbortController();
const common = {
  ...listenOptions(address),
  signal: controller.signal,
  ...(secret !== undefined ? { secret } : {}),
  // Warnings and errors only: a benchmark run must not be slowed by its own logging.
  log: (level: string, message: string) => {
    if (level === "warn" || level === "error") console.error(`${level}: ${message}`);
  },
};

async function start(): Promise<GatewayServer> {
  if (flavor === "thread" || flavor === "fork") {
    const pool = {
      ...common,
      module: new URL("./app.ts", import.meta.url),
      protocol: protocol!,
      workers,
    };
    if (flavor === "thread") return (await import("../../server/thread.ts")).serveThreads(pool);
    return (await import("../../server/fork.ts")).serveForks(pool);
  }
  if (flavor !== "inprocess") {
    throw new TypeError(`Cannot start: flavor "${flavor}" is not inprocess, thread or fork`);
  }
  const app = (await import("./app.ts")).default;
  if (protocol === "fastcgi") {
    return (await import("../../server/fastcgi/server.ts")).serveFastCgi(app, common);
  }
  if (protocol === "scgi") {
    return (await import("../../server/scgi/server.ts")).serveScgi(app, common);
  }
  return (await import("../../server/ajp/server.ts")).serveAjp(app, common);
}

const server = await start();
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => controller.abort());
}
await server.ready;
await server.finished;
Deno.exit(0);
