/**
 * Small networking helpers for end-to-end tests: a free TCP port, a private temporary
 * directory and a bounded wait for a port to accept connections.
 *
 * @module
 */

/**
 * Finds a TCP port that is free right now by binding port 0 and closing the listener.
 *
 * Another process may take the port between this call and its use; the window is small and
 * tests on one machine accept it.
 *
 * @param hostname The address to bind, `127.0.0.1` unless told.
 * @returns A port number that was free when the function returned.
 *
 * @example Pick a port for a front end
 * ```ts
 * import { freePort } from "./ports.ts";
 *
 * const port = freePort();
 * if (port <= 0 || port > 65535) throw new Error("bad port");
 * ```
 */
export function freePort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0, transport: "tcp" });
  try {
    return listener.addr.port;
  } finally {
    listener.close();
  }
}

/**
 * Creates a fresh private temporary directory.
 *
 * @param prefix The start of the directory's name, e.g. `"flup_nginx_"`.
 * @returns The absolute path of the new directory.
 *
 * @example Make and remove a directory
 * ```ts
 * import { tempDir } from "./ports.ts";
 *
 * const dir = await tempDir("flup_doc_");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function tempDir(prefix: string): Promise<string> {
  return Deno.makeTempDir({ prefix });
}

/** Options for {@linkcode waitForPort}. */
export interface WaitForPortOptions {
  /**
   * How long to keep trying, in milliseconds.
   *
   * @default {10000}
   */
  timeout?: number;
  /**
   * Pause between two attempts, in milliseconds.
   *
   * @default {20}
   */
  interval?: number;
  /**
   * Called before each attempt; returning `true` stops the wait at once (for example because
   * the process that should listen has exited).
   *
   * @default {() => false}
   */
  giveUp?: () => boolean;
}

/**
 * Waits until a TCP port accepts connections, trying every `interval` milliseconds.
 *
 * @param hostname The address to connect to.
 * @param port The port to connect to.
 * @param options Timeout, interval and an early stop.
 * @returns `true` once a connection succeeded, `false` on timeout or when `giveUp` said so.
 *
 * @example Wait for a listener
 * ```ts
 * import { waitForPort } from "./ports.ts";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const ready = await waitForPort("127.0.0.1", listener.addr.port, { timeout: 1000 });
 * if (!ready) throw new Error("not ready");
 * ```
 */
export async function waitForPort(
  hostname: string,
  port: number,
  options: WaitForPortOptions = {},
): Promise<boolean> {
  const { timeout = 10_000, interval = 20, giveUp = () => false } = options;
  const deadline = Date.now() + timeout;
  while (!giveUp()) {
    try {
      const conn = await Deno.connect({ hostname, port, transport: "tcp" });
      conn.close();
      return true;
    } catch {
      // Not listening yet.
    }
    if (Date.now() + interval > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  return false;
}
