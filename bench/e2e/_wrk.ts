// Runs wrk (1 thread) against a URL, warm-up first, and reads its report.

import { settles } from "../../tests/_helpers/settles.ts";

/** Something running that an interrupt must stop. */
export interface Stoppable {
  /** Stops it (and what it started). */
  stop(): Promise<void>;
}

/** What one wrk run measured. */
export interface WrkResult {
  /** Completed requests. */
  requests: number;
  /** Requests per second. */
  rps: number;
  /** 99th percentile latency in milliseconds. */
  p99Ms: number;
  /** Non-2xx/3xx answers plus socket errors (connect, read, write, timeout). */
  errors: number;
}

/** How to load the URL. */
export interface WrkOptions {
  /** Concurrent connections. */
  connections: number;
  /** Seconds of warm-up, not measured (JIT, kept connections, php-fpm opcache). */
  warmupSeconds: number;
  /** Seconds measured. */
  seconds: number;
  /** A Lua script (e.g. a POST body), or none. */
  script?: string;
  /** Seconds after which wrk counts a request as timed out. */
  timeoutSeconds: number;
  /** Called after the warm-up, right before the measured run starts. */
  beforeMeasure?: () => void;
  /** Tracks the running wrk so an interrupt can stop it. */
  track: (process: Stoppable | null) => void;
}

/** Grace past the planned duration before a hung wrk is killed. */
const WRK_OVERRUN_MS = 15_000;

/** Runs wrk twice (warm-up, then measured) and returns the measured run. */
export async function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  if (options.warmupSeconds > 0) await wrk(url, options, options.warmupSeconds);
  options.beforeMeasure?.();
  return parseWrk(await wrk(url, options, options.seconds));
}

async function wrk(url: string, options: WrkOptions, seconds: number): Promise<string> {
  const args = [
    "-t1",
    `-c${options.connections}`,
    `-d${seconds}s`,
    `--timeout`,
    `${options.timeoutSeconds}s`,
    "--latency",
    ...(options.script ? ["-s", options.script] : []),
    url,
  ];
  // In its own session, like every process of the run: an interrupt stops it through `track`.
  const child = new Deno.Command("setsid", {
    args: ["wrk", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  options.track({ stop: () => killGroup(child.pid) });
  try {
    const output = child.output();
    if (!await settles(output, seconds * 1000 + WRK_OVERRUN_MS)) {
      killGroup(child.pid);
      throw new Error(`wrk did not finish within ${seconds} s + ${WRK_OVERRUN_MS} ms: ${url}`);
    }
    const { code, stdout, stderr } = await output;
    const text = new TextDecoder().decode(stdout);
    if (code !== 0) {
      throw new Error(`wrk exited with ${code}: ${new TextDecoder().decode(stderr)}${text}`);
    }
    return text;
  } finally {
    options.track(null);
  }
}

function killGroup(pid: number): Promise<void> {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // Gone.
  }
  return Promise.resolve();
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Reads wrk's report (with `--latency`). */
export function parseWrk(text: string): WrkResult {
  const requests = /(\d+) requests in /.exec(text);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(text);
  if (!requests || !rps || !p99) throw new Error(`Cannot read the wrk report:\n${text}`);
  let errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (socket) errors += socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  return {
    requests: Number(requests[1]),
    rps: Number(rps[1]),
    p99Ms: Number(p99[1]) * UNIT_MS[p99[2]!]!,
    errors,
  };
}
