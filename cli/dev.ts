/**
 * The `flup dev` command: try an app in a browser with nothing else installed.
 *
 *     flup dev APP [--scgi] [--port N]
 *     flup dev --backend ADDR [--root DIR] [--scgi] [--port N]
 *
 * The first form serves APP (a module whose default export is `{ fetch }`) over FastCGI (or
 * SCGI) on a Unix socket in a private temporary directory, and an HTTP front on 127.0.0.1
 * forwards to it through the client, as nginx would. The second fronts a backend that already
 * runs, such as php-fpm. Ctrl-C (SIGINT) or SIGTERM stops both and removes the directory.
 *
 * Exit codes: 0 after a clean stop, 1 when it cannot start, 2 on a usage error.
 *
 * @example Print the help text
 * ```ts
 * import { devCommand } from "@flup/flup/cli";
 * import { assertEquals } from "@std/assert";
 *
 * const lines: string[] = [];
 * assertEquals(await devCommand(["--help"], { print: (line) => lines.push(line) }), 0);
 * ```
 *
 * @module
 */

import { resolve } from "@std/path";
import { type DevOptions, type DevServer, startDev } from "../server/dev.ts";
import type { LogLevel } from "../server/types.ts";

export type { DevServer };

/** Where {@linkcode devCommand} writes and how it waits for a stop. */
export interface DevCommandOptions {
  /**
   * Writes one line of output.
   *
   * @default {console.log}
   */
  print?: (line: string) => void;
  /**
   * Stops the dev server; when absent, SIGINT and SIGTERM do.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Called once the dev server runs (tests read its URL from here).
   *
   * @default {undefined}
   */
  onStart?: (dev: DevServer) => void;
}

/** The `flup dev --help` text. */
export const DEV_HELP = `Usage: flup dev APP [--scgi] [--port N] [options]
       flup dev --backend ADDR [--root DIR] [--scgi] [--port N] [options]

Tries APP (a module whose default export is { fetch }) in a browser: APP is served over FastCGI
on a Unix socket in a private temporary directory, and http://127.0.0.1:PORT/ forwards every
request to it, the way nginx would. With --backend, the front forwards to a FastCGI or SCGI
server that already runs (php-fpm, flup serve) instead.

Options:
  --port N                  the HTTP port on 127.0.0.1 (default 8000; 0 picks a free one)
  --scgi                    speak SCGI to APP or the backend (default FastCGI)
  --flavor NAME             where APP runs: thread (default: a Web Worker, so the front and
                            APP use two cores) or inprocess (this isolate)
  --backend ADDR            forward to unix:/PATH, HOST:PORT or [IPV6]:PORT instead of APP
  --root DIR                DOCUMENT_ROOT sent to the backend; php-fpm finds scripts as
                            DIR + path (SCRIPT_FILENAME), index.php for a directory
  --socket PATH             the Unix socket APP listens on (default: app.sock in a new
                            private temporary directory); name it to narrow --allow-net
  --max-connections N       connections from the front to APP or the backend (default 64)
  --drain-timeout MS        on stop, how long requests may finish (default 10000)
  --verbose                 log lifecycle lines
  --help                    this text

Examples:
  flup dev examples/hello.ts
  flup dev --backend unix:/run/php/php8.2-fpm.sock --root /var/www/html

Stop with Ctrl-C: requests in flight finish, the app stops, the temporary directory goes.
Exit codes: 0 clean stop, 1 failure, 2 usage error.

Permissions: --allow-net=127.0.0.1:PORT for the front; with APP, --allow-net=unix:SOCKET and
--allow-read/--allow-write of SOCKET (so give --socket; else of the system temp directory and
--allow-net for all), --allow-read of APP and of flup's server/ folder (the Worker's entry);
with --backend, --allow-net for its address (unix:PATH for a socket, plus read/write of PATH).
Run deno with --unstable-no-legacy-abort to silence Deno.serve's request.signal notice.`;

class UsageError extends Error {
  override name = "UsageError";
}

interface DevCommand {
  help: boolean;
  verbose: boolean;
  app: string | null;
  options: Omit<DevOptions, "app">;
}

function wholeNumber(flag: string, text: string, allowZero: boolean): number {
  const number = Number(text);
  if (!/^\d+$/.test(text) || (!allowZero && number === 0)) {
    throw new UsageError(`${flag} "${text}" must be a ${allowZero ? "" : "positive "}whole number`);
  }
  return number;
}

