// The pool core shared by the thread and fork flavors: slots with one serving member each,
// recycling after maxRequests (replacement first, then the old member drains), respawn after
// a crash with backoff for start failures, reload one slot at a time, and a draining shutdown.
// thread.ts and fork.ts only say how to spawn, retire and kill one member.

import { join, resolve, toFileUrl } from "@std/path";
import { isLoopback } from "./_address.ts";
import { prepareUnixPath } from "./_listen.ts";
import { resolveOptions } from "./_options.ts";
import { Dispatcher, type DispatchFront } from "./_pool_dispatch.ts";
import type {
  MemberConfig,
  MemberListen,
  MemberMessage,
  MemberServeOptions,
  PoolProtocol,
} from "./_pool_member.ts";
import { POOL_SERVERS } from "./_pool_member.ts";
import type { FastCgiServeOptions } from "./fastcgi/server.ts";
import type { GatewayLogger, GatewayServer } from "./types.ts";

/**
 * Options of {@linkcode serveThreads} and {@linkcode serveForks}: the app module, the pool's
 * shape, and the server options every member serves with.
 *
 * Limits that count connections or requests (`maxConnections`, `maxRequestsPerConnection`)
 * apply to each member: the pool as a whole takes `workers` times as many. Timeouts apply to
 * each connection as they do in-process. `drainTimeout` bounds each member's drain; a member
 * still running `drainTimeout` + 2 s after it was told to drain is killed.
 *
 * Not available in pools, because functions cannot cross into a Worker or process:
 * `onError` (handle errors in the app module), a `handlerTimeout` function (give a number),
 * and `listener` (give `hostname`/`port`, `path` or `fd: 0`).
 */
