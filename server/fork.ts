/**
 * The fork flavor: a pool of `deno` subprocesses, each importing the app module and serving
 * it, for isolation (a crash or a leak ends one child) and permissions narrowed per child.
 *
 * @example Serve an app module from 2 child processes
 * ```ts ignore
 * import { serveForks } from "@flup/flup";
 *
 * const pool = serveForks({
 *   module: "./app.ts",
 *   port: 9000,
 *   workers: 2,
 *   maxRequests: 10000,
 *   permissions: ["--allow-env=DATABASE_URL"],
 * });
 * await pool.ready;
 * ```
 *
 * @module
 */

import { type MemberHandle, type PoolOptions, type PoolServer, startPool } from "./_pool.ts";
import { CONTROL_PREFIX, type MemberConfig, type MemberMessage } from "./_pool_member.ts";

export type { PoolOptions, PoolServer } from "./_pool.ts";
export type { PoolProtocol } from "./_pool_member.ts";

/** Options of {@linkcode serveForks}: the pool options plus the children's permissions. */
export interface ForkPoolOptions extends PoolOptions {
  /**
   * Extra permission flags for every child, for what the app itself needs, e.g.
   * `["--allow-env=DATABASE_URL", "--allow-net=db.internal:5432"]`. Only `--allow-*` and
   * `--deny-*` flags; `--allow-run`, `--allow-all` and `-A` are refused (app code never
   * starts processes). The pool adds what serving needs (see {@linkcode serveForks}).
   *
   * @default {[]}
   */
  permissions?: readonly string[];
}

/**
 * The first argument that makes a `deno compile`d `flup` binary run as a fork-pool child
 * (followed by the child's JSON config).
 *
 * @example
 * ```ts
 * import { FORK_CHILD_FLAG } from "@flup/flup";
 *
 * console.log(FORK_CHILD_FLAG); // "--flup-child"
 * ```
 */
export const FORK_CHILD_FLAG = "--flup-child";

/** The child entry point; a static URL so `deno compile --include` can embed it. */
const CHILD_ENTRY = new URL("./_child_main.ts", import.meta.url);

/** The permission flags serving on `config.listen` needs, and nothing else. */
function listenFlags(config: MemberConfig): string[] {
  const listen = config.listen;
  if ("hostname" in listen) {
    const host = listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname;
    return [`--allow-net=${host}:${listen.port}`];
  }
  if ("path" in listen) {
    return [
      `--allow-net=unix:${listen.path}`,
      `--allow-read=${listen.path}`,
      `--allow-write=${listen.path}`,
    ];
  }
  return [];
}

function checkPermissions(flags: readonly string[]): void {
  for (const flag of flags) {
    if (flag === "-A" || flag === "--allow-all" || /^--allow-run(=|$)/.test(flag)) {
      throw new TypeError(
        `Cannot start fork pool: permission "${flag}" is not given to app code`,
      );
    }
    if (!/^--(allow|deny)-[a-z-]+(=.*)?$/.test(flag)) {
      throw new TypeError(
        `Cannot start fork pool: "${flag}" is not an --allow-* or --deny-* flag`,
      );
    }
  }
}

/** Splits the child's stdout into control messages and the app's own output. */
async function readControl(
  stdout: ReadableStream<Uint8Array>,
  onMessage: (message: MemberMessage) => void,
): Promise<void> {
  const encoder = new TextEncoder();
  let pending = "";
  const passThrough = (text: string): void => {
    const bytes = encoder.encode(text);
    let offset = 0;
    try {
      while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
    } catch { /* our stdout is gone: drop the app's output */ }
  };
  for await (const text of stdout.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const at = line.indexOf(CONTROL_PREFIX);
      if (at < 0) {
        passThrough(`${line}\n`);
        continue;
      }
      if (at > 0) passThrough(line.slice(0, at)); // app output without a newline before it
      try {
        onMessage(JSON.parse(line.slice(at + CONTROL_PREFIX.length)) as MemberMessage);
      } catch { /* not ours after all */ }
    }
  }
  if (pending) passThrough(pending);
}

