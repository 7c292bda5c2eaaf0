// The end-to-end flavors benchmark: the CPU-bound hash_app.ts behind nginx (FastCGI, upstream
// keepalive) served in-process, by a thread pool and by a fork pool, loaded with wrk.
//
//   deno run -A bench/flavors/run.ts [seconds] [connections] [flavor...]
//
// flavor: inprocess, thread, thread-reuseport, thread-dispatch, fork, fork-reuseport,
// fork-dispatch (default: inprocess thread fork). Prints one line per flavor.

import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { serveForks } from "../../server/fork.ts";
import { serveThreads } from "../../server/thread.ts";
import type { GatewayServer } from "../../server/types.ts";
import { startNginx } from "../../tests/_helpers/frontends.ts";
import app from "./hash_app.ts";

const seconds = Number(Deno.args[0] ?? 10);
const connections = Number(Deno.args[1] ?? 4);
const flavors = Deno.args.slice(2).length ? Deno.args.slice(2) : ["inprocess", "thread", "fork"];
const module = new URL("./hash_app.ts", import.meta.url);
const quiet = { log: () => {} };

function start(flavor: string): GatewayServer {
  const [kind, balance] = flavor.split("-") as [string, string | undefined];
  const pool = {
    module,
    port: 0,
    workers: 2,
    ...quiet,
    ...(balance === "reuseport"
      ? { balance: "reusePort" as const }
      : balance === "dispatch"
      ? { balance: "dispatch" as const }
      : {}),
  };
  if (kind === "inprocess") return serveFastCgi(app, { port: 0, ...quiet });
  if (kind === "thread") return serveThreads(pool);
  if (kind === "fork") return serveForks(pool);
  throw new TypeError(`unknown flavor "${flavor}"`);
}

for (const flavor of flavors) {
  const server = start(flavor);
  const addr = await server.ready;
  if (addr.transport !== "tcp") throw new TypeError("not TCP");
  const nginx = await startNginx({
    backend: { protocol: "fastcgi", hostname: "127.0.0.1", port: addr.port },
    keepConn: true,
  });
  try {
    // Warm up (JIT, nginx keepalive connections), then measure.
    await new Deno.Command("wrk", {
      args: ["-t1", `-c${connections}`, "-d2s", `${nginx.origin}/`],
      stdout: "null",
    }).output();
    const output = await new Deno.Command("wrk", {
      args: ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", `${nginx.origin}/`],
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(text)?.[1];
    const p50 = /50%\s+(\S+)/.exec(text)?.[1];
    const p99 = /99%\s+(\S+)/.exec(text)?.[1];
    const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(text)?.[0] ?? "none";
    console.log(`${flavor.padEnd(16)} ${rps} req/s  p50 ${p50}  p99 ${p99}  errors: ${errors}`);
  } finally {
    await nginx.stop();
    await server.shutdown();
  }
}