export interface PoolOptions
  extends Omit<FastCgiServeOptions, "listener" | "onError" | "handlerTimeout"> {
  /**
   * The app module: a path (relative to the working directory) or URL whose default export
   * is `{ fetch }`. Each member imports it on its own, so module state (caches, counters,
   * connections, in-memory sessions) is per member and never shared.
   */
  module: string | URL;
  /**
   * The protocol every member serves.
   *
   * @default {"fastcgi"}
   */
  protocol?: PoolProtocol;
  /**
   * How many members start, and the fewest that serve (a recycled or crashed member is
   * replaced). The pool stays at this size unless `maxWorkers` is larger.
   *
   * @default {navigator.hardwareConcurrency}
   */
  workers?: number;
  /**
   * Makes the pool adaptive (flup's prefork `maxChildren`): it starts `workers` members, keeps
   * at least that many, and grows up to `maxWorkers` while fewer than `minSpare` members are
   * idle. When unset, or equal to `workers`, the pool has a fixed size.
   *
   * @default {workers}
   */
  maxWorkers?: number;
  /**
   * Adaptive pools: the fewest idle members (no request in flight) to keep; below it one more
   * member starts, up to `maxWorkers`.
   *
   * @default {1}
   */
  minSpare?: number;
  /**
   * Adaptive pools: the most idle members to keep; above it, once a second, one idle member
   * beyond `workers` drains and stops.
   *
   * @default {2}
   */
  maxSpare?: number;
  /**
   * Requests after which a member is recycled; 0 never recycles. A soft limit: the member
   * asks for a replacement when it reaches the count and keeps serving until the replacement
   * accepts connections, then stops accepting and drains, so no request is refused.
   *
   * @default {0}
   */
  maxRequests?: number;
  /**
   * Milliseconds a handler may take to return its `Response` (a number only in pools).
   *
   * @default {undefined}
   */
  handlerTimeout?: number;
  /**
   * How TCP connections reach members.
   *
   * - `"reusePort"`: every member binds the address itself with `SO_REUSEPORT` and the
   *   kernel spreads new connections by a hash; nothing passes through the parent. It
   *   spreads connections, not requests: behind nginx upstream keepalive (a few long-lived
   *   connections) members can be loaded unevenly (bench/flavors: 1.2x to 1.7x in-process
   *   across runs, against a steady 1.6x for dispatch). And a member that stops listening
   *   (recycle, reload, crash) makes the kernel reset the connections still in its own
   *   accept queue, unless `net.ipv4.tcp_migrate_req = 1` (Linux 5.14+), which moves them
   *   to another member.
   * - `"dispatch"`: the parent accepts and copies bytes to the member with the fewest
   *   open connections over a private Unix socket in `socketDir`. Recycling never loses a
   *   connection, on any kernel; the copy costs some parent CPU. The members see a Unix
   *   peer, so the parent applies `allowedAddresses`.
   * - `"auto"`: `"reusePort"` when `/proc/sys/net/ipv4/tcp_migrate_req` reads 1 (and may be
   *   read without prompting), else `"dispatch"`.
   *
   * Unix sockets always use dispatch; fd 0 uses the shared inherited socket (fork: every
   * child accepts from it) or dispatch (thread: closing it in one Worker closes it for all).
   *
   * @default {"auto"}
   */
  balance?: "auto" | "reusePort" | "dispatch";
  /**
   * The directory for the members' private Unix sockets in dispatch mode.
   *
   * @default {a new temporary directory, removed on shutdown}
   */
  socketDir?: string;
  /**
   * SCGI only: the mount point that splits `SCRIPT_NAME` from `PATH_INFO` when the front end
   * sends only `REQUEST_URI` (see `serveScgi`).
   *
   * @default {undefined}
   */
  scriptName?: string;
  /**
   * AJP only: the shared secret every request must carry (see `serveAjp`). Required unless
   * the pool listens on loopback, a Unix socket or fd 0, or `insecureNoSecret` is set.
   *
   * @default {undefined}
   */
  secret?: string;
  /**
   * AJP only: serve on a non-loopback TCP address without a `secret` (logged as a warning).
   *
   * @default {false}
   */
  insecureNoSecret?: boolean;
  /**
   * AJP only: `req_attribute` names accepted beyond the ones front ends send on their own.
   *
   * @default {undefined}
   */
  allowedRequestAttributesPattern?: RegExp;
  /**
   * AJP only: the largest packet, 8192 to 65536, equal to the front end's.
   *
   * @default {8192}
   */
  packetSize?: number;
}

/** A running pool: a {@linkcode GatewayServer} that can also replace its members. */
export interface PoolServer extends GatewayServer {
  /**
   * Replaces every member one by one (for new code): each replacement accepts connections
   * before the member it replaces stops accepting and drains, so no request is refused.
   * A replacement that fails to start rejects the reload and leaves that slot's member
   * serving.
   *
   * @returns Resolves when every slot serves from a new member.
   */
  reload(): Promise<void>;
}

/** What a flavor reports about one member. */
export interface MemberEvents {
  /** A message from the member (ready, full, log, failed). */
  message(message: MemberMessage): void;
  /** The member is gone; called once. */
  exit(code: number, detail: string): void;
}

/** One running member, as the flavor controls it. */
export interface MemberHandle {
  /** For log lines, e.g. `"worker 3"` or `"child 3 (pid 1234)"`. */
  readonly label: string;
  /** Stop accepting, drain in-flight requests, then exit. */
  retire(): void;
  /** Stop now. */
  kill(): void;
}

/** Starts one member of a flavor. */
export type SpawnMember = (config: MemberConfig, events: MemberEvents) => MemberHandle;

/** How often an adaptive pool looks for too many idle members. */
const SPARE_CHECK_MS = 1000;

/** How long a stopping pool lets the parent finish copying answers of exited members. */
const COPY_SETTLE_MS = 2000;

/** Consecutive start failures after which a pool that never became ready gives up. */
const START_ATTEMPTS = 5;
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 30_000;
const KILL_GRACE_MS = 2000;
const RECYCLE = "maxRequests reached";

