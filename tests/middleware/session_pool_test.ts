// Sessions under the thread and fork flavors: MemoryStore refuses to start in a pool member
// (and says which store to use), while SqliteStore shares sessions between Workers and child
// processes, proven through nginx over FastCGI with members recycled between requests.

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { poolFlavor } from "../../middleware/_pool_detect.ts";
import { MemoryStore } from "../../middleware/memory_store.ts";
import { FORK_CHILD_FLAG, serveForks } from "../../server/fork.ts";
import { serveThreads } from "../../server/thread.ts";
import type { PoolOptions, PoolServer } from "../../server/thread.ts";
import { startNginx } from "../_helpers/frontends.ts";

const MEMORY_APP = new URL("./fixtures/memory_app.ts", import.meta.url);
const SQLITE_APP = new URL("./fixtures/sqlite_counter_app.ts", import.meta.url);

const flavors: [string, (options: PoolOptions) => PoolServer][] = [
  ["thread", serveThreads],
  ["fork", serveForks],
];

Deno.test("MemoryStore works outside pools, where poolFlavor() is null", async () => {
  assertEquals(poolFlavor(), null);
  await new MemoryStore().close();
  // The fork signal in _pool_detect.ts is this constant.
  assertEquals(FORK_CHILD_FLAG, "--flup-child");
});

Deno.test("MemoryStore refuses to start in a thread-pool Worker and names the store to use", async () => {
  const lines: string[] = [];
  const pool = serveThreads({
    module: MEMORY_APP,
    port: 0,
    workers: 1,
    log: (level, line) => lines.push(`${level} ${line}`),
  });
  await assertRejects(() => pool.ready, Error);
  await pool.finished;
  const failure = lines.find((line) => line.includes("Cannot use MemoryStore")) ?? lines.join("\n");
  assertStringIncludes(failure, "in a thread-pool Worker");
  assertStringIncludes(failure, "use SqliteStore");
});

Deno.test("MemoryStore refuses to start in a fork-pool child: flup serve --flavor fork fails and says which store to use", async () => {
  // A child fails while preloading the app, before it can report to the pool: the message
  // reaches the child's stderr, which is the server's.
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../../cli.ts", import.meta.url).pathname,
      "serve",
      MEMORY_APP.pathname,
      "--fastcgi",
      "127.0.0.1:0",
      "--flavor",
      "fork",
      "--workers",
      "1",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 1, stderr);
  assertStringIncludes(stderr, "Cannot use MemoryStore in a fork-pool child");
  assertStringIncludes(stderr, "use SqliteStore");
});

for (const [flavor, serve] of flavors) {
  Deno.test(`SqliteStore shares one session across ${flavor}-pool members (nginx, FastCGI, members recycled)`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "flup_session_pool_" });
    const module = new URL(SQLITE_APP);
    module.searchParams.set("db", `${dir}/sessions.db`);
    const pool = serve({
      module,
      port: 0,
      workers: 2,
      maxRequests: 2,
      log: () => {},
      ...(flavor === "fork"
        ? { permissions: [`--allow-read=${dir}`, `--allow-write=${dir}`] }
        : {}),
    } as PoolOptions);
    try {
      const addr = await pool.ready;
      if (addr.transport !== "tcp") throw new Error(`not TCP: ${addr.transport}`);
      await using nginx = await startNginx({
        backend: { protocol: "fastcgi", hostname: "127.0.0.1", port: addr.port },
      });
      let cookie = "";
      const members = new Set<string>();
      for (let i = 1; i <= 8; i++) {
        const response = await fetch(`${nginx.origin}/count`, {
          headers: cookie ? { cookie } : {},
        });
        assertEquals(response.status, 200, await nginx.errorLog());
        const body = await response.json() as { count: number; member: string };
        assertEquals(body.count, i);
        members.add(body.member);
        cookie ||= response.headers.get("set-cookie")?.split(";")[0] ?? "";
      }
      // Recycled after 2 requests each (a replacement takes over once it listens): several
      // members answered the one session, and none lost count.
      assert(members.size >= 2, `members: ${members.size}`);
    } finally {
      await pool.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
