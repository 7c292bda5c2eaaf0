/**
 * Real front-end web servers (nginx, Apache httpd, lighttpd) started privately for end-to-end
 * tests. Each start function writes a generated configuration into a fresh temporary
 * directory, runs the server in the foreground in its own session (process group) on a free
 * port of `127.0.0.1`, waits until the port accepts connections and returns a
 * {@linkcode FrontEnd} that proxies every request to the given backend.
 *
 * Everything the server writes (pid file, logs, temporary files, sockets) stays inside the
 * temporary directory, which `stop()` removes.
 *
 * Unix socket permissions: the servers in `server/` create Unix sockets with mode 0660, owned
 * by the user that runs the tests. When the tests run as root, nginx and lighttpd workers
 * therefore run as root too (`user root;`, no `server.username`) so that they can connect.
 * Apache refuses to run its children as root, so they run as `www-data` with group `root`
 * when the backend is a Unix socket.
 *
 * @module
 */

import { join } from "@std/path";
import { NGINX_FASTCGI_PARAMS, NGINX_SCGI_PARAMS } from "./nginx_params.ts";
import { freePort, tempDir } from "./ports.ts";
import { settles } from "./settles.ts";

/**
 * Where the front end forwards requests: a TCP address, or a Unix socket path for FastCGI
 * and SCGI.
 */
export type Backend =
  | { protocol: "fastcgi" | "scgi" | "ajp"; hostname: string; port: number }
  | { protocol: "fastcgi" | "scgi"; path: string };

