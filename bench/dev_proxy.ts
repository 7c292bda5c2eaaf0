// `flup dev` against Deno.serve, in one run: the same app (examples/hello.ts) answered directly
// by Deno.serve, then through `flup dev` (Deno.serve front -> FastCGI client -> Unix socket,
// kept-alive connections -> serveFastCgi -> the app). wrk: 1 thread, 50 connections, a warm-up,
// then a measured run. The target: the proxied path keeps at least 40% of the direct req/s.
//
//   deno run -A bench/dev_proxy.ts [--seconds 10] [--warmup 2] [--connections 50]
//                                  [--flavor thread|inprocess] [--scgi] [--profile DIR]
//                                  [--v8-flags FLAGS]
//
// Needs wrk (Debian package). Prints the machine, the load average before and after, a Markdown
// table, and the CPU each side spent per request during the measured run (from /proc: the
// server's threads by name, wrk as a reaped child), which does not depend on how busy the
// machine is. `--profile DIR` runs each server with `--cpu-prof` into DIR/direct, DIR/dev (one
// .cpuprofile for the front, one for the app's Worker) and DIR/floor; `--v8-flags FLAGS` runs
// flup dev with them (for experiments such as `--max-semi-space-size=32`). Every process it
// starts is stopped before it exits.

import { fromFileUrl } from "@std/path";

const ROOT = fromFileUrl(new URL("..", import.meta.url));
const APP = "examples/hello.ts";
const TARGET = 0.4;
const START_TIMEOUT_MS = 15_000;
const WRK_GRACE_MS = 20_000;
/** Clock ticks per second of /proc's times (`getconf CLK_TCK`, 100 on Linux). */
const CLOCK_TICKS = 100;

if (Deno.args[0] === "--direct" || Deno.args[0] === "--floor") {
  // A clean exit on SIGTERM, so that --cpu-prof writes its profile.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
if (Deno.args[0] === "--direct") {
  // Child mode: the direct baseline, Deno.serve with the app's own fetch.
  const app = (await import(new URL(`../${APP}`, import.meta.url).href)).default as {
    fetch: (request: Request) => Response | Promise<Response>;
  };
  Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[1]), onListen() {} }, app.fetch);
} else if (Deno.args[0] === "--echo") {
  // Child mode: a Unix socket echo server (the floor's backend, which does no work at all).
  const listener = Deno.listen({ transport: "unix", path: Deno.args[1]! });
  for await (const conn of listener) {
    (async () => {
      const buffer = new Uint8Array(65536);
      try {
        while (true) {
          const count = await conn.read(buffer);
          if (count === null) break;
          let at = 0;
          while (at < count) at += await conn.write(buffer.subarray(at, count));
        }
      } catch { /* client gone */ }
      conn.close();
    })();
  }
} else if (Deno.args[0] === "--floor") {
  // Child mode: the floor of any proxy here: Deno.serve plus one round trip of 400 bytes over a
  // kept Unix connection per request (to the echo child), answering the app's text itself.
  const path = Deno.args[2]!;
  const idle: Deno.Conn[] = [];
  const question = new Uint8Array(400);
  Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[1]), onListen() {} }, async () => {
    const conn = idle.pop() ?? await Deno.connect({ transport: "unix", path });
    await conn.write(question);
    const answer = new Uint8Array(4096);
    let got = 0;
    while (got < question.length) got += (await conn.read(answer)) ?? question.length;
    idle.push(conn);
    return new Response("Hello, world! You asked for /\n");
  });
} else {
  await main();
}

interface Result {
  rps: number;
  p99: string;
  errors: number;
  /** Requests completed in the measured run. */
  requests: number;
  /** CPU µs per request in the measured run, by side (server threads by name, and wrk). */
  cpu: Record<string, number>;
}

