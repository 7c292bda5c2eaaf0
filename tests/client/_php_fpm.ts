// Starts a private php-fpm 8.2 (Debian's php8.2-fpm) for the client tests: one static pool on a
// Unix socket in a temporary directory, errors to a file there, stopped and removed by stop().

import { fromFileUrl, join } from "@std/path";

/** The php-fpm binary Debian's php8.2-fpm installs. */
export const PHP_FPM = "/usr/sbin/php-fpm8.2";

/** The PHP scripts the tests ask for. */
export const PHP_ROOT = fromFileUrl(new URL("../fixtures/php", import.meta.url));

/** A running php-fpm. */
export interface PhpFpm {
  /** The pool's Unix socket. */
  socket: string;
  /** The temporary directory (config, log, socket). */
  dir: string;
  /** php-fpm's error log so far. */
  errorLog(): Promise<string>;
  /** Stops php-fpm (SIGTERM, SIGKILL after 5 s) and removes the directory. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startPhpFpm}. */
export interface PhpFpmOptions {
  /** Children of the static pool (default 4). */
  children?: number;
  /** `pm.max_requests`: a child is replaced after this many requests (default 0: never). */
  maxRequests?: number;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

async function canConnect(path: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Starts php-fpm; throws (after stopping it) when it does not listen within 10 s. */
export async function startPhpFpm(options: PhpFpmOptions = {}): Promise<PhpFpm> {
  const dir = await Deno.makeTempDir({ prefix: "flup_php_fpm_" });
  const socket = join(dir, "php.sock");
  const root = Deno.uid() === 0;
  const conf = [
    "[global]",
    `pid = ${dir}/php-fpm.pid`,
    `error_log = ${dir}/php-fpm.log`,
    "daemonize = no",
    "[flup_test]",
    ...(root ? ["user = root", "group = root"] : []),
    `listen = ${socket}`,
    "listen.mode = 0600",
    "pm = static",
    `pm.max_children = ${options.children ?? 4}`,
    `pm.max_requests = ${options.maxRequests ?? 0}`,
    "catch_workers_output = yes",
    "php_admin_value[output_buffering] = 0",
    "php_admin_flag[zlib.output_compression] = off",
    "php_admin_value[post_max_size] = 64M",
    "php_admin_value[memory_limit] = 128M",
    "php_admin_flag[log_errors] = on",
    "",
  ].join("\n");
  await Deno.writeTextFile(join(dir, "php-fpm.conf"), conf);
  const child = new Deno.Command(PHP_FPM, {
    args: ["-F", "-y", join(dir, "php-fpm.conf"), "-p", dir, ...(root ? ["-R"] : [])],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const errorLog = () => Deno.readTextFile(join(dir, "php-fpm.log")).catch(() => "");
  const stop = async (): Promise<void> => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = await Promise.race([
        status.then(() => false),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)),
      ]);
      clearTimeout(timer);
      if (late) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
    }
    await status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!exited && !(await canConnect(socket))) {
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (exited || !(await canConnect(socket))) {
    const log = await errorLog();
    await stop();
    throw new Error(`php-fpm did not start within ${START_TIMEOUT_MS} ms:\n${log}`);
  }
  return { socket, dir, errorLog, stop };
}
