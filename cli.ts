/**
 * The `flup` command line.
 *
 *     flup serve APP [--fastcgi ADDR] [options]
 *
 * `APP` is a module path or URL whose default export is `{ fetch }` (the `deno serve` shape).
 * `ADDR` is `HOST:PORT`, `unix:/PATH` or `fd:0`. Run `flup serve --help` for every option.
 *
 * Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 1 when the server fails, 2 on a usage
 * error (the message says what to change).
 *
 * @example Print the help text
 * ```ts
 * import { main } from "@flup/flup/cli";
 * import { assertEquals } from "@std/assert";
 *
 * const lines: string[] = [];
 * assertEquals(await main(["--help"], { print: (line) => lines.push(line) }), 0);
 * ```
 *
 * @module
 */

import { resolve, toFileUrl } from "@std/path";
import { serveFastCgi } from "./server/fastcgi/server.ts";
import type { FastCgiServeOptions } from "./server/fastcgi/server.ts";
import type { GatewayRole, Handler, LogLevel, ServeModule } from "./server/types.ts";

/** Where {@linkcode main} writes and how it waits for a stop. */
export interface MainOptions {
  /**
   * Writes one line of output.
   *
   * @default {console.log}
   */
  print?: (line: string) => void;
  /**
   * Stops a running `serve`; when absent, SIGINT and SIGTERM do.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

const HELP = `flup - serve a Deno Fetch handler over FastCGI

Usage:
  flup serve APP [--fastcgi ADDR] [options]
  flup --help | flup serve --help

APP is a module path or URL whose default export is { fetch } (the "deno serve" shape).`;

const SERVE_HELP = `Usage: flup serve APP [--fastcgi ADDR] [options]

Serves APP (a module whose default export is { fetch }) over FastCGI.

Address:
  --fastcgi ADDR              HOST:PORT, [IPV6]:PORT, unix:/PATH or fd:0 (default 127.0.0.1:9000)
  --socket-mode MODE          Unix socket file mode, octal (default 660)
  --allowed-addresses LIST    comma-separated IPs/CIDRs allowed to connect (default: any)

FastCGI:
  --roles LIST                responder,authorizer,filter (default responder)
  --max-requests-per-connection N   multiplexing limit (default 1)

Limits and timeouts (milliseconds):
  --max-connections N         (default 1024)
  --max-params-bytes N        (default 65536)
  --max-params-pairs N        (default 1000)
  --max-body-bytes N          (default 1073741824)
  --body-buffer-size N        (default 65536)
  --params-timeout MS         (default 30000)
  --body-timeout MS           (default 60000)
  --keep-alive-timeout MS     (default 120000)
  --drain-timeout MS          (default 10000)
  --handler-timeout MS        (default: none)

Other:
  --debug                     show error details to clients (never in production)
  --verbose                   log lifecycle lines (listening, draining)
  --help                      this text

Permissions: TCP needs --allow-net=HOST:PORT; a Unix socket --allow-read=PATH
--allow-write=PATH; a local APP file --allow-read for it; plus what APP itself needs.`;

const NUMBER_FLAGS: Record<string, keyof FastCgiServeOptions> = {
  "--max-connections": "maxConnections",
  "--max-params-bytes": "maxParamsBytes",
  "--max-params-pairs": "maxParamsPairs",
  "--max-body-bytes": "maxBodyBytes",
  "--body-buffer-size": "bodyBufferSize",
  "--params-timeout": "paramsTimeout",
  "--body-timeout": "bodyTimeout",
  "--keep-alive-timeout": "keepAliveTimeout",
  "--drain-timeout": "drainTimeout",
  "--handler-timeout": "handlerTimeout",
  "--max-requests-per-connection": "maxRequestsPerConnection",
};

class UsageError extends Error {
  override name = "UsageError";
}

/** Parses `ADDR` into listen options. */
function parseAddress(
  text: string,
): Pick<FastCgiServeOptions, "hostname" | "port" | "path" | "fd"> {
  if (text === "fd:0") return { fd: 0 };
  if (text.startsWith("unix:")) {
    const path = text.slice(5);
    if (!path) throw new UsageError(`--fastcgi "${text}" has no path: use unix:/run/app.sock`);
    return { path };
  }
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!match) {
    throw new UsageError(`--fastcgi "${text}" is not HOST:PORT, [IPV6]:PORT, unix:/PATH or fd:0`);
  }
  const port = Number(match[3]);
  if (port > 65535) throw new UsageError(`--fastcgi "${text}": port must be 0 to 65535`);
  return { hostname: match[1] ?? match[2]!, port };
}

