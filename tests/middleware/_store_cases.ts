// The behaviour every session store passes, run by memory_store_test.ts, file_store_test.ts,
// sqlite_store_test.ts and redis_store_test.ts against the real backends.

import { assert, assertEquals, assertRejects } from "@std/assert";
import type { SessionChanges, SessionStore } from "../../middleware/session_store.ts";

/** Opens a fresh, empty store; `done` releases what the test made. */
export type OpenStore = () => Promise<{ store: SessionStore; done: () => Promise<void> }>;

/** A well-formed session id, different for each `n`. */
export function sessionId(n: number): string {
  return `${"s".repeat(38)}${String(n).padStart(5, "0")}`;
}

function changes(
  set: Record<string, unknown>,
  remove: string[] = [],
  replace = false,
): SessionChanges {
  return {
    set: new Map(Object.entries(set).map(([key, value]) => [key, JSON.stringify(value)])),
    delete: remove,
    replace,
  };
}

function values(record: { values: Map<string, string> } | null): Record<string, unknown> {
  if (record === null) return {};
  const out: Record<string, unknown> = {};
  for (const [key, text] of record.values) {
    Object.defineProperty(out, key, { value: JSON.parse(text), enumerable: true });
  }
  return out;
}

/** Registers the shared store tests under `name`. */
export function defineStoreTests(name: string, open: OpenStore): void {
  const test = (title: string, body: (store: SessionStore) => Promise<void>) => {
    Deno.test(`${name}: ${title}`, async () => {
      const { store, done } = await open();
      try {
        await body(store);
      } finally {
        await store.close();
        await done();
      }
    });
  };
  const later = () => Date.now() + 60_000;

  test("load() of an unknown id is null", async (store) => {
    assertEquals(await store.load(sessionId(1)), null);
  });

  test("save() creates, load() reads the values back and the expiry", async (store) => {
    const expiresAt = later();
    assertEquals(
      await store.save(
        sessionId(1),
        changes({ n: 1, s: "é ✓", o: { a: [1, null] } }),
        expiresAt,
        true,
      ),
      true,
    );
    const record = await store.load(sessionId(1));
    assertEquals(values(record), { n: 1, s: "é ✓", o: { a: [1, null] } });
    assert(record !== null && Math.abs(record.expiresAt - expiresAt) < 1000);
  });

  test("save() without create does nothing for an unknown session", async (store) => {
    assertEquals(await store.save(sessionId(2), changes({ n: 1 }), later(), false), false);
    assertEquals(await store.load(sessionId(2)), null);
  });

  test("save() merges per key: other keys keep what another request wrote", async (store) => {
    const id = sessionId(3);
    await store.save(id, changes({ a: 1, b: 1 }), later(), true);
    await store.save(id, changes({ a: 2 }), later(), false);
    await store.save(id, changes({ c: 3 }, ["b"]), later(), false);
    assertEquals(values(await store.load(id)), { a: 2, c: 3 });
  });

  test("save() with replace drops the keys it does not write", async (store) => {
    const id = sessionId(4);
    await store.save(id, changes({ a: 1, b: 2 }), later(), true);
    await store.save(id, changes({ c: 3 }, [], true), later(), false);
    assertEquals(values(await store.load(id)), { c: 3 });
  });

  test("an empty session exists until destroyed", async (store) => {
    const id = sessionId(5);
    await store.save(id, changes({ a: 1 }), later(), true);
    await store.save(id, changes({}, ["a"]), later(), false);
    assertEquals(values(await store.load(id)), {});
    assert((await store.load(id)) !== null);
    await store.destroy(id);
    assertEquals(await store.load(id), null);
    await store.destroy(id); // twice is fine
  });

  test("keys that are special elsewhere round-trip", async (store) => {
    const id = sessionId(6);
    const odd = { "__proto__": 1, "constructor": 2, "a:b": 3, "v:x": 4, "m": 5, "ключ": 6 };
    const set = new Map(Object.entries(odd).map(([key, value]) => [key, JSON.stringify(value)]));
    set.set("__proto__", "1");
    await store.save(id, { set, delete: [], replace: false }, later(), true);
    const record = await store.load(id);
    assertEquals(record?.values.get("__proto__"), "1");
    assertEquals(record?.values.get("constructor"), "2");
    assertEquals(record?.values.get("ключ"), "6");
    assertEquals(record?.values.size, 6);
  });

  test("an expired session is gone: load() is null and save() without create refuses", async (store) => {
    const id = sessionId(7);
    await store.save(id, changes({ a: 1 }), Date.now() + 30, true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assertEquals(await store.load(id), null);
    assertEquals(await store.save(id, changes({ b: 2 }), later(), false), false);
    // Created again, it starts empty: the expired values are not resurrected.
    assertEquals(await store.save(id, changes({ b: 2 }), later(), true), true);
    assertEquals(values(await store.load(id)), { b: 2 });
  });

  test("touch() moves a live session's expiry and ignores unknown ones", async (store) => {
    const id = sessionId(8);
    await store.save(id, changes({ a: 1 }), Date.now() + 1000, true);
    const expiresAt = later();
    await store.touch(id, expiresAt);
    const record = await store.load(id);
    assert(record !== null && Math.abs(record.expiresAt - expiresAt) < 1000);
    await store.touch(sessionId(9), later());
    assertEquals(await store.load(sessionId(9)), null);
  });

  test("cleanup() deletes expired sessions only", async (store) => {
    await store.save(sessionId(10), changes({ a: 1 }), Date.now() + 30, true);
    await store.save(sessionId(11), changes({ a: 1 }), later(), true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const swept = await store.cleanup(Date.now());
    assert(swept === 1 || swept === 0, `swept ${swept}`); // Redis expires keys itself: 0
    assertEquals(await store.load(sessionId(10)), null);
    assertEquals(values(await store.load(sessionId(11))), { a: 1 });
  });

  test("50 concurrent saves of different keys to one session all land", async (store) => {
    const id = sessionId(12);
    await store.save(id, changes({}), later(), true);
    await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) => store.save(id, changes({ [`k${i}`]: i }), later(), false),
      ),
    );
    const record = await store.load(id);
    assertEquals(record?.values.size, 50);
    assertEquals(record?.values.get("k49"), "49");
  });

  test("malformed ids are refused before any I/O", async (store) => {
    for (const bad of ["", "../../etc/passwd", "a".repeat(42), `${"a".repeat(42)}/`]) {
      await assertRejects(() => store.load(bad), TypeError, "malformed");
      await assertRejects(() => store.save(bad, changes({ a: 1 }), later(), true), TypeError);
      await assertRejects(() => store.destroy(bad), TypeError);
    }
  });
}
