/**
 * The `flup` command line.
 *
 *     flup serve APP [--fastcgi ADDR | --scgi ADDR | --ajp ADDR | --cgi] [options]
 *
 * `APP` is a module path or URL whose default export is `{ fetch }` (the `deno serve` shape).
 * `ADDR` is `HOST:PORT`, `unix:/PATH` or `fd:0`. `--flavor thread|fork` serves from a pool of
 * Web Workers or `deno` child processes. Run `flup serve --help` for every option.
 *
 * Signals: SIGINT and SIGTERM stop accepting and drain in-flight requests (within
 * `--drain-timeout`); SIGHUP replaces pool members one by one, loading the app anew.
 *
 * Exit codes: 0 after a clean shutdown (or a served CGI request), 1 when the server fails,
 * 2 on a usage error (the message says what to change).
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

import { serveAjp } from "./server/ajp/server.ts";
import { serveCgi } from "./server/cgi/server.ts";
import { runChild } from "./server/_child_main.ts";
import { serveFastCgi } from "./server/fastcgi/server.ts";
import { FORK_CHILD_FLAG, serveForks } from "./server/fork.ts";
import { moduleHref, type PoolOptions, type PoolServer } from "./server/_pool.ts";
import type { PoolProtocol } from "./server/_pool_member.ts";
import { serveScgi } from "./server/scgi/server.ts";
import { serveThreads } from "./server/thread.ts";
import { loadApp } from "./server/dev.ts";
import { devCommand } from "./cli/dev.ts";
import type {
  GatewayOptions,
  GatewayRole,
  GatewayServer,
  Handler,
  LogLevel,
} from "./server/types.ts";

/** Where {@linkcode main} writes and how it waits for a stop. */
export interface MainOptions {
  /**
   * Writes one line of output.
   *
   * @default {console.log}
   */
  print?: (line: string) => void;
  /**
   * Stops a running `serve`; when absent, SIGINT and SIGTERM do (and SIGHUP reloads a pool).
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

const HELP = `flup - serve a Deno Fetch handler over FastCGI, SCGI, AJP 1.3 or CGI

Usage:
  flup serve APP [--fastcgi ADDR | --scgi ADDR | --ajp ADDR | --cgi] [options]
  flup dev APP [--scgi] [--port N] | flup dev --backend ADDR [--root DIR]
  flup --help | flup serve --help | flup dev --help

serve: run APP behind a web server (nginx, Apache, lighttpd, ...).
dev:   try APP (or a FastCGI/SCGI backend such as php-fpm) in a browser, nothing else needed.

APP is a module path or URL whose default export is { fetch } (the "deno serve" shape).`;

const SERVE_HELP =
  `Usage: flup serve APP [--fastcgi ADDR | --scgi ADDR | --ajp ADDR | --cgi] [options]

Serves APP (a module whose default export is { fetch }) behind a web server.

Protocol and address (one of; default --fastcgi 127.0.0.1:9000):
  --fastcgi ADDR              FastCGI on HOST:PORT, [IPV6]:PORT, unix:/PATH or fd:0
                              (fd:0 that is not a socket, or FCGI_FORCE_CGI=Y, serves CGI)
  --scgi ADDR                 SCGI on ADDR
  --ajp ADDR                  AJP 1.3 on ADDR (customary port 8009)
  --cgi                       one CGI request from the environment and stdin
  --socket-mode MODE          Unix socket file mode, octal (default 660)
  --allowed-addresses LIST    comma-separated IPs/CIDRs allowed to connect (default: any)

Flavor (not with --cgi):
  --flavor NAME               inprocess (default), thread (Web Workers) or fork (deno children)
  --workers N                 pool size, and the fewest kept (default: number of CPUs)
  --max-workers N             grow up to N while fewer than --min-spare are idle (default:
                              --workers, a fixed size)
  --min-spare N / --max-spare N   idle members to keep, adaptive pools (default 1 / 2)
  --max-requests N            recycle a member after N requests (default 0: never)
  --balance MODE              auto (default), dispatch or reusePort (TCP only)
  --socket-dir DIR            where members' private sockets go (default: a new temp dir)
  --permission FLAG           fork: a permission flag for every child, repeatable, e.g.
                              --permission=--allow-env=DATABASE_URL (never --allow-run)

FastCGI:
  --roles LIST                responder,authorizer,filter (default responder)
  --max-requests-per-connection N   multiplexing limit (default 1)

SCGI:
  --script-name PATH          mount point splitting SCRIPT_NAME/PATH_INFO from REQUEST_URI

AJP:
  --secret-file FILE          the shared secret (first line of FILE); required off loopback
  --insecure-no-secret        serve off loopback without a secret (logged; avoid)
  --allowed-request-attributes REGEX   extra req_attribute names to accept
  --packet-size N             8192 (default) to 65536, equal to the front end's

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
  --verbose                   log lifecycle lines (listening, workers, recycling, draining)
  --help                      this text

Signals: SIGINT/SIGTERM drain and stop; SIGHUP reloads the app in a thread or fork pool.
Exit codes: 0 clean stop, 1 failure, 2 usage error.

Permissions: TCP needs --allow-net=HOST:PORT; a Unix socket --allow-net=unix:PATH
--allow-read=PATH --allow-write=PATH; a local APP file --allow-read for it; --cgi needs
--allow-env; a pool's private sockets need --allow-read/--allow-write of the temp dir;
--flavor fork needs --allow-run=<path of deno>; plus what APP itself needs.`;

/** Flags whose value is a positive whole number, and the option each sets. */
const NUMBER_FLAGS: Record<string, string> = {
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
  "--packet-size": "packetSize",
  "--workers": "workers",
  "--max-workers": "maxWorkers",
  "--min-spare": "minSpare",
  "--max-spare": "maxSpare",
};

type Protocol = PoolProtocol | "cgi";
type Flavor = "inprocess" | "thread" | "fork";

/** What `flup serve` was asked to do. */
interface ServeCommand {
  app: string;
  help: boolean;
  verbose: boolean;
  protocol: Protocol;
  flavor: Flavor;
  /** Which flag chose the protocol, for messages. */
  protocolFlag: string | null;
  options: Record<string, unknown>;
  permissions: string[];
}

class UsageError extends Error {
  override name = "UsageError";
}

/** Parses `ADDR` into listen options. */
function parseAddress(flag: string, text: string): Record<string, unknown> {
  if (text === "fd:0") return { fd: 0 };
  if (text.startsWith("unix:")) {
    const path = text.slice(5);
    if (!path) throw new UsageError(`${flag} "${text}" has no path: use unix:/run/app.sock`);
    return { path };
  }
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!match) {
    throw new UsageError(`${flag} "${text}" is not HOST:PORT, [IPV6]:PORT, unix:/PATH or fd:0`);
  }
  const port = Number(match[3]);
  if (port > 65535) throw new UsageError(`${flag} "${text}": port must be 0 to 65535`);
  return { hostname: match[1] ?? match[2]!, port };
}

