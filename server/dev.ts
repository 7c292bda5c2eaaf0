/**
 * `flup dev`: try a flup app (or php-fpm) in a browser with nothing else installed. The app is
 * served over FastCGI (or SCGI) on a Unix socket in a private temporary directory, and a
 * `Deno.serve` front on 127.0.0.1 forwards every request to it through the client, the way
 * nginx would in production. Or the front forwards to a backend that already runs.
 *
 * @example Serve an app and ask it something
 * ```ts
 * import { startDev } from "@flup/flup";
 * import { assertEquals } from "@std/assert";
 *
 * await using dev = await startDev({ app: () => new Response("hello"), port: 0 });
 * const response = await fetch(dev.url);
 * assertEquals(await response.text(), "hello");
 * ```
 *
 * @module
 */

import { join } from "@std/path";
import { isLoopback } from "./_address.ts";
import { defaultLogger } from "./_log.ts";
import { FastCgiClient } from "./fastcgi/client.ts";
import { serveFastCgi } from "./fastcgi/server.ts";
import { moduleHref } from "./_pool.ts";
import type { ClientAddress } from "./_client_address.ts";
import { createProxyHandler } from "./proxy.ts";
import { ScgiClient } from "./scgi/client.ts";
import { serveScgi } from "./scgi/server.ts";
import type {
  GatewayInfo,
  GatewayLogger,
  GatewayRole,
  GatewayServer,
  Handler,
  LogLevel,
  ProtocolName,
  ServeModule,
} from "./types.ts";
import type { MemberConfig, MemberMessage, ParentMessage } from "./_pool_member.ts";

export type {
  ClientAddress,
  GatewayInfo,
  GatewayLogger,
  GatewayRole,
  Handler,
  LogLevel,
  ProtocolName,
  ServeModule,
};

/** Options of {@linkcode startDev}: give `app` or `backend`. */
export interface DevOptions {
  /**
   * The app to serve: a module path or URL whose default export is `{ fetch }`, a handler, or
   * such a module object.
   */
  app?: string | Handler | ServeModule;
  /**
   * A backend that already runs (php-fpm, a flup server): `"unix:/PATH"`, `"HOST:PORT"` or an
   * address object. Instead of `app`.
   */
  backend?: string | ClientAddress;
  /**
   * The protocol between the front and the app or backend.
   *
   * @default {"fastcgi"}
   */
  protocol?: "fastcgi" | "scgi";
  /**
   * The Unix socket the app listens on. Unset, `app.sock` in a new private temporary directory
   * (removed on stop). A fixed path lets permissions name it (`--allow-net=unix:PATH`); a stale
   * socket file there is replaced, a live one refused, and the file is removed on stop.
   *
   * @default {undefined}
   */
  socketPath?: string;
  /**
   * Where an `app` given as a module path runs: `"thread"` in a Web Worker (the front and the
   * app then use two cores, as a web server and its backend would), `"inprocess"` in this
   * isolate. An app given as a handler always runs in-process.
   *
   * @default {"thread"}
   */
  flavor?: "thread" | "inprocess";
  /**
   * `DOCUMENT_ROOT` for the backend (php-fpm needs it to find scripts: `SCRIPT_FILENAME` is the
   * root plus the path). Unset, requests are sent as to an app mounted at `/`.
   *
   * @default {undefined}
   */
  documentRoot?: string;
  /**
   * The front's address; only loopback addresses are accepted (a dev server is not for the
   * network).
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The front's port; 0 picks a free one.
   *
   * @default {8000}
   */
  port?: number;
  /**
   * Most connections from the front to the app or backend.
   *
   * @default {64}
   */
  maxConnections?: number;
  /**
   * Milliseconds in-flight requests get to finish on shutdown; then the app's are aborted.
   *
   * @default {10000}
   */
  drainTimeout?: number;
  /** Aborting it shuts everything down, as `shutdown()` does. */
  signal?: AbortSignal;
  /**
   * Receives log lines of the front, the client and the app's gateway.
   *
   * @default {warnings and errors to `console.error`}
   */
  log?: GatewayLogger;
}