function parseDev(args: string[]): DevCommand {
  const command: DevCommand = { help: false, verbose: false, app: null, options: {} };
  const options = command.options;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string => {
      const next = inline ?? args[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    if (flag === "--help" || flag === "-h") command.help = true;
    else if (flag === "--verbose") command.verbose = true;
    else if (flag === "--scgi") options.protocol = "scgi";
    else if (flag === "--fastcgi") options.protocol = "fastcgi";
    else if (flag === "--flavor") {
      const flavor = value();
      if (flavor !== "thread" && flavor !== "inprocess") {
        throw new UsageError(`--flavor "${flavor}": use thread or inprocess`);
      }
      options.flavor = flavor;
    } else if (flag === "--backend") {
      const text = value();
      if (
        !text.startsWith("unix:/") && !/^(?:\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/.test(text)
      ) {
        throw new UsageError(
          `--backend "${text}" is not unix:/PATH, HOST:PORT or [IPV6]:PORT`,
        );
      }
      options.backend = text;
    } else if (flag === "--root") options.documentRoot = value();
    else if (flag === "--socket") options.socketPath = value();
    else if (flag === "--port") {
      const port = wholeNumber(flag, value(), true);
      if (port > 65535) throw new UsageError(`--port "${port}" must be 0 to 65535`);
      options.port = port;
    } else if (flag === "--max-connections") {
      options.maxConnections = wholeNumber(flag, value(), false);
    } else if (flag === "--drain-timeout") {
      options.drainTimeout = wholeNumber(flag, value(), false);
    } else if (flag.startsWith("-")) {
      throw new UsageError(`unknown option ${flag}: see flup dev --help`);
    } else if (command.app === null) command.app = arg;
    else throw new UsageError(`unexpected argument "${arg}": give one APP`);
  }
  if (command.help) return command;
  if (command.app !== null && options.backend !== undefined) {
    throw new UsageError("give APP or --backend, not both");
  }
  if (command.app === null && options.backend === undefined) {
    throw new UsageError("dev needs an APP module or --backend: flup dev app.ts");
  }
  if (options.socketPath !== undefined && command.app === null) {
    throw new UsageError("--socket is for APP; with --backend the backend has its own address");
  }
  if (options.documentRoot !== undefined) options.documentRoot = resolve(options.documentRoot);
  return command;
}

/**
 * Runs `flup dev` with `args` (the arguments after `dev`).
 *
 * @param args The arguments, e.g. `["examples/hello.ts", "--port", "8000"]`.
 * @param options Output, a stop signal, and a hook once running.
 * @returns The exit code: 0 after a clean stop, 1 on failure, 2 on a usage error.
 *
 * @example A usage error
 * ```ts
 * import { devCommand } from "@flup/flup/cli";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(await devCommand(["--nope"], { print: () => {} }), 2);
 * ```
 */
export async function devCommand(args: string[], options: DevCommandOptions = {}): Promise<number> {
  const print = options.print ?? console.log;
  let command: DevCommand;
  try {
    command = parseDev(args);
  } catch (error) {
    console.error(`flup: ${error instanceof Error ? error.message : error}`);
    return 2;
  }
  if (command.help) {
    print(DEV_HELP);
    return 0;
  }
  const verbose = command.verbose;
  const log = (level: LogLevel, message: string): void => {
    if (level === "warn" || level === "error" || (verbose && level === "info")) {
      console.error(`flup ${level}: ${message}`);
    }
  };
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  options.signal?.addEventListener("abort", stop, { once: true });
  const signals: Deno.Signal[] = options.signal ? [] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    const dev = await startDev({
      ...command.options,
      ...(command.app !== null ? { app: command.app } : {}),
      log,
      signal: controller.signal,
    });
    const name = dev.protocol === "fastcgi" ? "FastCGI" : "SCGI";
    print(`flup dev: ${dev.url}`);
    print(
      command.app !== null
        ? `  app:   ${command.app} over ${name} on ${dev.backend}`
        : `  backend: ${name} on ${dev.backend}` +
          (command.options.documentRoot ? ` (root ${command.options.documentRoot})` : ""),
    );
    print("  stop:  Ctrl-C");
    log("info", `forwarding ${dev.url} to ${dev.backend}`);
    options.onStart?.(dev);
    await dev.finished;
    log("info", "stopped");
    return 0;
  } catch (error) {
    console.error(`flup: ${error instanceof Error ? error.message : error}`);
    return error instanceof TypeError ? 2 : 1;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
    options.signal?.removeEventListener("abort", stop);
  }
}

if (import.meta.main) Deno.exit(await devCommand(Deno.args));
