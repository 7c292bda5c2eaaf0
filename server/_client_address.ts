// Backend addresses of the clients ("127.0.0.1:9000", "[::1]:9000", "unix:/run/php.sock" or
// an object) and the one connect call with its timeout. Shared by the FastCGI and SCGI clients.

import { ConnectionClosedError, LimitExceededError, type ProtocolName } from "./errors.ts";
import { logLimit } from "./_log.ts";
import type { GatewayLogger } from "./types.ts";

/** Where a backend listens: TCP `{ hostname, port }` or a Unix socket `{ path }`. */
export type ClientAddress = { hostname: string; port: number } | { path: string };

/** A parsed address. */
export type ResolvedAddress =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/**
 * Parses `HOST:PORT`, `[IPV6]:PORT`, `unix:/PATH` or an address object.
 *
 * @throws {TypeError} On anything else.
 */
export function resolveAddress(address: string | ClientAddress): ResolvedAddress {
  if (typeof address !== "string") {
    if ("path" in address && typeof address.path === "string" && address.path !== "") {
      return { transport: "unix", path: address.path };
    }
    if ("hostname" in address && Number.isInteger(address.port)) {
      if (address.port < 1 || address.port > 65535) {
        throw new TypeError(`Cannot use backend address: port "${address.port}" is not 1-65535`);
      }
      return { transport: "tcp", hostname: address.hostname, port: address.port };
    }
    throw new TypeError("Cannot use backend address: give { hostname, port } or { path }");
  }
  if (address.startsWith("unix:")) {
    const path = address.slice(5);
    if (path === "") throw new TypeError(`Cannot use backend address "${address}": no path`);
    return { transport: "unix", path };
  }
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/\s]+)):(\d{1,5})$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) {
    throw new TypeError(
      `Cannot use backend address "${address}": use HOST:PORT, [IPV6]:PORT or unix:/PATH`,
    );
  }
  return { transport: "tcp", hostname: match[1] ?? match[2]!, port };
}

/** The address as `HOST:PORT` or `unix:/PATH`, for messages. */
export function describeAddress(address: ResolvedAddress): string {
  if (address.transport === "unix") return `unix:${address.path}`;
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/**
 * Connects within `timeout` milliseconds.
 *
 * @throws {LimitExceededError} (option `connectTimeout`) When it takes longer.
 * @throws {ConnectionClosedError} When the backend refuses or is not there.
 */
export async function connectBackend(
  address: ResolvedAddress,
  timeout: number,
  protocol: ProtocolName,
  log: GatewayLogger,
): Promise<Deno.Conn> {
  const attempt: Promise<Deno.Conn> = address.transport === "unix"
    ? Deno.connect({ transport: "unix", path: address.path })
    : Deno.connect({ hostname: address.hostname, port: address.port, transport: "tcp" });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), timeout));
  try {
    const conn = await Promise.race([attempt, expired]);
    if (conn === null) {
      attempt.then((late) => late.close(), () => {});
      logLimit(log, "connectTimeout", timeout, `connecting to ${describeAddress(address)}`);
      throw new LimitExceededError(
        `Cannot connect to ${protocol} backend "${describeAddress(address)}": no answer within ` +
          `"${timeout}" ms`,
        { option: "connectTimeout", limit: timeout, protocol },
      );
    }
    if (address.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
    return conn;
  } catch (error) {
    if (error instanceof LimitExceededError) throw error;
    throw new ConnectionClosedError(
      `Cannot connect to ${protocol} backend "${describeAddress(address)}": ${
        error instanceof Error ? error.message : String(error)
      }`,
      { protocol, cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}
