// A private redis-server for the tests: a free loopback port, no persistence, its working
// directory in a temporary folder; stop() ends it and removes the folder.

import { freePort, tempDir, waitForPort } from "../_helpers/ports.ts";

/** A running redis-server. */
export interface RedisServer {
  /** The URL clients use, e.g. `redis://127.0.0.1:41234`. */
  url: string;
  /** Stops the server (SIGTERM, then SIGKILL after a bounded wait) and cleans up. */
  stop(): Promise<void>;
}

/** Starts redis-server; throws (never skips) when it is not installed. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await tempDir("flup_redis_");
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--loglevel",
      "warning",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const status = child.status.then((result) => {
    exited = true;
    return result;
  });
  const stderr = new Response(child.stderr).text();
  if (!(await waitForPort("127.0.0.1", port, { timeout: 10_000, giveUp: () => exited }))) {
    if (!exited) child.kill("SIGKILL");
    await status;
    await Deno.remove(dir, { recursive: true });
    throw new Error(`redis-server did not start: ${await stderr}`);
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    stop() {
      stopped ??= (async () => {
        if (!exited) child.kill("SIGTERM");
        const timer = setTimeout(() => {
          if (!exited) child.kill("SIGKILL");
        }, 5000);
        await status;
        clearTimeout(timer);
        await stderr;
        await Deno.remove(dir, { recursive: true });
      })();
      return stopped;
    },
  };
}