/**
 * Serves the app module from a pool of `deno` child processes.
 *
 * Each child is `Deno.execPath() run --no-prompt <flags> --preload MODULE _child_main.ts`:
 * it imports `module` (whose default export is `{ fetch }`) and runs the protocol's server.
 * Module state is per child. A child that crashes or exits costs only the requests it held
 * (the front end answers 502) and is respawned; the parent, the other children and their
 * requests are untouched.
 *
 * Permissions of each child, the narrowest that serve:
 * - TCP with `balance: "reusePort"`: `--allow-net=HOST:PORT` (every child binds it).
 * - A Unix socket, or TCP with dispatch (the default unless the kernel migrates queued
 *   connections, see `balance` on {@linkcode PoolOptions}): the parent accepts and forwards to the child's private
 *   socket, so the child gets `--allow-net=unix:SOCK --allow-read=SOCK --allow-write=SOCK`
 *   for that one path.
 * - fd 0: nothing; children inherit the listening socket as their stdin and accept from it
 *   together (the classic prefork model), so recycling never closes the shared socket.
 * - No read permission for the app: `--preload` loads it as part of the command's own
 *   module graph. Nothing else unless given in `permissions`; never `--allow-run`.
 *
 * The parent needs `--allow-run=<deno>` (`Deno.execPath()`), plus what listening needs
 * (`--allow-net` for dispatch over TCP, read/write of `path` and `socketDir` for Unix).
 *
 * Control: children report on stdout with lines starting with `"\x1eflup "`, which the
 * parent strips; all other output passes through. The parent drains a child with SIGTERM
 * and kills it with SIGKILL. Children ignore SIGINT and SIGHUP (the parent handles them) and
 * exit by themselves when the parent is gone (their heartbeat write fails).
 *
 * Compiling: a `deno compile` binary cannot run `deno run`, so in one
 * (`Deno.build.standalone`) children re-run the binary itself with
 * {@linkcode FORK_CHILD_FLAG} and their JSON config, and keep the permissions compiled into
 * it (`permissions` cannot narrow them). The `flup` CLI's main module answers that flag;
 * compile it with `deno compile --include server/_child_main.ts --include app.ts cli.ts`.
 * A program of your own that calls `serveForks` in a binary must do the same: when
 * `Deno.args[0]` is {@linkcode FORK_CHILD_FLAG}, call `flup serve`'s `main(Deno.args)`.
 *
 * Lifecycle, recycling, logging and backoff are as in {@linkcode serveThreads}.
 *
 * @param options The app module, pool size, recycling, permissions, where to listen, limits.
 * @returns The running pool.
 *
 * @example Start and stop a pool of 2 children
 * ```ts ignore
 * import { serveForks } from "@flup/flup";
 *
 * const pool = serveForks({ module: "./app.ts", port: 0, workers: 2 });
 * console.log(await pool.ready);
 * await pool.shutdown();
 * ```
 */
export function serveForks(options: ForkPoolOptions): PoolServer {
  const permissions = options.permissions ?? [];
  checkPermissions(permissions);
  return startPool("fork", options, (config, events) => {
    // A `deno compile` binary cannot `deno run`: it re-runs itself, and its main module
    // (`flup`'s cli.ts) turns into the child on FORK_CHILD_FLAG. Its children keep the
    // permissions compiled into the binary.
    const args = Deno.build.standalone ? [FORK_CHILD_FLAG, JSON.stringify(config)] : [
      "run",
      "--no-prompt",
      ...listenFlags(config),
      ...permissions,
      "--preload",
      config.module,
      CHILD_ENTRY.href,
      JSON.stringify(config),
    ];
    const child = new Deno.Command(Deno.execPath(), {
      args,
      stdin: "fd" in config.listen ? "inherit" : "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reading = readControl(child.stdout, (message) => {
      if (message.type !== "alive" && message.type !== "exit") events.message(message);
    }).catch(() => {});
    let exited = false;
    child.status.then(async (status) => {
      await reading;
      exited = true;
      events.exit(
        status.signal ? 128 + signalNumber(status.signal) : status.code,
        status.signal ? `signal ${status.signal}` : "",
      );
    });
    const signal = (name: Deno.Signal): void => {
      if (exited) return;
      try {
        child.kill(name);
      } catch { /* already gone */ }
    };
    const handle: MemberHandle = {
      label: `child ${config.id} (pid ${child.pid})`,
      retire: () => signal("SIGTERM"),
      kill: () => signal("SIGKILL"),
    };
    return handle;
  });
}

function signalNumber(signal: Deno.Signal): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 } as Record<string, number>)[
    signal
  ] ?? 0;
}