interface Member {
  id: number;
  slot: Slot;
  handle: MemberHandle;
  ready: boolean;
  retiring: boolean;
  /** Adaptive pools: a request is in flight (as last reported). */
  busy: boolean;
  path: string | null;
  /** Why this member replaces the slot's current one (recycle, reload), if it does. */
  replacing: string | null;
  started: PromiseWithResolvers<void>;
}

interface Slot {
  index: number;
  /** Taken out by an adaptive pool's shrinking: never respawned. */
  removed: boolean;
  current: Member | undefined;
  next: Member | undefined;
  failures: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The module option as a URL string, paths resolved against the working directory. */
export function moduleHref(module: string | URL): string {
  if (module instanceof URL) return module.href;
  return /^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)
    ? module
    : toFileUrl(resolve(module)).href;
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  const result = value ?? fallback;
  if (!Number.isInteger(result) || result < min) {
    throw new RangeError(
      `Cannot start pool: "${name}" must be a whole number of at least ${min}, got "${value}"`,
    );
  }
  return result;
}

const MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";

/** `true` when Linux moves queued connections of a closed SO_REUSEPORT listener to another. */
function kernelMigratesRequests(): boolean {
  try {
    if (Deno.permissions.querySync({ name: "read", path: MIGRATE_REQ }).state !== "granted") {
      return false;
    }
    return Deno.readTextFileSync(MIGRATE_REQ).trim() === "1";
  } catch {
    return false;
  }
}

/** The `FCGI_WEB_SERVER_ADDRS` list, read in the parent if it can be read without prompting. */
function webServerAddrs(): string[] | undefined {
  const descriptor = { name: "env", variable: "FCGI_WEB_SERVER_ADDRS" } as const;
  if (Deno.permissions.querySync(descriptor).state !== "granted") return undefined;
  const value = Deno.env.get("FCGI_WEB_SERVER_ADDRS");
  if (!value) return undefined;
  return value.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
}

/** The server options sent to every member (JSON-safe; functions stay in the parent). */
function memberServeOptions(
  options: PoolOptions,
  allowedAddresses: readonly string[] | undefined,
): MemberServeOptions {
  const keys = [
    "debug",
    "maxConnections",
    "maxParamsBytes",
    "maxParamsPairs",
    "maxBodyBytes",
    "bodyBufferSize",
    "paramsTimeout",
    "bodyTimeout",
    "keepAliveTimeout",
    "drainTimeout",
    "handlerTimeout",
    "roles",
    "maxRequestsPerConnection",
    "scriptName",
    "secret",
    "insecureNoSecret",
    "packetSize",
  ] as const;
  const result: MemberServeOptions = { readWebServerAddrs: false };
  for (const key of keys) {
    const value = options[key];
    if (value !== undefined) result[key] = value;
  }
  if (allowedAddresses) result.allowedAddresses = allowedAddresses;
  const pattern = options.allowedRequestAttributesPattern;
  if (pattern !== undefined) {
    if (!(pattern instanceof RegExp)) {
      throw new TypeError(
        'Cannot start pool: "allowedRequestAttributesPattern" must be a RegExp',
      );
    }
    // A RegExp cannot cross postMessage or a pipe as JSON: members rebuild it.
    result.allowedRequestAttributesPattern = pattern.source;
    result.allowedRequestAttributesFlags = pattern.flags;
  }
  return result;
}

/**
 * Starts a pool of `flavor` members. Throws on bad options; binding errors reject `ready`.
 */