/** A running front-end web server. */
export interface FrontEnd {
  /** A short description, e.g. `"nginx fastcgi keepalive"`. */
  readonly name: string;
  /** The HTTP origin clients use, e.g. `"http://127.0.0.1:41234"`. */
  readonly origin: string;
  /**
   * Reads the server's error log, followed by anything it wrote to stderr.
   *
   * After `stop()` this returns the text as it was when the server stopped.
   */
  errorLog(): Promise<string>;
  /**
   * Stops the server: SIGTERM, then SIGKILL to its whole process group after a bounded wait;
   * waits for the exit and removes the temporary directory. Calling it again does nothing.
   */
  stop(): Promise<void>;
  /** Same as `stop()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@linkcode startNginx}. */
export interface NginxOptions {
  /** The FastCGI or SCGI backend that receives every request. */
  backend: Backend;
  /**
   * Keep backend connections open between requests (`upstream { keepalive 8; }` and
   * `fastcgi_keep_conn on;`). FastCGI only.
   *
   * @default {false}
   */
  keepConn?: boolean;
  /**
   * Buffer the whole request body before contacting the backend. With `false`, chunked
   * uploads reach the backend as they arrive and without `CONTENT_LENGTH`.
   *
   * @default {true}
   */
  requestBuffering?: boolean;
}

/** Options for {@linkcode startApache}. */
export interface ApacheOptions {
  /** The FastCGI, SCGI or AJP backend that receives every request. */
  backend: Backend;
  /**
   * Reuse backend connections (`enablereuse=on`). FastCGI and AJP only; AJP reuses
   * connections by default.
   *
   * @default {false}
   */
  enableReuse?: boolean;
  /**
   * The AJP secret sent with every request (`secret=`). AJP only.
   *
   * @default {undefined}
   */
  secret?: string;
}

/** Options for {@linkcode startLighttpd}. */
export interface LighttpdOptions {
  /**
   * An application that is already running, over TCP or a Unix socket. Give exactly one of
   * `backend` and `binPath`.
   *
   * @default {undefined}
   */
  backend?: Backend;
  /**
   * A FastCGI application that lighttpd spawns itself (`"bin-path"`), with the listening Unix
   * socket on fd 0. The socket lives in the temporary directory.
   *
   * @default {undefined}
   */
  binPath?: string[];
  /**
   * Extra environment variables for the `binPath` application (`"bin-environment"`); it also
   * inherits lighttpd's environment.
   *
   * @default {{}}
   */
  binEnvironment?: Record<string, string>;
  /**
   * A FastCGI authorizer (`"mode" => "authorizer"`) that guards `/protected/`. When it
   * answers 200, lighttpd serves the static file `protected/secret.txt` ("top secret\n") from
   * its document root; any other answer is sent to the client as is.
   *
   * @default {undefined}
   */
  authorizer?: Backend;
}

/** The contents of the static file behind lighttpd's authorizer. */
export const SECRET_TEXT = "top secret\n";

const READY_TIMEOUT_MS = 10_000;
const READY_INTERVAL_MS = 20;
const STOP_TIMEOUT_MS = 5_000;
const APACHE_MODULES_DIR = "/usr/lib/apache2/modules";
const BACKEND_TIMEOUT_S = 30;

/**
 * Starts nginx in front of a FastCGI or SCGI backend.
 *
 * Every path goes to the backend. Responses are not buffered (`fastcgi_buffering off`), so
 * streamed bodies reach the client as they are produced; request bodies up to 50 MiB are
 * accepted. The FastCGI params are nginx's standard `fastcgi_params` plus `SCRIPT_FILENAME`,
 * and the client's `Host` header arrives as `HTTP_HOST` (Debian's params file would replace
 * it with `$host`, which drops the port; this configuration does not).
 *
 * @param options The backend and connection options.
 * @returns The running front end; stop it when done.
 *
 * @example Proxy to a FastCGI app (nothing listens here, so nginx answers 502)
 * ```ts
 * import { startNginx } from "./frontends.ts";
 * import { freePort } from "./ports.ts";
 *
 * await using nginx = await startNginx({
 *   backend: { protocol: "fastcgi", hostname: "127.0.0.1", port: freePort() },
 *   keepConn: true,
 * });
 * const response = await fetch(`${nginx.origin}/hello`);
 * await response.body?.cancel();
 * if (response.status !== 502) throw new Error(`status ${response.status}`);
 * ```
 */
export async function startNginx(options: NginxOptions): Promise<FrontEnd> {
  const { backend, keepConn = false, requestBuffering = true } = options;
  if (backend.protocol === "ajp") {
    throw new TypeError('Cannot start nginx: protocol "ajp" is not supported by nginx');
  }
  if (keepConn && backend.protocol !== "fastcgi") {
    throw new TypeError('Cannot start nginx: "keepConn" needs the "fastcgi" protocol');
  }
  const nginx = await findCommand("nginx");
  const dir = await tempDir("flup_nginx_");
  try {
    const port = freePort();
    const p = backend.protocol === "fastcgi" ? "fastcgi" : "scgi";
    const address = "path" in backend
      ? `unix:${backend.path}`
      : `${hostForConfig(backend.hostname)}:${backend.port}`;
    const www = join(dir, "www");
    await Deno.mkdir(www);
    const params = p === "fastcgi" ? NGINX_FASTCGI_PARAMS : NGINX_SCGI_PARAMS;
    const lines = [
      "# Generated by tests/_helpers/frontends.ts",
      // Workers must be able to connect to root-owned 0660 Unix sockets.
      ...(isRoot() ? ["user root;"] : []),
      "worker_processes 1;",
      `pid ${q(join(dir, "nginx.pid"))};`,
      `lock_file ${q(join(dir, "nginx.lock"))};`,
      `error_log ${q(join(dir, "error.log"))} info;`,
      "events { worker_connections 1024; }",
      "http {",
      `  access_log ${q(join(dir, "access.log"))};`,
      `  client_body_temp_path ${q(join(dir, "client_body"))};`,
      `  proxy_temp_path ${q(join(dir, "proxy"))};`,
      `  fastcgi_temp_path ${q(join(dir, "fastcgi"))};`,
      `  scgi_temp_path ${q(join(dir, "scgi"))};`,
      `  uwsgi_temp_path ${q(join(dir, "uwsgi"))};`,
      "  client_max_body_size 50m;",
      ...(keepConn
        ? [`  upstream flup_backend {`, `    server ${address};`, "    keepalive 8;", "  }"]
        : []),
      "  server {",
      `    listen 127.0.0.1:${port};`,
      "    server_name localhost;",
      `    root ${q(www)};`,
      "    location / {",
      `      ${p}_pass ${keepConn ? "flup_backend" : address};`,
      ...(keepConn ? ["      fastcgi_keep_conn on;"] : []),
      `      ${p}_buffering off;`,
      `      ${p}_request_buffering ${requestBuffering ? "on" : "off"};`,
      `      ${p}_connect_timeout 5s;`,
      `      ${p}_send_timeout ${BACKEND_TIMEOUT_S}s;`,
      `      ${p}_read_timeout ${BACKEND_TIMEOUT_S}s;`,
      ...params.map(([name, value]) => `      ${p}_param ${name} ${value};`),
      "    }",
      "  }",
      "}",
      "",
    ];
    const conf = join(dir, "nginx.conf");
    await Deno.writeTextFile(conf, lines.join("\n"));
    const name = [
      "nginx",
      p,
      ...(keepConn ? ["keepalive"] : []),
      ...(requestBuffering ? [] : ["unbuffered"]),
      ...("path" in backend ? ["unix"] : []),
    ].join(" ");
    return await launch({
      name,
      dir,
      port,
      command: nginx,
      // -e: where errors go before the configuration is read.
      args: ["-p", `${dir}/`, "-c", conf, "-e", join(dir, "error.log"), "-g", "daemon off;"],
      errorLog: join(dir, "error.log"),
      pidFile: join(dir, "nginx.pid"),
    });
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/**
 * Starts Apache httpd (event MPM) in front of a FastCGI, SCGI or AJP backend with
 * `ProxyPass "/" ...`.
 *
 * `mod_proxy_fcgi` sends the original `REQUEST_URI` and every request header as `HTTP_*`
 * (including `HTTP_HOST`); `SCRIPT_FILENAME` looks like `proxy:fcgi://127.0.0.1:9000/path`.
 * Without `enableReuse` Apache opens one FastCGI connection per request. When run as root the
 * children run as `www-data` (Apache refuses root).
 *
 * @param options The backend, connection reuse and AJP secret.
 * @returns The running front end; stop it when done.
 *
 * @example Proxy to an AJP app with a secret (nothing listens here, so Apache answers 503)
 * ```ts
 * import { startApache } from "./frontends.ts";
 * import { freePort } from "./ports.ts";
 *
 * await using apache = await startApache({
 *   backend: { protocol: "ajp", hostname: "127.0.0.1", port: freePort() },
 *   secret: "s3cret",
 * });
 * const response = await fetch(`${apache.origin}/hello`);
 * await response.body?.cancel();
 * if (response.status !== 503) throw new Error(`status ${response.status}`);
 * ```
 */
export async function startApache(options: ApacheOptions): Promise<FrontEnd> {
  const { backend, enableReuse = false, secret } = options;
  if (secret !== undefined && backend.protocol !== "ajp") {
    throw new TypeError('Cannot start Apache: "secret" needs the "ajp" protocol');
  }
  if (enableReuse && backend.protocol === "scgi") {
    throw new TypeError('Cannot start Apache: "enableReuse" is not supported for "scgi"');
  }
  if (secret !== undefined && /["\s]/.test(secret)) {
    throw new TypeError('Cannot start Apache: "secret" contains a quote or white space');
  }
  const apache = await findCommand("apache2");
  const dir = await tempDir("flup_apache_");
  try {
    const port = freePort();
    const scheme = backend.protocol === "fastcgi" ? "fcgi" : backend.protocol;
    const url = "path" in backend
      ? `unix:${backend.path}|${scheme}://localhost/`
      : `${scheme}://${hostForConfig(backend.hostname)}:${backend.port}/`;
    const workerParams = [
      // flushpackets: send each chunk from the backend to the client at once (streaming).
      ...(backend.protocol === "scgi" ? [] : ["flushpackets=on"]),
      ...(enableReuse ? ["enablereuse=on"] : []),
      ...(secret !== undefined ? [`secret=${secret}`] : []),
      `timeout=${BACKEND_TIMEOUT_S}`,
    ];
    const www = join(dir, "www");
    const run = join(dir, "run");
    await Deno.mkdir(www);
    await Deno.mkdir(run);
    const root = isRoot();
    const unixBackend = "path" in backend;
    if (root) {
      // The children (www-data) open the mutex files in run/ and need to pass through dir.
      await Deno.chmod(dir, 0o711);
      await Deno.chmod(run, 0o777);
      await Deno.chmod(www, 0o755);
    }
    const module = (name: string, file: string) =>
      `LoadModule ${name}_module ${q(join(APACHE_MODULES_DIR, file))}`;
    const lines = [
      "# Generated by tests/_helpers/frontends.ts",
      `ServerRoot ${q(dir)}`,
      `DefaultRuntimeDir ${q(run)}`,
      `PidFile ${q(join(dir, "apache2.pid"))}`,
      `Mutex file:${run} default`,
      `ErrorLog ${q(join(dir, "error.log"))}`,
      "LogLevel warn",
      "ServerName 127.0.0.1",
      `Listen 127.0.0.1:${port}`,
      // log_config and unixd are compiled into Debian's apache2.
      module("mpm_event", "mod_mpm_event.so"),
      module("authz_core", "mod_authz_core.so"),
      module("proxy", "mod_proxy.so"),
      module("proxy_fcgi", "mod_proxy_fcgi.so"),
      module("proxy_scgi", "mod_proxy_scgi.so"),
      module("proxy_ajp", "mod_proxy_ajp.so"),
      // Apache will not run its children as root. With a Unix socket backend (mode 0660,
      // group root), group root lets them connect.
      ...(root ? ["User www-data", `Group ${unixBackend ? "root" : "www-data"}`] : []),
      "StartServers 1",
      "ServerLimit 4",
      "ThreadsPerChild 25",
      "MaxRequestWorkers 100",
      "MinSpareThreads 10",
      "MaxSpareThreads 50",
      `Timeout ${BACKEND_TIMEOUT_S}`,
      "KeepAlive On",
      'LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',
      `CustomLog ${q(join(dir, "access.log"))} common`,
      `DocumentRoot ${q(www)}`,
      "LimitRequestBody 52428800",
      `ProxyTimeout ${BACKEND_TIMEOUT_S}`,
      `ProxyPass "/" ${q(url)} ${workerParams.join(" ")}`,
      "",
    ];
    const conf = join(dir, "httpd.conf");
    await Deno.writeTextFile(conf, lines.join("\n"));
    const extras = [
      ...(enableReuse ? ["reuse"] : []),
      ...(secret !== undefined ? ["secret"] : []),
      ...(unixBackend ? ["unix"] : []),
    ];
    return await launch({
      name: ["apache", backend.protocol, ...extras].join(" "),
      dir,
      port,
      command: apache,
      args: ["-DFOREGROUND", "-d", dir, "-f", conf],
      errorLog: join(dir, "error.log"),
      pidFile: join(dir, "apache2.pid"),
    });
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/**
 * Starts lighttpd in front of a FastCGI, SCGI or AJP backend, or of a FastCGI application it
 * spawns itself, optionally with a FastCGI authorizer guarding `/protected/`.
 *
 * Request and response bodies are streamed (`server.stream-request-body = 2`,
 * `server.stream-response-body = 2`). `mod_fastcgi` and `mod_scgi` are built into Debian's
 * lighttpd 1.4.69; `mod_ajp13` is loaded from `/usr/lib/lighttpd`.
 *
 * @param options The backend (or `binPath`) and the optional authorizer.
 * @returns The running front end; stop it when done.
 *
 * @example Serve SCGI with an authorizer (nothing listens here, so lighttpd answers 503)
 * ```ts
 * import { startLighttpd } from "./frontends.ts";
 * import { freePort } from "./ports.ts";
 *
 * await using lighttpd = await startLighttpd({
 *   backend: { protocol: "scgi", hostname: "127.0.0.1", port: freePort() },
 *   authorizer: { protocol: "fastcgi", hostname: "127.0.0.1", port: freePort() },
 * });
 * const response = await fetch(`${lighttpd.origin}/protected/secret.txt`);
 * await response.body?.cancel();
 * if (response.status !== 503) throw new Error(`status ${response.status}`);
 * ```
 *
 * @example Let lighttpd spawn the app
 * ```ts ignore
 * import { startLighttpd } from "./frontends.ts";
 *
 * await using lighttpd = await startLighttpd({
 *   binPath: [Deno.execPath(), "run", "--allow-net", "app.ts"],
 *   binEnvironment: { APP_MODE: "test" },
 * });
 * ```
 */
export async function startLighttpd(options: LighttpdOptions): Promise<FrontEnd> {
  const { backend, binPath, binEnvironment = {}, authorizer } = options;
  if ((backend === undefined) === (binPath === undefined)) {
    throw new TypeError('Cannot start lighttpd: give exactly one of "backend" and "binPath"');
  }
  if (binPath !== undefined && binPath.length === 0) {
    throw new TypeError('Cannot start lighttpd: "binPath" is empty');
  }
  if (authorizer !== undefined && authorizer.protocol !== "fastcgi") {
    throw new TypeError('Cannot start lighttpd: the authorizer must use "fastcgi"');
  }
  for (const key of Object.keys(binEnvironment)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new TypeError(`Cannot start lighttpd: environment name "${key}" is not valid`);
    }
  }
  const lighttpd = await findCommand("lighttpd");
  const dir = await tempDir("flup_lighttpd_");
  try {
    const port = freePort();
    const www = join(dir, "www");
    await Deno.mkdir(join(www, "protected"), { recursive: true });
    await Deno.writeTextFile(join(www, "protected", "secret.txt"), SECRET_TEXT);
    await Deno.mkdir(join(dir, "upload"));
    const protocol = backend?.protocol ?? "fastcgi";
    let host: string;
    if (backend !== undefined) {
      host = lighttpdHost(backend);
    } else {
      // lighttpd splits "bin-path" on white space without quoting, so it runs a script that
      // execs the exact argv.
      const script = join(dir, "app.sh");
      await Deno.writeTextFile(
        script,
        `#!/bin/sh\nexec ${(binPath ?? []).map(shellQuote).join(" ")}\n`,
      );
      await Deno.chmod(script, 0o755);
      const environment = Object.entries(binEnvironment).map(([k, v]) => `${q(k)} => ${q(v)}`);
      host = lighttpdHostBlock([
        // lighttpd binds this path (with a "-0" suffix) and passes the socket as fd 0.
        `"socket" => ${q(join(dir, "app.sock"))}`,
        `"bin-path" => ${q(script)}`,
        `"max-procs" => 1`,
        `"bin-environment" => ( ${environment.join(", ")} )`,
        ...LIGHTTPD_ROOT_APP,
      ]);
    }
    const directive = {
      fastcgi: "fastcgi.server",
      scgi: "scgi.server",
      ajp: "ajp13.server",
    }[protocol];
    const mount = protocol === "ajp" ? '""' : '"/"';
    const modules = new Set<string>([
      { fastcgi: "mod_fastcgi", scgi: "mod_scgi", ajp: "mod_ajp13" }[protocol],
    ]);
    if (authorizer !== undefined) modules.add("mod_fastcgi");
    const lines = [
      "# Generated by tests/_helpers/frontends.ts",
      `server.modules = ( ${[...modules].map(q).join(", ")} )`,
      `server.document-root = ${q(www)}`,
      `server.bind = "127.0.0.1"`,
      `server.port = ${port}`,
      `server.pid-file = ${q(join(dir, "lighttpd.pid"))}`,
      `server.errorlog = ${q(join(dir, "error.log"))}`,
      `server.upload-dirs = ( ${q(join(dir, "upload"))} )`,
      `server.tag = "lighttpd"`,
      // No server.username: workers stay root so they can reach root-owned 0660 sockets.
      "server.stream-request-body = 2",
      "server.stream-response-body = 2",
      "server.max-request-size = 51200",
      `mimetype.assign = ( ".txt" => "text/plain; charset=utf-8" )`,
      ...(authorizer === undefined ? [`${directive} = ( ${mount} => ${host} )`] : [
        '$HTTP["url"] =^ "/protected/" {',
        // After the authorizer answers 200, lighttpd goes on with the request in "docroot"
        // and, with no other handler here, the static file module serves the file.
        `  fastcgi.server = ( "/protected/" => ${
          lighttpdHostBlock([
            ...lighttpdAddress(authorizer),
            `"mode" => "authorizer"`,
            `"docroot" => ${q(www)}`,
            `"check-local" => "disable"`,
          ])
        } )`,
        "}",
        "else {",
        `  ${directive} = ( ${mount} => ${host} )`,
        "}",
      ]),
      "",
    ];
    const conf = join(dir, "lighttpd.conf");
    await Deno.writeTextFile(conf, lines.join("\n"));
    const name = [
      "lighttpd",
      protocol,
      ...(binPath !== undefined ? ["bin-path"] : []),
      ...(backend !== undefined && "path" in backend ? ["unix"] : []),
      ...(authorizer !== undefined ? ["authorizer"] : []),
    ].join(" ");
    return await launch({
      name,
      dir,
      port,
      command: lighttpd,
      args: ["-D", "-f", conf],
      errorLog: join(dir, "error.log"),
      pidFile: join(dir, "lighttpd.pid"),
    });
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** lighttpd's `( ( ... ) )` host list with one host, for a running backend. */
function lighttpdHost(backend: Backend): string {
  // mod_ajp13 keeps the request path only with a "" mount, and has no fix-root-scriptname.
  const app = backend.protocol === "ajp" ? [`"check-local" => "disable"`] : LIGHTTPD_ROOT_APP;
  return lighttpdHostBlock([...lighttpdAddress(backend), ...app]);
}

/**
 * Entries for an app mounted at "/": do not look for a local file, and send SCRIPT_NAME ""
 * with the whole path in PATH_INFO (without fix-root-scriptname lighttpd splits "/a/b" into
 * SCRIPT_NAME "/a" and PATH_INFO "/b").
 */
const LIGHTTPD_ROOT_APP = [`"check-local" => "disable"`, `"fix-root-scriptname" => "enable"`];

/** The address entries of a lighttpd host block. */
function lighttpdAddress(backend: Backend): string[] {
  return "path" in backend
    ? [`"socket" => ${q(backend.path)}`]
    : [`"host" => ${q(backend.hostname)}`, `"port" => ${backend.port}`];
}

/** Wraps host entries in lighttpd's list-of-hosts syntax. */
function lighttpdHostBlock(entries: string[]): string {
  return `( ( ${entries.join(", ")} ) )`;
}

interface LaunchOptions {
  name: string;
  dir: string;
  port: number;
  command: string;
  args: string[];
  errorLog: string;
  pidFile: string;
}

/** Spawns the server in a new session and waits until it listens. */
async function launch(options: LaunchOptions): Promise<FrontEnd> {
  const stderrPath = join(options.dir, "stderr.log");
  const stderrFile = await Deno.open(stderrPath, { write: true, create: true, truncate: true });
  let child: Deno.ChildProcess;
  try {
    // setsid makes the server the leader of a new process group, so stop() can kill the
    // group (nginx and Apache workers, lighttpd's spawned apps) if the leader does not clean up.
    child = new Deno.Command("setsid", {
      args: [options.command, ...options.args],
      cwd: options.dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    stderrFile.close();
    throw error;
  }
  const frontEnd = new RunningFrontEnd(options, child, stderrFile, stderrPath);
  const ready = await frontEnd.waitReady(options.pidFile);
  if (ready !== undefined) {
    await frontEnd.stop();
    const log = await frontEnd.errorLog();
    throw new Error(`Cannot start ${options.name}: ${ready}\n${log}`);
  }
  return frontEnd;
}

class RunningFrontEnd implements FrontEnd {
  readonly name: string;
  readonly origin: string;
  #options: LaunchOptions;
  #child: Deno.ChildProcess;
  #status: Promise<Deno.CommandStatus>;
  #exit: Deno.CommandStatus | undefined;
  #piping: Promise<void>;
  #pipeAbort = new AbortController();
  #stderrPath: string;
  #stopping: Promise<void> | undefined;
  #finalLog: string | undefined;

  constructor(
    options: LaunchOptions,
    child: Deno.ChildProcess,
    stderrFile: Deno.FsFile,
    stderrPath: string,
  ) {
    this.name = options.name;
    this.origin = `http://127.0.0.1:${options.port}`;
    this.#options = options;
    this.#child = child;
    this.#stderrPath = stderrPath;
    this.#status = child.status.then((status) => {
      this.#exit = status;
      return status;
    });
    this.#piping = child.stderr
      .pipeTo(stderrFile.writable, { signal: this.#pipeAbort.signal })
      .catch(() => {});
  }

  /** Polls until the pid file is written and the port accepts; returns why not, if not. */
  async waitReady(pidFile: string): Promise<string | undefined> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.#exit !== undefined) {
        return `the process exited with code ${this.#exit.code}`;
      }
      // The pid file is written after the port is bound, so a connection that succeeds
      // afterwards reaches this server and not a stranger that took the port first.
      if (await hasContent(pidFile) && await accepts(this.#options.port)) return undefined;
      if (Date.now() >= deadline) {
        return `port ${this.#options.port} not ready after ${READY_TIMEOUT_MS} ms`;
      }
      await delay(READY_INTERVAL_MS);
    }
  }

  async errorLog(): Promise<string> {
    if (this.#finalLog !== undefined) return this.#finalLog;
    return await this.#readLogs();
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stop(): Promise<void> {
    const pid = this.#child.pid;
    if (this.#exit === undefined) signal(pid, "SIGTERM");
    if (!await settles(this.#status, STOP_TIMEOUT_MS)) signal(-pid, "SIGKILL");
    await this.#status;
    // Leftovers of the group (workers, spawned apps) whose leader is gone.
    signal(-pid, "SIGKILL");
    if (!await settles(this.#piping, STOP_TIMEOUT_MS)) {
      this.#pipeAbort.abort();
      await this.#piping;
    }
    this.#finalLog = await this.#readLogs();
    await Deno.remove(this.#options.dir, { recursive: true }).catch(() => {});
  }

  async #readLogs(): Promise<string> {
    const errorLog = await readIfExists(this.#options.errorLog);
    const stderr = await readIfExists(this.#stderrPath);
    return stderr === "" ? errorLog : `${errorLog}\n--- stderr ---\n${stderr}`;
  }
}

/** Sends a signal, ignoring a process (group) that is already gone. */
function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // Already exited.
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port, transport: "tcp" });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function hasContent(path: string): Promise<boolean> {
  try {
    return (await Deno.readTextFile(path)).trim() !== "";
  } catch {
    return false;
  }
}

async function readIfExists(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

/** Finds a server binary on PATH or in the sbin folders, which PATH may lack for non-root. */
async function findCommand(name: string): Promise<string> {
  const dirs = [
    ...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""),
    "/usr/sbin",
    "/sbin",
    "/usr/local/sbin",
  ];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      const info = await Deno.stat(path);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) return path;
    } catch {
      // Not here.
    }
  }
  throw new Error(`Cannot find "${name}": run "bash tests/setup.sh" to install it`);
}

function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** An IPv6 literal needs brackets in host:port. */
function hostForConfig(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** Double-quotes a value for an nginx, Apache or lighttpd configuration file. */
function q(value: string): string {
  if (/["\\\n\r]/.test(value)) {
    throw new TypeError(`Cannot quote "${value}" for a configuration file`);
  }
  return `"${value}"`;
}

/** Single-quotes one shell word. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
