// SqliteStore: the shared store cases against a real SQLite file (node:sqlite), persistence
// across connections, and merging writes from two processes.

import { assertEquals, assertThrows } from "@std/assert";
import { SqliteStore } from "../../middleware/sqlite_store.ts";
import { checkCrossProcessMerge } from "./_cross_process.ts";
import { defineStoreTests, sessionId } from "./_store_cases.ts";

defineStoreTests("SqliteStore", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_sqlite_store_" });
  return {
    store: new SqliteStore(`${dir}/sessions.db`),
    done: () => Deno.remove(dir, { recursive: true }),
  };
});

defineStoreTests(
  "SqliteStore :memory:",
  () => Promise.resolve({ store: new SqliteStore(":memory:"), done: () => Promise.resolve() }),
);

Deno.test("SqliteStore: two connections to one file see each other's writes (WAL mode)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_sqlite_store_" });
  const a = new SqliteStore(`${dir}/s.db`, { table: "app_sessions" });
  const b = new SqliteStore(`${dir}/s.db`, { table: "app_sessions" });
  try {
    await a.save(
      sessionId(1),
      { set: new Map([["x", "1"]]), delete: [], replace: false },
      Date.now() + 60_000,
      true,
    );
    await b.save(
      sessionId(1),
      { set: new Map([["y", "2"]]), delete: [], replace: false },
      Date.now() + 60_000,
      false,
    );
    assertEquals([...(await a.load(sessionId(1)))?.values ?? []], [["x", "1"], ["y", "2"]]);
    // WAL mode: readers and the writer of other processes do not block each other.
    assertEquals((await Deno.stat(`${dir}/s.db-wal`)).isFile, true);
  } finally {
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore: two processes writing one session concurrently keep every key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_sqlite_store_" });
  const store = new SqliteStore(`${dir}/s.db`);
  try {
    await checkCrossProcessMerge("sqlite", `${dir}/s.db`, store);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore: refuses a table name that is not an identifier, and work after close", async () => {
  assertThrows(
    () => new SqliteStore(":memory:", { table: "x; DROP TABLE y" }),
    TypeError,
    "identifier",
  );
  assertThrows(() => new SqliteStore(":memory:", { busyTimeout: -1 }), RangeError, "busyTimeout");
  const store = new SqliteStore(":memory:");
  await store.close();
  await store.close();
  let error: unknown;
  try {
    await store.load(sessionId(1));
  } catch (caught) {
    error = caught;
  }
  assertEquals(error instanceof Error && error.message, "Cannot use SqliteStore: it is closed");
});