function parseServe(args: string[]): ServeCommand {
  const command: ServeCommand = {
    app: "",
    help: false,
    verbose: false,
    protocol: "fastcgi",
    flavor: "inprocess",
    protocolFlag: null,
    options: {},
    permissions: [],
  };
  const options = command.options;
  let app: string | undefined;
  const setProtocol = (flag: string, protocol: Protocol): void => {
    if (command.protocolFlag !== null) {
      throw new UsageError(`${command.protocolFlag} and ${flag}: give one protocol`);
    }
    command.protocolFlag = flag;
    command.protocol = protocol;
  };
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
    else if (flag === "--debug") options.debug = true;
    else if (flag === "--verbose") command.verbose = true;
    else if (flag === "--fastcgi" || flag === "--scgi" || flag === "--ajp") {
      setProtocol(flag, flag.slice(2) as PoolProtocol);
      Object.assign(options, parseAddress(flag, value()));
    } else if (flag === "--cgi") setProtocol(flag, "cgi");
    else if (flag === "--flavor") {
      const flavor = value();
      if (flavor !== "inprocess" && flavor !== "thread" && flavor !== "fork") {
        throw new UsageError(`--flavor "${flavor}": use inprocess, thread or fork`);
      }
      command.flavor = flavor;
    } else if (flag === "--max-requests") {
      const text = value();
      if (!/^\d+$/.test(text)) {
        throw new UsageError(`--max-requests "${text}" must be a whole number (0: never)`);
      }
      options.maxRequests = Number(text);
    } else if (flag === "--balance") {
      const balance = value();
      if (!["auto", "dispatch", "reusePort"].includes(balance)) {
        throw new UsageError(`--balance "${balance}": use auto, dispatch or reusePort`);
      }
      options.balance = balance;
    } else if (flag === "--socket-dir") {
      options.socketDir = value();
    } else if (flag === "--permission") {
      const permission = value();
      if (!/^--(allow|deny)-[a-z-]+(=.*)?$/.test(permission)) {
        throw new UsageError(
          `--permission "${permission}" is not a Deno permission flag like --allow-env=NAME`,
        );
      }
      command.permissions.push(permission);
    } else if (flag === "--socket-mode") {
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
    } else if (flag === "--script-name") {
      options.scriptName = value();
    } else if (flag === "--secret-file") {
      options.secretFile = value();
    } else if (flag === "--insecure-no-secret") {
      options.insecureNoSecret = true;
    } else if (flag === "--allowed-request-attributes") {
      const text = value();
      try {
        options.allowedRequestAttributesPattern = new RegExp(text);
      } catch {
        throw new UsageError(`--allowed-request-attributes "${text}" is not a valid RegExp`);
      }
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
  if (command.help) return command;
  if (app === undefined) throw new UsageError("serve needs an APP module: flup serve app.ts");
  command.app = app;
  checkCombinations(command);
  return command;
}

/** Refuses options that do not apply to the chosen protocol and flavor. */
function checkCombinations(command: ServeCommand): void {
  const { options, protocol, flavor } = command;
  const only = (keys: string[], allowed: boolean, why: string): void => {
    for (const key of keys) {
      if (options[key] !== undefined && !allowed) {
        const flag = Object.entries(NUMBER_FLAGS).find(([, name]) => name === key)?.[0] ??
          `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
        throw new UsageError(`${flag.replace("-pattern", "")} ${why}`);
      }
    }
  };
  const pool = flavor !== "inprocess";
  only(
    ["workers", "maxWorkers", "minSpare", "maxSpare", "maxRequests", "balance", "socketDir"],
    pool,
    "needs --flavor thread or fork",
  );
  if (command.permissions.length > 0 && flavor !== "fork") {
    throw new UsageError("--permission needs --flavor fork (Workers share this process's)");
  }
  only(["roles", "maxRequestsPerConnection"], protocol === "fastcgi", "is for --fastcgi");
  only(["scriptName"], protocol === "scgi", "is for --scgi");
  only(
    ["secretFile", "insecureNoSecret", "allowedRequestAttributesPattern", "packetSize"],
    protocol === "ajp",
    "is for --ajp",
  );
  if (protocol === "cgi") {
    if (pool) {
      throw new UsageError(
        "--cgi serves one request per process: leave out --flavor (the web server starts " +
          "a process per request)",
      );
    }
    only(
      [
        "socketMode",
        "allowedAddresses",
        "maxConnections",
        "paramsTimeout",
        "keepAliveTimeout",
        "drainTimeout",
      ],
      false,
      "does not apply to --cgi (the web server owns the connection)",
    );
  }
}

/** Imports APP's handler; a module without `default.fetch` is a usage error. */
async function loadHandler(app: string): Promise<Handler> {
  try {
    return await loadApp(app);
  } catch (error) {
    if (error instanceof TypeError && error.message.startsWith("Cannot load app")) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

/** Reads the AJP secret from its file: the first line, which must not be empty. */
async function readSecret(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(
      `--secret-file "${path}" cannot be read (${error instanceof Error ? error.name : error})` +
        `: give a readable file and --allow-read for it`,
    );
  }
  const secret = text.split(/\r?\n/, 1)[0] ?? "";
  if (secret === "") throw new UsageError(`--secret-file "${path}" starts with an empty line`);
  return secret;
}

function describeAddr(addr: Deno.Addr): string {
  if ("hostname" in addr) {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return "path" in addr ? `unix:${addr.path}` : addr.transport;
}

const PROTOCOL_NAMES: Record<Protocol, string> = {
  fastcgi: "FastCGI",
  scgi: "SCGI",
  ajp: "AJP 1.3",
  cgi: "CGI",
};

/** The lines that show how a front end reaches `addr`, to print at start. */
function frontEndHints(protocol: PoolProtocol, addr: Deno.Addr): string[] {
  const target = "hostname" in addr
    ? describeAddr(addr)
    : "path" in addr
    ? `unix:${addr.path}`
    : null;
  if (target === null) return [];
  if (protocol === "fastcgi") {
    return [
      `nginx:    location / { include fastcgi_params; fastcgi_pass ${target}; }`,
      ...("hostname" in addr
        ? [`try it:   REQUEST_METHOD=GET REQUEST_URI=/ cgi-fcgi -bind -connect ${target}`]
        : []),
    ];
  }
  if (protocol === "scgi") {
    return [`nginx:    location / { include scgi_params; scgi_pass ${target}; }`];
  }
  return "hostname" in addr
    ? [`apache:   ProxyPass "/" "ajp://${target}/"`]
    : [`apache:   ProxyPass "/" "${target}|ajp://localhost/"`];
}

/** Starts the chosen server; the pool when a flavor other than in-process was asked for. */
async function startServer(
  command: ServeCommand,
  log: (level: LogLevel, message: string) => void,
  signal: AbortSignal,
): Promise<{ server: GatewayServer; pool: PoolServer | null }> {
  const { secretFile, ...options } = command.options;
  if (typeof secretFile === "string") options.secret = await readSecret(secretFile);
  const protocol = command.protocol;
  if (protocol === "cgi") throw new TypeError("CGI has no server");
  if (command.flavor === "inprocess") {
    const handler = await loadHandler(command.app);
    const serve = { fastcgi: serveFastCgi, scgi: serveScgi, ajp: serveAjp }[protocol] as (
      handler: Handler,
      options: GatewayOptions,
    ) => GatewayServer;
    return { server: serve(handler, { ...options, log, signal }), pool: null };
  }
  const poolOptions = {
    ...options,
    module: moduleHref(command.app),
    protocol,
    log,
    signal,
  } as PoolOptions;
  const pool = command.flavor === "thread"
    ? serveThreads(poolOptions)
    : serveForks({ ...poolOptions, permissions: command.permissions });
  return { server: pool, pool };
}

/** Serves one CGI request and returns the exit code. */
async function serveCgiCommand(command: ServeCommand): Promise<number> {
  const handler = await loadHandler(command.app);
  const log = (level: LogLevel, message: string): void => {
    if (level === "warn" || level === "error" || (command.verbose && level === "info")) {
      console.error(`flup ${level}: ${message}`);
    }
  };
  await serveCgi(handler, { ...command.options, log });
  return 0;
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
    if (command === FORK_CHILD_FLAG) return await runChild(rest[0] ?? "{}");
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
      print(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command === "dev") {
      return await devCommand(rest, {
        print,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    if (command !== "serve") throw new UsageError(`unknown command "${command}": see flup --help`);
    const parsed = parseServe(rest);
    if (parsed.help) {
      print(SERVE_HELP);
      return 0;
    }
    if (parsed.protocol === "cgi") return await serveCgiCommand(parsed);
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
    let reload: (() => void) | null = null;
    try {
      const { server, pool } = await startServer(parsed, log, controller.signal);
      if (!options.signal) {
        reload = () => {
          if (!pool) {
            log("warn", "SIGHUP: reloading the app needs --flavor thread or fork; ignored");
            return;
          }
          log("info", "SIGHUP: replacing every member");
          pool.reload().then(
            () => log("info", "SIGHUP: every member replaced"),
            (error) => log("error", `SIGHUP: reload failed: ${error?.message ?? error}`),
          );
        };
        Deno.addSignalListener("SIGHUP", reload);
      }
      let addr: Deno.Addr;
      try {
        addr = await server.ready;
      } catch (error) {
        if (!controller.signal.aborted) throw error;
        // Stopped by a signal while a pool was starting: drain what runs, and exit cleanly.
        await server.finished;
        log("info", "stopped");
        return 0;
      }
      // Under fd 0 stdout may be the web server's, or a CGI response (the fallback): silence.
      if (!("fd" in parsed.options)) {
        const where = describeAddr(addr);
        const flavor = parsed.flavor === "inprocess" ? "" : ` (${parsed.flavor} pool)`;
        print(
          `flup: serving ${parsed.app} over ${
            PROTOCOL_NAMES[parsed.protocol]
          } on ${where}${flavor}`,
        );
        for (const hint of frontEndHints(parsed.protocol, addr)) print(`  ${hint}`);
        print("  stop:     Ctrl-C (drains in-flight requests)");
      }
      log("info", `listening on ${describeAddr(addr)}`);
      await server.finished;
      log("info", "stopped");
      return 0;
    } finally {
      for (const signal of signals) Deno.removeSignalListener(signal, stop);
      if (reload) Deno.removeSignalListener("SIGHUP", reload);
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

export { devCommand } from "./cli/dev.ts";
export type { DevCommandOptions, DevServer } from "./cli/dev.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