function parseServe(
  args: string[],
): { app: string; options: FastCgiServeOptions; help: boolean; verbose: boolean } {
  let app: string | undefined;
  const options: Record<string, unknown> = {};
  let help = false;
  let verbose = false;
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
    if (flag === "--help" || flag === "-h") help = true;
    else if (flag === "--debug") options.debug = true;
    else if (flag === "--verbose") verbose = true;
    else if (flag === "--fastcgi") Object.assign(options, parseAddress(value()));
    else if (flag === "--socket-mode") {
      const text = value();
      if (!/^[0-7]{3,4}$/.test(text)) {
        throw new UsageError(`--socket-mode "${text}" is not octal like 660`);
      }
      options.socketMode = parseInt(text, 8);
    } else if (flag === "--allowed-addresses") {
      options.allowedAddresses = value().split(",").map((s) => s.trim()).filter(Boolean);
    } else if (flag === "--roles") {
      const roles = value().split(",").map((s) => s.trim());
      for (const role of roles) {
        if (!["responder", "authorizer", "filter"].includes(role)) {
          throw new UsageError(`--roles has "${role}": use responder, authorizer or filter`);
        }
      }
      options.roles = roles as GatewayRole[];
    } else if (flag in NUMBER_FLAGS) {
      const text = value();
      const number = Number(text);
      if (!/^\d+$/.test(text) || number <= 0) {
        throw new UsageError(`${flag} "${text}" must be a positive whole number`);
      }
      options[NUMBER_FLAGS[flag]!] = number;
    } else if (flag.startsWith("-")) {
      throw new UsageError(`unknown option ${flag}: see flup serve --help`);
    } else if (app === undefined) app = arg;
    else throw new UsageError(`unexpected argument "${arg}": give one APP`);
  }
  if (!help && app === undefined) {
    throw new UsageError("serve needs an APP module: flup serve app.ts");
  }
  return { app: app ?? "", options: options as FastCgiServeOptions, help, verbose };
}

async function loadHandler(app: string): Promise<Handler> {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(app) && !/^[a-z]:[\\/]/i.test(app)
    ? app
    : toFileUrl(resolve(app)).href;
  const module = await import(url) as { default?: Partial<ServeModule> };
  const fetch = module.default?.fetch;
  if (typeof fetch !== "function") {
    throw new UsageError(
      `${app} has no default export with a fetch() method (export default { fetch })`,
    );
  }
  return fetch.bind(module.default);
}

function describeAddr(addr: Deno.Addr): string {
  if ("hostname" in addr) {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return "path" in addr ? `unix:${addr.path}` : addr.transport;
}

/**
 * Runs the CLI with `args` (without the program name).
 *
 * @param args The arguments, e.g. `["serve", "app.ts", "--fastcgi", "127.0.0.1:9000"]`.
 * @param options Output and stop signal.
 * @returns The exit code: 0 clean, 1 failure, 2 usage error.
 *
 * @example A usage error
 * ```ts
 * import { main } from "@flup/flup/cli";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(await main(["serve", "--nope"], { print: () => {} }), 2);
 * ```
 */
export async function main(args: string[], options: MainOptions = {}): Promise<number> {
  const print = options.print ?? console.log;
  const [command, ...rest] = args;
  try {
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
      print(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command !== "serve") throw new UsageError(`unknown command "${command}": see flup --help`);
    const parsed = parseServe(rest);
    if (parsed.help) {
      print(SERVE_HELP);
      return 0;
    }
    const handler = await loadHandler(parsed.app);
    const log = (level: LogLevel, message: string): void => {
      if (level === "warn" || level === "error" || (parsed.verbose && level === "info")) {
        console.error(`flup ${level}: ${message}`);
      }
    };
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    options.signal?.addEventListener("abort", stop, { once: true });
    const signals: Deno.Signal[] = options.signal ? [] : ["SIGINT", "SIGTERM"];
    for (const signal of signals) Deno.addSignalListener(signal, stop);
    try {
      const server = serveFastCgi(handler, { ...parsed.options, log, signal: controller.signal });
      const addr = await server.ready;
      const where = describeAddr(addr);
      print(`flup: serving ${parsed.app} over FastCGI on ${where}`);
      if ("hostname" in addr) {
        print(`  nginx:    location / { include fastcgi_params; fastcgi_pass ${where}; }`);
        print(`  try it:   REQUEST_METHOD=GET REQUEST_URI=/ cgi-fcgi -bind -connect ${where}`);
      } else if ("path" in addr) {
        print(`  nginx:    location / { include fastcgi_params; fastcgi_pass unix:${addr.path}; }`);
      }
      print("  stop:     Ctrl-C (drains in-flight requests)");
      await server.finished;
      return 0;
    } finally {
      for (const signal of signals) Deno.removeSignalListener(signal, stop);
      options.signal?.removeEventListener("abort", stop);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`flup: ${error.message}`);
      return 2;
    }
    console.error(`flup: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
