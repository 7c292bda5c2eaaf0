// One run of the end-to-end benchmark: what it holds open (stopped on any exit), the nginx
// sites, the backends, and one measured case.

import { join } from "@std/path";
import { apacheConf, type NginxSite, phpFpmConf } from "./_configs.ts";
import {
  AJP_SECRET,
  type Backend,
  type Case,
  HERE,
  PHP_CHILDREN,
  PHP_FPM,
  type SiteName,
} from "./_cases.ts";
import {
  cpuSeconds,
  findExecutable,
  freePort,
  type Managed,
  peakRss,
  spawnManaged,
  waitAccepting,
} from "./_processes.ts";
import type { Result } from "./_report.ts";
import type { Settings } from "./_settings.ts";
import { runWrk, type Stoppable } from "./_wrk.ts";

/** What a run holds open, so that any exit stops it. */
export class Run implements AsyncDisposable {
  readonly dir: string;
  readonly settings: Settings;
  readonly abort = new AbortController();
  readonly ports: Record<string, number> = {};
  #running = new Set<Stoppable>();
  #nginx: Managed | null = null;

  constructor(dir: string, settings: Settings) {
    this.dir = dir;
    this.settings = settings;
    // An interrupt or the timeout stops what runs now (wrk included), not after it.
    this.abort.signal.addEventListener("abort", () => {
      for (const process of this.#running) process.stop().catch(() => {});
    });
  }

  get unixPath(): string {
    return join(this.dir, "flup.sock");
  }

  /** The nginx error log (nginx.conf names the same file in `dir`). */
  get nginxErrorLog(): string {
    return join(this.dir, "nginx-error.log");
  }

  port(name: string): number {
    return this.ports[name] ??= freePort();
  }

  checkAborted(): void {
    if (this.abort.signal.aborted) throw this.abort.signal.reason;
  }

  track = (process: Stoppable | null, previous?: Stoppable): void => {
    if (previous) this.#running.delete(previous);
    if (process) this.#running.add(process);
  };

  /** Starts a process and waits until `address` accepts connections. */
  async start(
    name: string,
    command: string,
    args: string[],
    address: string,
    options: { cwd?: string } = {},
  ): Promise<Managed> {
    this.checkAborted();
    const process = spawnManaged(name, command, args, options);
    this.#running.add(process);
    const ready = await waitAccepting(
      address,
      this.settings.startTimeout * 1000,
      () => process.exited !== null || this.abort.signal.aborted,
    );
    if (!ready) {
      await this.stop(process);
      this.checkAborted();
      const why = process.exited
        ? `it exited with code ${process.exited.code}`
        : `start-timeout (${this.settings.startTimeout} s) reached`;
      throw new Error(`Cannot start ${name} on ${address}: ${why}\n${process.stderr}`);
    }
    return process;
  }

  async stop(process: Managed): Promise<void> {
    await process.stop();
    this.#running.delete(process);
  }

  set nginx(process: Managed) {
    this.#nginx = process;
  }

  get nginx(): Managed | null {
    return this.#nginx;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.#running].map((process) => process.stop()));
    this.#running.clear();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The nginx server blocks, one per site that the chosen cases use. */
export function nginxSites(run: Run, sites: Set<SiteName>): NginxSite[] {
  const www = join(run.dir, "www");
  const flupTcp = `127.0.0.1:${run.port("flup")}`;
  const php = `127.0.0.1:${run.port("php")}`;
  const fastcgi = (backend: string, keepalive: number, streamRequestBody = false) => ({
    kind: "fastcgi" as const,
    backend,
    keepalive,
    streamRequestBody,
    root: www,
  });
  // Upstream keepalive: flup takes every connection nginx opens (as many as wrk's). php-fpm
  // serves one connection per child for as long as nginx keeps it, so the idle connections of
  // all nginx workers together must not outnumber its 2 children, or a child sits on an idle
  // connection while requests wait on another (seen: p99 of seconds, req/s in the hundreds).
  const flupKeep = Math.max(run.settings.connections, 8);
  const workers = run.settings.nginxWorkers === "auto"
    ? navigator.hardwareConcurrency
    : run.settings.nginxWorkers;
  const phpKeep = Math.max(1, Math.floor(PHP_CHILDREN / workers));
  const all: Record<Exclude<SiteName, "apache">, DistributiveOmit<NginxSite, "port">> = {
    return: { kind: "return" },
    php: fastcgi(php, 0),
    "php-keep": fastcgi(php, phpKeep),
    "php-stream": fastcgi(php, 0, true),
    tcp: fastcgi(flupTcp, 0),
    "tcp-keep": fastcgi(flupTcp, flupKeep),
    "tcp-stream": fastcgi(flupTcp, flupKeep, true),
    unix: fastcgi(`unix:${run.unixPath}`, 0),
    "unix-keep": fastcgi(`unix:${run.unixPath}`, flupKeep),
    scgi: {
      kind: "scgi",
      backend: `127.0.0.1:${run.port("scgi")}`,
      keepalive: 0,
      streamRequestBody: false,
      root: www,
    },
  };
  const result: NginxSite[] = [];
  for (const [name, site] of Object.entries(all)) {
    if (sites.has(name as SiteName)) {
      result.push({ ...site, port: run.port(`site:${name}`) } as NginxSite);
    }
  }
  return result;
}

/** `--v8-flags=...` for the Deno servers, when `--server-v8-flags` was given. */
function v8Flags(run: Run): string[] {
  return run.settings.serverV8Flags ? [`--v8-flags=${run.settings.serverV8Flags}`] : [];
}

/** Starts the case's backend; returns the processes whose RSS counts and to stop. */
async function startBackend(run: Run, backend: Backend): Promise<Managed | null> {
  if (backend.kind === "none") return null;
  if (backend.kind === "php") {
    const conf = join(run.dir, "php-fpm.conf");
    await Deno.writeTextFile(conf, phpFpmConf(run.dir, run.port("php")));
    const args = ["-F", "-y", conf, ...(Deno.uid() === 0 ? ["-R"] : [])];
    return await run.start("php-fpm", PHP_FPM, args, `127.0.0.1:${run.port("php")}`);
  }
  if (backend.kind === "floor") {
    const address = `127.0.0.1:${run.port("flup")}`;
    const args = [
      "run",
      `--allow-net=${address}`,
      ...v8Flags(run),
      join(HERE, "floor_server.ts"),
      address,
    ];
    return await run.start("floor server", Deno.execPath(), args, address);
  }
  const address = backend.unix
    ? `unix:${run.unixPath}`
    : `127.0.0.1:${run.port(backend.protocol === "fastcgi" ? "flup" : backend.protocol)}`;
  const profile = run.settings.profile
    ? ["--cpu-prof", `--cpu-prof-dir=${run.settings.profile}`]
    : [];
  const args = [
    "run",
    "--allow-all",
    ...profile,
    ...v8Flags(run),
    join(HERE, "server.ts"),
    backend.protocol,
    address,
    backend.flavor,
    "2",
    ...(backend.protocol === "ajp" ? [AJP_SECRET] : []),
  ];
  return await run.start(
    `flup ${backend.protocol} ${backend.flavor}`,
    Deno.execPath(),
    args,
    address,
  );
}

export async function runCase(run: Run, item: Case): Promise<Result> {
  const backend = await startBackend(run, item.backend);
  let apache: Managed | null = null;
  try {
    let origin: string;
    if (item.site === "apache") {
      const port = run.port("apache");
      const conf = join(run.dir, "httpd.conf");
      await Deno.writeTextFile(
        conf,
        apacheConf(run.dir, port, `127.0.0.1:${run.port("ajp")}`, AJP_SECRET),
      );
      apache = await run.start(
        "apache2",
        findExecutable("apache2")!,
        ["-DFOREGROUND", "-d", run.dir, "-f", conf],
        `127.0.0.1:${port}`,
      );
      origin = `http://127.0.0.1:${port}`;
    } else {
      origin = `http://127.0.0.1:${run.port(`site:${item.site}`)}`;
    }
    const { settings } = run;
    let cpuBefore = 0;
    const wrk = await runWrk(`${origin}${item.path}`, {
      beforeMeasure: () => cpuBefore = backend ? cpuSeconds(backend.pid) : 0,
      connections: item.transfer
        ? settings.transferConnections ?? settings.connections
        : settings.connections,
      warmupSeconds: settings.warmup,
      seconds: settings.duration,
      timeoutSeconds: 30,
      track: (() => {
        let current: Stoppable | null = null;
        return (process: Stoppable | null) => {
          run.track(process, current ?? undefined);
          current = process;
        };
      })(),
      ...(item.transfer?.direction === "upload" ? { script: join(run.dir, "upload.lua") } : {}),
    });
    run.checkAborted();
    const rss = backend ? peakRss(backend.pid) : null;
    const cpu = backend ? cpuSeconds(backend.pid) - cpuBefore : 0;
    if (backend?.exited) throw new Error(`${backend.name} exited during the run`);
    const cpuPerRequestUs = backend && wrk.requests > 0 ? cpu * 1e6 / wrk.requests : null;
    return { case: item, wrk, rss, cpuPerRequestUs };
  } finally {
    if (apache) await run.stop(apache);
    if (backend) await run.stop(backend);
  }
}
