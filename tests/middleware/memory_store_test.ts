// MemoryStore: the shared store cases, and its own limit.

import { mock } from "node:test";
import { assertEquals } from "@std/assert";
import { MemoryStore } from "../../middleware/memory_store.ts";
import { defineStoreTests, sessionId } from "./_store_cases.ts";

defineStoreTests(
  "MemoryStore",
  () => Promise.resolve({ store: new MemoryStore(), done: () => Promise.resolve() }),
);

Deno.test("MemoryStore: maxSessions evicts the session closest to expiry and logs the option", async () => {
  const lines: string[] = [];
  const store = new MemoryStore({
    maxSessions: 2,
    log: (level, line) => lines.push(`${level} ${line}`),
  });
  const save = (n: number, ttl: number) =>
    store.save(
      sessionId(n),
      { set: new Map([["n", `${n}`]]), delete: [], replace: false },
      Date.now() + ttl,
      true,
    );
  await save(1, 60_000);
  await save(2, 30_000);
  await save(3, 90_000);
  assertEquals(store.size, 2);
  assertEquals(await store.load(sessionId(2)), null);
  assertEquals((await store.load(sessionId(1)))?.values.get("n"), "1");
  assertEquals(lines, ["warn maxSessions (2) reached: evicted the session closest to expiry"]);
  await store.close();
});

Deno.test("MemoryStore: at maxSessions, expired sessions go first and nothing is logged", async () => {
  const lines: string[] = [];
  const store = new MemoryStore({ maxSessions: 1, log: (_level, line) => lines.push(line) });
  const empty = { set: new Map<string, string>(), delete: [], replace: false };
  mock.timers.enable({ apis: ["Date"], now: Date.now() });
  try {
    await store.save(sessionId(1), empty, Date.now() + 20, true);
    mock.timers.tick(40);
    await store.save(sessionId(2), empty, Date.now() + 60_000, true);
  } finally {
    mock.timers.reset();
  }
  assertEquals(store.size, 1);
  assertEquals(lines, []);
  await store.close();
});

Deno.test("MemoryStore: maxSessions must be a positive whole number", () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    let error: unknown;
    try {
      new MemoryStore({ maxSessions: bad });
    } catch (caught) {
      error = caught;
    }
    assertEquals(error instanceof RangeError, true, String(bad));
  }
});
