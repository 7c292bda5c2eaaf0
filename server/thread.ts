/**
 * The thread flavor: a pool of Web Workers in this process, each importing the app module and
 * serving it, for CPU parallelism without extra processes.
 *
 * @example Serve an app module on 2 Workers
 * ```ts ignore
 * import { serveThreads } from "@flup/flup";
 *
 * const pool = serveThreads({ module: "./app.ts", port: 9000, workers: 2, maxRequests: 10000 });
 * await pool.ready;
 * Deno.addSignalListener("SIGHUP", () => pool.reload());
 * ```
 *
 * @module
 */

import { type MemberHandle, type PoolOptions, type PoolServer, startPool } from "./_pool.ts";
import type { MemberConfig, MemberMessage, ParentMessage } from "./_pool_member.ts";

export type { PoolOptions, PoolServer } from "./_pool.ts";
export type { PoolProtocol } from "./_pool_member.ts";

/** Options of {@linkcode serveThreads}: the pool options plus the Workers' permissions. */
export interface ThreadPoolOptions extends PoolOptions {
  /**
   * Narrows every Worker's permissions (Deno's `Worker` `deno.permissions`, which needs the
   * `--unstable-worker-options` flag: without it Deno stops the process at the first Worker).
   * Each kind not given is denied; the pool adds what serving needs (the member's socket).
   * The app module is imported dynamically, so give `read` for its files. `run` is refused.
   * When absent, Workers share this process's permissions.
   *
   * @default {undefined}
   */
  permissions?: Omit<Deno.PermissionOptionsObject, "run">;
}

const PERMISSION_KINDS = ["env", "ffi", "import", "net", "read", "sys", "write"] as const;

/** The full permission object of one Worker: the app's, plus what listening needs, no run. */
function workerPermissions(
  app: Omit<Deno.PermissionOptionsObject, "run">,
  listen: MemberConfig["listen"],
): Deno.PermissionOptionsObject {
  if ("run" in app) {
    throw new TypeError('Cannot start pool: "permissions" may not grant "run" to app code');
  }
  const result: Deno.PermissionOptionsObject = { run: false };
  for (const kind of PERMISSION_KINDS) {
    (result as Record<string, unknown>)[kind] = app[kind] ?? false;
  }
  const add = (kind: "net" | "read" | "write", value: string): void => {
    const current = result[kind];
    if (current === true || current === "inherit") return;
    result[kind] = [...(Array.isArray(current) ? current : []), value] as string[];
  };
  if ("hostname" in listen) {
    const host = listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname;
    add("net", `${host}:${listen.port}`);
  } else if ("path" in listen) {
    add("net", `unix:${listen.path}`);
    add("read", listen.path);
    add("write", listen.path);
  }
  return result;
}

/** The Worker entry point; a static URL so `deno compile --include` can embed it. */
const WORKER_ENTRY = new URL("./_worker_main.ts", import.meta.url);

/**
 * Serves the app module from a pool of Web Workers.
 *
 * Each Worker imports `module` (whose default export is `{ fetch }`) and runs the protocol's
 * server on its own, so module state is per Worker and the handler runs in parallel on as
 * many cores as there are Workers. A Worker that throws an uncaught error or calls
 * `Deno.exit()` ends alone: the requests it held fail (the front end answers 502) and a new
 * Worker takes its place.
 *
 * Listening (see `balance` on {@linkcode PoolOptions} for the measured trade-off):
 * - TCP (`hostname`/`port`): the main thread accepts and forwards each connection to the
 *   Worker with the fewest connections over its private Unix socket (`"dispatch"`), or
 *   every Worker binds the address with `SO_REUSEPORT` (`"reusePort"`, through node:net:
 *   `Deno.listen`'s `reusePort` needs `--unstable-net`). `"auto"` picks reusePort only
 *   where the kernel migrates queued connections (`net.ipv4.tcp_migrate_req = 1`), since
 *   otherwise recycling would reset them.
 * - A Unix socket (`path`) or the inherited fd 0 (`fd: 0`): dispatch (a listening socket
 *   shared by Workers cannot be closed by one of them without closing it for all).
 *
 * Lifecycle: `maxRequests` recycles a Worker once its replacement listens; `reload()`
 * replaces every Worker one by one; `shutdown()` or `signal` stops accepting and lets
 * in-flight requests finish within `drainTimeout`. One "info" log line per event (spawned,
 * ready, draining, exited with code); crashes and start failures are warnings. A Worker that
 * fails before it listens is retried after 100 ms, doubling up to 30 s; if no Worker ever
 * started after 5 tries, `ready` rejects and the pool stops. A pool stopped (`shutdown()` or
 * `signal`) before every member was ready rejects `ready` too.
 *
 * Permissions: Workers inherit this process's permissions, unless `permissions` narrows them
 * (which needs `--unstable-worker-options`; {@linkcode serveForks} narrows without it). TCP needs `--allow-net=HOST:PORT`; dispatch adds `--allow-read` and
 * `--allow-write` for `socketDir` (default: the temporary directory) and the socket path;
 * a local module needs `--allow-read` of it and its imports.
 *
 * Compiling: `deno compile --include server/_worker_main.ts` embeds the Worker entry (and
 * the app module must be included too, or be a remote URL).
 *
 * @param options The app module, pool size, recycling, where to listen, and server limits.
 * @returns The running pool.
 *
 * @example Start and stop a pool of 2 Workers
 * ```ts ignore
 * import { serveThreads } from "@flup/flup";
 *
 * const pool = serveThreads({ module: "./app.ts", port: 0, workers: 2 });
 * console.log(await pool.ready);
 * await pool.shutdown();
 * ```
 */
export function serveThreads(options: ThreadPoolOptions): PoolServer {
  const permissions = options.permissions;
  if (permissions) workerPermissions(permissions, { fd: 0 }); // throws on "run" before starting
  return startPool("thread", options, (config, events) => {
    const worker = new Worker(WORKER_ENTRY, {
      type: "module",
      name: `flup worker ${config.id}`,
      ...(permissions
        ? { deno: { permissions: workerPermissions(permissions, config.listen) } }
        : {}),
    });
    let exited = false;
    const exit = (code: number, detail: string): void => {
      if (exited) return;
      exited = true;
      worker.terminate();
      events.exit(code, detail);
    };
    worker.onmessage = (event: MessageEvent<MemberMessage>) => {
      const message = event.data;
      if (message.type === "exit") exit(message.code, "");
      else {
        events.message(message);
        if (message.type === "failed") exit(1, "failed to start");
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      // An uncaught error ends the Worker; never let it reach this thread.
      event.preventDefault();
      exit(1, `uncaught ${event.message}`);
    };
    worker.onmessageerror = () => {};
    const post = (message: ParentMessage): void => {
      if (!exited) worker.postMessage(message);
    };
    post({ type: "start", config });
    const handle: MemberHandle = {
      label: `worker ${config.id}`,
      retire: () => post({ type: "retire" }),
      kill: () => exit(137, "killed"),
    };
    return handle;
  });
}