/** CPU ticks (user + system) of each thread group of process `pid`. */
function threadTicks(pid: number): Record<string, number> {
  const ticks: Record<string, number> = {};
  let tasks: Iterable<Deno.DirEntry>;
  try {
    tasks = Deno.readDirSync(`/proc/${pid}/task`);
  } catch {
    return ticks;
  }
  for (const task of tasks) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/stat`);
      // Fields after the ")" that ends the command name: utime and stime are 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const group = task.name === String(pid)
        ? "main thread"
        : comm.startsWith("worker")
        ? "app Worker"
        : comm.startsWith("V8")
        ? "V8 helpers"
        : "runtime (tokio)";
      ticks[group] = (ticks[group] ?? 0) + Number(fields[11]) + Number(fields[12]);
    } catch { /* the thread ended */ }
  }
  return ticks;
}

/** CPU ticks of this process's reaped children (wrk, once awaited). */
function childTicks(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[13]) + Number(fields[14]);
}

function option(name: string, fallback: string): string {
  const at = Deno.args.indexOf(name);
  return at >= 0 ? Deno.args[at + 1] ?? fallback : fallback;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

async function waitForPort(port: number, child: Deno.ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let exited = false;
  child.status.then(() => exited = true);
  while (Date.now() < deadline && !exited) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms`);
}

async function stop(child: Deno.ChildProcess, signal: Deno.Signal): Promise<void> {
  try {
    child.kill(signal);
  } catch { /* already gone */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = await Promise.race([
    child.status.then(() => false),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), 15_000)),
  ]);
  clearTimeout(timer);
  if (late) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
  }
}