/** A running `flup dev`. */
export interface DevServer extends AsyncDisposable {
  /** The front's URL, e.g. `http://127.0.0.1:8000/`. */
  readonly url: string;
  /** Where the front forwards to: `unix:/tmp/flup_dev_.../app.sock` or the given backend. */
  readonly backend: string;
  /** The protocol the front speaks to it. */
  readonly protocol: "fastcgi" | "scgi";
  /** Settles once everything has stopped and the temporary directory is removed. */
  readonly finished: Promise<void>;
  /**
   * Stops the front, lets requests finish within `drainTimeout`, stops the app, removes the
   * temporary directory.
   *
   * @returns Resolves like `finished`.
   */
  shutdown(): Promise<void>;
}

/** A running app, as `startDev` stops it. */
interface DevApp {
  shutdown(): Promise<void>;
}

/**
 * Runs the app module in a Web Worker through the thread pool's member entry point (the same
 * loading and serving as `serveThreads`, one member, no dispatching parent in between).
 */
async function startWorkerApp(
  module: string,
  protocol: "fastcgi" | "scgi",
  path: string,
  drainTimeout: number,
  log: GatewayLogger,
): Promise<DevApp> {
  const worker = new Worker(new URL("./_worker_main.ts", import.meta.url), { type: "module" });
  const ready = Promise.withResolvers<void>();
  const exited = Promise.withResolvers<void>();
  worker.onmessage = (event: MessageEvent<MemberMessage>) => {
    const message = event.data;
    if (message.type === "ready") ready.resolve();
    else if (message.type === "log") log(message.level, message.message);
    else if (message.type === "failed") ready.reject(new TypeError(message.message));
    else if (message.type === "exit") exited.resolve();
  };
  worker.onerror = (event) => {
    event.preventDefault();
    const error = new Error(`dev app crashed: ${event.message}`);
    ready.reject(error);
    log("error", error.message);
    exited.resolve();
  };
  const config: MemberConfig = {
    id: 1,
    protocol,
    module: moduleHref(module),
    listen: { path },
    options: { drainTimeout, socketMode: 0o600 },
    maxRequests: 0,
  };
  worker.postMessage({ type: "start", config } satisfies ParentMessage);
  const stop = async (): Promise<void> => {
    worker.postMessage({ type: "retire" } satisfies ParentMessage);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      exited.promise,
      new Promise((resolve) => timer = setTimeout(resolve, drainTimeout + 1000)),
    ]);
    clearTimeout(timer);
    worker.terminate();
  };
  try {
    await ready.promise;
  } catch (error) {
    worker.terminate();
    throw error;
  }
  return { shutdown: stop };
}

/**
 * Loads an app module: a path (relative to the working directory) or URL whose default export
 * has a `fetch` method (the `deno serve` shape).
 *
 * @param app The module path or URL.
 * @returns The module's `fetch`, bound to its default export.
 * @throws {TypeError} When the module has no default export with `fetch`.
 *
 * @example Usage
 * ```ts ignore
 * import { loadApp } from "@flup/flup";
 *
 * const handler = await loadApp("examples/hello.ts");
 * ```
 */
export async function loadApp(app: string): Promise<Handler> {
  const module = await import(moduleHref(app)) as { default?: Partial<ServeModule> };
  const fetch = module.default?.fetch;
  if (typeof fetch !== "function") {
    throw new TypeError(
      `Cannot load app "${app}": it has no default export with a fetch() method ` +
        `(export default { fetch })`,
    );
  }
  return fetch.bind(module.default);
}

/**
 * Starts `flup dev`: the app on a FastCGI (or SCGI) Unix socket in a new private temporary
 * directory, or nothing when `backend` is given, and an HTTP front on 127.0.0.1 that forwards
 * every request through the client over a kept-alive connection pool.
 *
 * Permissions: `--allow-net` for the front's address and for the socket
 * (`--allow-net=127.0.0.1:8000,unix:PATH`, so give `socketPath` to name it), `--allow-read` and
 * `--allow-write` of the socket (without `socketPath`: of the system's temporary directory),
 * `--allow-read` of the app module and, for `flavor: "thread"`, of flup's `server/` folder (the
 * Worker's entry point), plus what the app needs. With `backend`, only the front's address and
 * the backend's.
 *
 * @param options The app or backend, the protocol, the front's address.
 * @returns The running dev server, once the front listens.
 * @throws {TypeError} With neither or both of `app` and `backend`, or a non-loopback hostname.
 *
 * @example Front an app over SCGI
 * ```ts
 * import { startDev } from "@flup/flup";
 * import { assertEquals } from "@std/assert";
 *
 * const dev = await startDev({
 *   app: (request) => new Response(new URL(request.url).pathname),
 *   protocol: "scgi",
 *   port: 0,
 * });
 * assertEquals(await (await fetch(new URL("/x", dev.url))).text(), "/x");
 * await dev.shutdown();
 * ```
 */