export function startPool(
  flavor: "thread" | "fork",
  options: PoolOptions,
  spawn: SpawnMember,
): PoolServer {
  if (options.module === undefined) throw new TypeError('Cannot start pool: "module" is missing');
  const href = moduleHref(options.module);
  const protocol = options.protocol ?? "fastcgi";
  if (!(protocol in POOL_SERVERS)) {
    throw new TypeError(`Cannot start pool: unknown protocol "${protocol}"`);
  }
  const size = count("workers", options.workers, navigator.hardwareConcurrency || 1, 1);
  const maxRequests = count("maxRequests", options.maxRequests, 0, 0);
  const maxWorkers = count("maxWorkers", options.maxWorkers, size, size);
  const minSpare = count("minSpare", options.minSpare, 1, 1);
  const maxSpare = count("maxSpare", options.maxSpare, Math.max(2, minSpare), minSpare);
  const adaptive = maxWorkers > size;
  const resolved = resolveOptions(options as FastCgiServeOptions);
  const log: GatewayLogger = resolved.log;
  const name = `${flavor} pool`;
  const requested = options.balance ?? "auto";
  if (requested !== "auto" && requested !== "reusePort" && requested !== "dispatch") {
    throw new TypeError(`Cannot start pool: unknown balance "${requested}"`);
  }
  const balance = requested === "auto"
    ? (kernelMigratesRequests() ? "reusePort" : "dispatch")
    : requested;
  let allowedAddresses = options.allowedAddresses;
  if (allowedAddresses === undefined && (options.readWebServerAddrs ?? true)) {
    allowedAddresses = webServerAddrs();
  }

  // Where members listen, and whether the parent dispatches.
  type Mode =
    | { kind: "reusePort"; hostname: string; port: number }
    | { kind: "shared" }
    | { kind: "dispatch"; front: () => Promise<DispatchFront> };
  let mode: Mode;
  if (options.fd === 0) {
    mode = flavor === "fork"
      ? { kind: "shared" }
      : { kind: "dispatch", front: () => Promise.resolve({ fd: 0 }) };
  } else if (options.path !== undefined) {
    const path = options.path;
    mode = {
      kind: "dispatch",
      front: async () => {
        await prepareUnixPath(path);
        const listener = Deno.listen({ transport: "unix", path });
        Deno.chmodSync(path, options.socketMode ?? 0o660);
        return { listener };
      },
    };
  } else {
    const hostname = options.hostname ?? "127.0.0.1";
    let port = options.port ?? 9000;
    if (
      protocol === "ajp" && !isLoopback(hostname) && options.secret === undefined &&
      !options.insecureNoSecret
    ) {
      // Members behind dispatch see a Unix peer and cannot check this themselves.
      throw new TypeError(
        `Cannot serve AJP on "${hostname}" without a secret: set "secret" to the front end's, ` +
          `listen on loopback or a Unix socket, or set "insecureNoSecret: true" if only the ` +
          `front end can reach this address`,
      );
    }
    if (protocol === "ajp" && !isLoopback(hostname) && options.secret === undefined) {
      log("warn", `insecureNoSecret: serving AJP on ${hostname} without a secret`);
    }
    if (!isLoopback(hostname) && (allowedAddresses ?? []).length === 0) {
      log("warn", `listening on ${hostname} with no allowedAddresses: any peer may connect`);
    }
    if (balance === "dispatch") {
      // Binds now, so an address in use throws here as it does in-process.
      const listener = Deno.listen({ hostname, port });
      mode = { kind: "dispatch", front: () => Promise.resolve({ listener }) };
    } else {
      if (port === 0) {
        // Members must agree on one port: pick a free one here.
        const probe = Deno.listen({ hostname, port: 0 });
        port = probe.addr.port;
        probe.close();
      }
      mode = { kind: "reusePort", hostname, port };
    }
  }
  const dispatching = mode.kind === "dispatch";
  const serveOptions = memberServeOptions(
    options,
    dispatching ? undefined : allowedAddresses, // the parent applies them when dispatching
  );

  const slots: Slot[] = Array.from({ length: size }, (_, index) => ({
    index,
    removed: false,
    current: undefined,
    next: undefined,
    failures: 0,
    timer: undefined,
  }));
  const members = new Set<Member>();
  let nextId = 1;
  let closing = false;
  let everReady = false;
  let dispatcher: Dispatcher | undefined;
  let socketDir: string | undefined;
  let ownSocketDir = false;
  let sharedAddr: Deno.Addr | undefined;
  let publicAddr: Deno.Addr | undefined;
  const readyDeferred = Promise.withResolvers<Deno.Addr>();
  const stoppedBeforeReady = new Error(`${name} was stopped before every member was ready`);
  const finishedDeferred = Promise.withResolvers<void>();
  readyDeferred.promise.catch(() => {});
  finishedDeferred.promise.catch(() => {});

  const memberListen = (id: number): { listen: MemberListen; path: string | null } => {
    if (mode.kind === "reusePort") {
      return { listen: { hostname: mode.hostname, port: mode.port }, path: null };
    }
    if (mode.kind === "shared") return { listen: { fd: 0 }, path: null };
    const path = join(socketDir!, `member-${id}.sock`); // set before the first spawn
    return { listen: { path, dispatched: true }, path };
  };

  const startMember = (slot: Slot, replacing: string | null = null): Member => {
    const id = nextId++;
    const { listen, path } = memberListen(id);
    const config: MemberConfig = {
      id,
      protocol,
      module: href,
      listen,
      options: serveOptions,
      maxRequests,
      ...(adaptive ? { reportBusy: true } : {}),
    };
    const member = {
      id,
      slot,
      ready: false,
      retiring: false,
      busy: false,
      path,
      replacing,
      started: Promise.withResolvers<void>(),
    } as Member;
    member.started.promise.catch(() => {});
    member.handle = spawn(config, {
      message: (message) => onMessage(member, message),
      exit: (code, detail) => onExit(member, code, detail),
    });
    members.add(member);
    log("info", `${name}: ${member.handle.label} spawned`);
    return member;
  };

  const retire = (member: Member, why: string): void => {
    if (member.retiring) return;
    member.retiring = true;
    log("info", `${name}: ${member.handle.label} draining (${why})`);
    // Out of dispatch first; the member drains once no connect to it is in progress.
    const settled = dispatcher ? dispatcher.remove(member.id) : Promise.resolve();
    settled.then(() => member.handle.retire());
    const timer = setTimeout(() => {
      if (!members.has(member)) return;
      log("warn", `${name}: ${member.handle.label} still running after drainTimeout: killed`);
      member.handle.kill();
    }, resolved.drainTimeout + KILL_GRACE_MS);
    exitWaiters.set(member, timer);
  };
  const exitWaiters = new Map<Member, ReturnType<typeof setTimeout>>();

  /** Starts a replacement for the slot; resolves once it serves and the old one drains. */
  const replace = (slot: Slot, why: string): Promise<void> => {
    if (slot.next) return slot.next.started.promise;
    const next = startMember(slot, why);
    slot.next = next;
    return next.started.promise;
  };

  const backoff = (failures: number): number =>
    Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, failures - 1));

  const onMessage = (member: Member, message: MemberMessage): void => {
    switch (message.type) {
      case "ready": {
        member.ready = true;
        const slot = member.slot;
        slot.failures = 0;
        if (slot.next === member) slot.next = undefined;
        const previous = slot.current;
        slot.current = member;
        if (mode.kind === "shared") sharedAddr ??= message.addr;
        if (member.path) dispatcher?.add(member.id, member.path);
        log("info", `${name}: ${member.handle.label} ready`);
        member.started.resolve();
        // The replacement accepts first; only then does the member it replaces stop.
        if (previous && previous !== member) retire(previous, member.replacing ?? "replaced");
        if (closing) retire(member, "shutdown");
        else if (!everReady && slots.every((s) => s.current?.ready)) {
          everReady = true;
          readyDeferred.resolve(
            mode.kind === "reusePort"
              ? { transport: "tcp", hostname: mode.hostname, port: mode.port }
              : publicAddr ?? sharedAddr ?? { transport: "unix", path: "fd:0" },
          );
        }
        return;
      }
      case "full":
        if (member.slot.current !== member || member.retiring || closing) return;
        log("info", `${name}: ${member.handle.label} served ${message.served} requests: recycling`);
        replace(member.slot, RECYCLE).catch(() => {});
        return;
      case "busy":
        member.busy = message.busy;
        if (message.busy) grow();
        return;
      case "log":
        log(message.level, `${member.handle.label}: ${message.message}`);
        return;
      case "failed":
        log("error", `${name}: ${member.handle.label} cannot start: ${message.message}`);
        return;
      default:
        return;
    }
  };

  const onExit = (member: Member, code: number, detail: string): void => {
    if (!members.delete(member)) return;
    clearTimeout(exitWaiters.get(member));
    exitWaiters.delete(member);
    dispatcher?.remove(member.id);
    const slot = member.slot;
    const what = `${member.handle.label} exited with code ${code}${detail ? ` (${detail})` : ""}`;
    if (!member.ready) member.started.reject(new Error(`Cannot start ${what}`));
    if (member.retiring || closing) {
      log("info", `${name}: ${what}`);
      checkFinished();
      return;
    }
    if (slot.next === member) {
      // A replacement failed to start: the current member keeps serving.
      slot.next = undefined;
      slot.failures++;
      const delay = backoff(slot.failures);
      log("warn", `${name}: ${what} before it was ready; the old member keeps serving`);
      if (slot.current?.ready && member.replacing === RECYCLE) {
        slot.timer = setTimeout(() => {
          if (!closing && slot.current && !slot.next) replace(slot, RECYCLE).catch(() => {});
        }, delay);
      }
      return;
    }
    if (slot.current !== member) return;
    slot.current = undefined;
    if (slot.next) {
      log("warn", `${name}: ${what}; its replacement is starting`);
      return;
    }
    if (member.ready) {
      log("warn", `${name}: ${what}; respawning`);
      respawn(slot);
      return;
    }
    slot.failures++;
    if (!everReady && slot.failures >= START_ATTEMPTS) {
      log("error", `${name}: ${what} before it was ready, ${slot.failures} times: giving up`);
      fail(new Error(`Cannot start ${name}: ${what} before it was ready`));
      return;
    }
    const delay = backoff(slot.failures);
    log("warn", `${name}: ${what} before it was ready; retrying in ${delay} ms`);
    slot.timer = setTimeout(() => respawn(slot), delay);
  };

  /** Members serving with no request in flight, and how many are still starting. */
  const spare = (): { idle: Member[]; starting: number } => {
    const idle: Member[] = [];
    let starting = 0;
    for (const slot of slots) {
      const member = slot.current;
      if (!member) starting++;
      else if (!member.ready) starting++;
      else if (!member.busy && !member.retiring) idle.push(member);
    }
    return { idle, starting };
  };

  /** Adaptive pools: one more member while too few are idle (counting those starting). */
  const grow = (): void => {
    if (!adaptive || closing || !everReady || slots.length >= maxWorkers) return;
    const { idle, starting } = spare();
    if (idle.length + starting >= minSpare) return;
    const slot: Slot = {
      index: slots.length,
      removed: false,
      current: undefined,
      next: undefined,
      failures: 0,
      timer: undefined,
    };
    slots.push(slot);
    log(
      "info",
      `${name}: ${idle.length} idle of ${slots.length - 1}: growing (maxWorkers ${maxWorkers})`,
    );
    slot.current = startMember(slot);
  };

  /** Adaptive pools: once a second, one idle member beyond `workers` stops if too many idle. */
  const shrink = (): void => {
    if (closing || slots.length <= size) return;
    const { idle } = spare();
    if (idle.length <= maxSpare) return;
    const member = idle.at(-1)!;
    const slot = member.slot;
    if (slot.next) return;
    slot.removed = true;
    slots.splice(slots.indexOf(slot), 1);
    retire(member, `${idle.length} idle, maxSpare ${maxSpare}: shrinking`);
  };
  const shrinkTimer = adaptive ? setInterval(shrink, SPARE_CHECK_MS) : undefined;
  if (shrinkTimer !== undefined) Deno.unrefTimer(shrinkTimer);

  const respawn = (slot: Slot): void => {
    slot.timer = undefined;
    if (closing || slot.removed || slot.current || slot.next) return;
    slot.current = startMember(slot);
  };

  const fail = (error: Error): void => {
    readyDeferred.reject(error);
    void shutdown();
  };

  let finishedOnce = false;
  const checkFinished = (): void => {
    if (!closing || members.size > 0 || finishedOnce) return;
    finishedOnce = true;
    // Every member has closed its sockets, but the parent may still be copying their last
    // answers to the front end: let those copies end before closing what is left.
    const copied = dispatcher?.settled(COPY_SETTLE_MS) ?? Promise.resolve();
    const done = copied.then(() => {
      dispatcher?.abortAll();
      return ownSocketDir && socketDir
        ? Deno.remove(socketDir, { recursive: true }).catch(() => {})
        : undefined;
    });
    done.then(() => {
      log("info", `${name}: stopped`);
      finishedDeferred.resolve();
    });
  };

  const shutdown = (): Promise<void> => {
    if (!closing) {
      closing = true;
      // A pool stopped before every member was ready will never be: `ready` must settle.
      readyDeferred.reject(stoppedBeforeReady);
      clearInterval(shrinkTimer);
      log("info", `${name}: draining ${members.size} member(s)`);
      dispatcher?.close();
      for (const slot of slots) clearTimeout(slot.timer);
      for (const member of members) {
        if (member.ready) retire(member, "shutdown");
        else member.handle.kill();
      }
      checkFinished();
    }
    return finishedDeferred.promise;
  };

  const reload = async (): Promise<void> => {
    if (closing) throw new Error(`Cannot reload ${name}: it is shutting down`);
    log("info", `${name}: reloading ${size} member(s) one by one`);
    for (const slot of slots) {
      if (closing) return;
      await replace(slot, "reload");
    }
  };

  // Start: set up where members listen, then spawn every slot.
  (async () => {
    if (mode.kind === "dispatch") {
      socketDir = options.socketDir;
      if (socketDir === undefined) {
        socketDir = await Deno.makeTempDir({ prefix: "flup_pool_" });
        ownSocketDir = true;
      }
      const front = await mode.front();
      dispatcher = new Dispatcher(front, log, allowedAddresses ?? []);
      publicAddr = await dispatcher.addr;
    }
    if (closing) return;
    for (const slot of slots) slot.current = startMember(slot);
  })().catch((error) => fail(error instanceof Error ? error : new Error(String(error))));

  readyDeferred.promise.then(
    (addr) => {
      log("info", `${name}: ${size} member(s) serving on ${describeAddr(addr)}`);
      options.onListen?.(addr);
    },
    (error) => {
      if (error === stoppedBeforeReady) log("info", `${name}: ${error.message}`);
      else log("error", `${name} cannot start: ${error}`);
    },
  );

  const onAbort = (): void => void shutdown();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  finishedDeferred.promise.finally(() => options.signal?.removeEventListener("abort", onAbort))
    .catch(() => {});

  return {
    ready: readyDeferred.promise,
    finished: finishedDeferred.promise,
    shutdown,
    reload,
    [Symbol.asyncDispose]: shutdown,
  };
}

function describeAddr(addr: Deno.Addr): string {
  if (!("hostname" in addr)) return "path" in addr ? `unix:${addr.path}` : addr.transport;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
