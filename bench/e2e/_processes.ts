// Processes of the end-to-end benchmark: each started in its own session (so stopping it also
// stops its workers and children), stopped with SIGTERM then SIGKILL to the whole group, its
// stderr kept (the last 64 KiB) for error messages, and its peak RSS read from /proc.

import { settles } from "../../tests/_helpers/settles.ts";

const STDERR_KEEP = 65536;

/** A process the benchmark started; `stop()` ends it and everything it started. */
export class Managed {
  /** What it is, for messages. */
  readonly name: string;
  /** The process id (the leader of its own process group). */
  readonly pid: number;
  /** Settles when the process has exited. */
  readonly status: Promise<Deno.CommandStatus>;
  #exited: Deno.CommandStatus | null = null;
  #stderr = "";
  #collecting: Promise<void>;
  #stopping: Promise<void> | null = null;

  constructor(name: string, child: Deno.ChildProcess) {
    this.name = name;
    this.pid = child.pid;
    this.status = child.status.then((status) => this.#exited = status);
    this.#collecting = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true })).slice(
          -STDERR_KEEP,
        );
      }
    })().catch(() => {});
  }

  /** `null` while running, else how it ended. */
  get exited(): Deno.CommandStatus | null {
    return this.#exited;
  }

  /** The last 64 KiB the process wrote to stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /**
   * Stops the process: SIGTERM, then after `graceMs` SIGKILL to its whole process group, and
   * SIGKILL to the group once more for leftovers (workers, children). Calling it again waits
   * for the first stop.
   */
  stop(graceMs = 5000): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#exited === null) signal(this.pid, "SIGTERM");
      if (!await settles(this.status, graceMs)) signal(-this.pid, "SIGKILL");
      await this.status;
      signal(-this.pid, "SIGKILL");
      await settles(this.#collecting, graceMs);
    })();
    return this.#stopping;
  }
}

/**
 * Starts `command` in a new session (`setsid`, which execs it: the pid is the command's own),
 * with stdin and stdout discarded and stderr kept.
 */
export function spawnManaged(
  name: string,
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Managed {
  const child = new Deno.Command("setsid", {
    args: [command, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
  }).spawn();
  return new Managed(name, child);
}

/** Sends a signal, ignoring a process (group) that is already gone. */
export function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // Already exited.
  }
}

/** The ids of `pid` and all its descendants that are alive now (from /proc/<id>/stat). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // gone
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry.name));
    children.set(ppid, list);
  }
  const found = [pid];
  for (let i = 0; i < found.length; i++) found.push(...(children.get(found[i]!) ?? []));
  return found;
}

/**
 * Peak resident set size in bytes of `pid` and its descendants: the sum of their `VmHWM`
 * (a child's shared pages are counted in each process, as `ps` does).
 */
export function peakRss(pid: number): number {
  let total = 0;
  for (const id of processTree(pid)) {
    try {
      const status = Deno.readTextFileSync(`/proc/${id}/status`);
      const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // Gone.
    }
  }
  return total;
}

/** Clock ticks per second of /proc/<id>/stat times (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time in seconds (user + system) that `pid` and its live descendants have used so far
 * (from /proc/<id>/stat; children that already exited are not counted).
 */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const id of processTree(pid)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${id}/stat`);
      // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone.
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** Waits until `address` (`HOST:PORT` or `unix:/PATH`) accepts a connection. */
export async function waitAccepting(
  address: string,
  timeoutMs: number,
  giveUp: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!giveUp() && Date.now() < deadline) {
    try {
      const conn = address.startsWith("unix:")
        ? await Deno.connect({ transport: "unix", path: address.slice(5) })
        : await Deno.connect({
          transport: "tcp",
          hostname: address.slice(0, address.lastIndexOf(":")),
          port: Number(address.slice(address.lastIndexOf(":") + 1)),
        });
      conn.close();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return false;
}

/** Finds an executable by absolute path or on PATH plus the sbin folders; `null` if absent. */
export function findExecutable(name: string): string | null {
  const dirs = name.startsWith("/") ? [""] : [
    ...(Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== ""),
    "/usr/sbin",
    "/sbin",
    "/usr/local/sbin",
  ];
  for (const dir of dirs) {
    const path = dir === "" ? name : `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) return path;
    } catch {
      // Not here.
    }
  }
  return null;
}

/** A free TCP port on 127.0.0.1 right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return listener.addr.port;
  } finally {
    listener.close();
  }
}