async function wrk(
  url: string,
  seconds: number,
  connections: number,
): Promise<Omit<Result, "cpu">> {
  const command = new Deno.Command("wrk", {
    args: ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", url],
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), seconds * 1000 + WRK_GRACE_MS);
  const output = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(output.stdout);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const p99 = /\s99%\s+(\S+)/.exec(text)?.[1] ?? "?";
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = non2xx + (socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  if (!Number.isFinite(rps)) throw new Error(`wrk printed no Requests/sec:\n${text}`);
  return { rps, p99, errors, requests };
}

async function measure(
  label: string,
  start: (port: number) => Deno.ChildProcess,
  signal: Deno.Signal,
  seconds: number,
  warmup: number,
  connections: number,
  backend: Deno.ChildProcess | null = null,
): Promise<Result> {
  const port = freePort();
  const child = start(port);
  try {
    await waitForPort(port, child);
    const url = `http://127.0.0.1:${port}/`;
    const check = await fetch(url);
    const text = await check.text();
    if (check.status !== 200) throw new Error(`${label}: status ${check.status}: ${text}`);
    if (warmup > 0) await wrk(url, warmup, connections);
    const total = (ticks: Record<string, number>) =>
      Object.values(ticks).reduce((sum, n) => sum + n, 0);
    const serverBefore = threadTicks(child.pid);
    const backendBefore = backend ? total(threadTicks(backend.pid)) : 0;
    const wrkBefore = childTicks();
    const result = await wrk(url, seconds, connections);
    const serverAfter = threadTicks(child.pid);
    const backendAfter = backend ? total(threadTicks(backend.pid)) : 0;
    const perRequest = (ticks: number) => ticks / CLOCK_TICKS * 1e6 / result.requests;
    const cpu: Record<string, number> = {};
    for (const [group, ticks] of Object.entries(serverAfter)) {
      cpu[group] = perRequest(ticks - (serverBefore[group] ?? 0));
    }
    if (backend) cpu["echo process"] = perRequest(backendAfter - backendBefore);
    cpu.wrk = perRequest(childTicks() - wrkBefore);
    return { ...result, cpu };
  } finally {
    await stop(child, signal);
  }
}

function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

async function main(): Promise<void> {
  const seconds = Number(option("--seconds", "10"));
  const warmup = Number(option("--warmup", "2"));
  const connections = Number(option("--connections", "50"));
  const flavor = option("--flavor", "thread");
  const scgi = Deno.args.includes("--scgi");
  const profile = option("--profile", "");
  const v8Flags = option("--v8-flags", "");
  const cpuProf = (name: string): string[] =>
    profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}/${name}`] : [];
  const deno = Deno.execPath();
  const loadBefore = loadAverage();
  const spawn = (args: string[]) =>
    new Deno.Command(deno, { args, cwd: ROOT, stdin: "null", stdout: "null", stderr: "inherit" })
      .spawn();
  const direct = await measure(
    "Deno.serve",
    (port) =>
      spawn(["run", "-A", ...cpuProf("direct"), "bench/dev_proxy.ts", "--direct", String(port)]),
    "SIGTERM",
    seconds,
    warmup,
    connections,
  );
  const proxied = await measure(
    "flup dev",
    (port) =>
      spawn([
        "run",
        "-A",
        "--unstable-no-legacy-abort",
        ...cpuProf("dev"),
        ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
        "cli/dev.ts",
        APP,
        "--port",
        String(port),
        "--flavor",
        flavor,
        ...(scgi ? ["--scgi"] : []),
      ]),
    "SIGINT",
    seconds,
    warmup,
    connections,
  );
  // The floor: what Deno.serve keeps when each request makes one Unix round trip to a backend
  // that does nothing, the most any FastCGI proxy could keep on this machine.
  const dir = await Deno.makeTempDir({ prefix: "flup_bench_floor_" });
  const echoPath = `${dir}/echo.sock`;
  const echo = spawn(["run", "-A", "bench/dev_proxy.ts", "--echo", echoPath]);
  let floor: Result;
  try {
    for (let i = 0; i < 200; i++) {
      try {
        (await Deno.connect({ transport: "unix", path: echoPath })).close();
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    floor = await measure(
      "floor",
      (port) =>
        spawn([
          "run",
          "-A",
          ...cpuProf("floor"),
          "bench/dev_proxy.ts",
          "--floor",
          String(port),
          echoPath,
        ]),
      "SIGTERM",
      seconds,
      warmup,
      connections,
      echo,
    );
  } finally {
    await stop(echo, "SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
  const ratio = proxied.rps / direct.rps;
  const protocol = scgi ? "SCGI" : "FastCGI";
  console.log(`date: ${new Date().toISOString()}`);
  console.log(`nproc: ${navigator.hardwareConcurrency}, deno ${Deno.version.deno}`);
  console.log(`load average before: ${loadBefore}, after: ${loadAverage()}`);
  console.log(
    `command: wrk -t1 -c${connections} -d${seconds}s after a ${warmup}s warm-up, ${APP}`,
  );
  console.log("");
  console.log("| Path | req/s | p99 | errors |");
  console.log("| --- | ---: | ---: | ---: |");
  console.log(
    `| Deno.serve direct | ${direct.rps.toFixed(0)} | ${direct.p99} | ${direct.errors} |`,
  );
  console.log(
    `| flup dev (${protocol}, Unix socket, keep-alive, app ${flavor}) | ` +
      `${proxied.rps.toFixed(0)} | ${proxied.p99} | ${proxied.errors} |`,
  );
  console.log(
    `| floor: Deno.serve + one Unix round trip to an echo process | ` +
      `${floor.rps.toFixed(0)} | ${floor.p99} | ${floor.errors} |`,
  );
  console.log("");
  console.log("CPU µs per request in the measured run, by side:");
  const sides = [["direct", direct], ["flup dev", proxied], ["floor", floor]] as const;
  for (const [label, result] of sides) {
    const parts = Object.entries(result.cpu).filter(([, us]) => us >= 0.05)
      .map(([group, us]) => `${group} ${us.toFixed(1)}`);
    const total = Object.values(result.cpu).reduce((sum, us) => sum + us, 0);
    console.log(`  ${label}: ${total.toFixed(1)} total = ${parts.join(", ")}`);
  }
  console.log("");
  console.log(`floor / direct = ${(floor.rps / direct.rps * 100).toFixed(1)}%`);
  console.log(
    `proxied / direct = ${(ratio * 100).toFixed(1)}% (target >= ${TARGET * 100}%): ` +
      (ratio >= TARGET ? "met" : "NOT met"),
  );
}