export async function startDev(options: DevOptions): Promise<DevServer> {
  const { app, backend } = options;
  if ((app === undefined) === (backend === undefined)) {
    throw new TypeError("Cannot start dev server: give either app or backend");
  }
  const protocol = options.protocol ?? "fastcgi";
  if (protocol !== "fastcgi" && protocol !== "scgi") {
    throw new TypeError(`Cannot start dev server: protocol "${protocol}" is not fastcgi or scgi`);
  }
  const hostname = options.hostname ?? "127.0.0.1";
  if (!isLoopback(hostname) && hostname !== "localhost") {
    throw new TypeError(
      `Cannot start dev server on "${hostname}": only loopback addresses are allowed`,
    );
  }
  const log = options.log ?? defaultLogger;
  const drainTimeout = options.drainTimeout ?? 10_000;
  let dir: string | null = null;
  let gateway: DevApp | null = null;
  let address: string | ClientAddress;
  try {
    if (app !== undefined) {
      const thread = typeof app === "string" && (options.flavor ?? "thread") === "thread";
      const handler = typeof app === "string" ? (thread ? null : await loadApp(app)) : app;
      let path: string;
      if (options.socketPath !== undefined) path = options.socketPath;
      else {
        dir = await Deno.makeTempDir({ prefix: "flup_dev_" });
        await Deno.chmod(dir, 0o700);
        path = join(dir, "app.sock");
      }
      if (handler === null) {
        gateway = await startWorkerApp(app as string, protocol, path, drainTimeout, log);
      } else {
        const serveOptions = { path, socketMode: 0o600, log, drainTimeout };
        const server: GatewayServer = protocol === "fastcgi"
          ? serveFastCgi(handler, serveOptions)
          : serveScgi(handler, serveOptions);
        gateway = server;
        await server.ready;
      }
      address = { path };
    } else address = backend!;
    const common = {
      address,
      log,
      ...(options.maxConnections ? { maxConnections: options.maxConnections } : {}),
      ...(options.documentRoot !== undefined
        ? { documentRoot: options.documentRoot }
        : { scriptName: "" }),
    };
    const client: FastCgiClient | ScgiClient = protocol === "fastcgi"
      ? new FastCgiClient(common)
      : new ScgiClient(common);
    const handler = createProxyHandler({ client, log });
    const listening = Promise.withResolvers<Deno.NetAddr>();
    const front = Deno.serve({
      hostname,
      port: options.port ?? 8000,
      onListen: (addr) => listening.resolve(addr),
      onError: (error) => {
        log("error", `dev front: ${error instanceof Error ? error.message : error}`);
        return new Response("Internal Server Error\n", { status: 500 });
      },
    }, (request, info) => handler(request, info));
    const addr = await listening.promise;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    let stopping: Promise<void> | null = null;
    const openGateway = gateway;
    const openDir = dir;
    const shutdown = (): Promise<void> => {
      stopping ??= (async () => {
        options.signal?.removeEventListener("abort", onAbort);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const drained = front.shutdown();
        const late = await Promise.race([
          drained.then(() => false),
          new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), drainTimeout)),
        ]);
        clearTimeout(timer);
        if (late) log("warn", `drainTimeout (${drainTimeout}) reached: stopping the dev app`);
        // Stopping the app (drained, then aborted) ends responses still streaming through.
        await openGateway?.shutdown();
        await drained;
        await client.close();
        if (openDir) await Deno.remove(openDir, { recursive: true }).catch(() => {});
      })();
      return stopping;
    };
    const onAbort = (): void => void shutdown();
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
    const finished = front.finished.then(() => shutdown());
    return {
      url: `http://${host}:${addr.port}/`,
      backend: client.address,
      protocol,
      finished,
      shutdown,
      [Symbol.asyncDispose]: shutdown,
    };
  } catch (error) {
    await gateway?.shutdown();
    if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}
