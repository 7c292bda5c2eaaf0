// FileStore: the shared store cases, atomic files with private modes, and merging writes
// from two processes through the directory lock.

import { assert, assertEquals } from "@std/assert";
import { FileStore } from "../../middleware/file_store.ts";
import { checkCrossProcessMerge } from "./_cross_process.ts";
import { defineStoreTests, sessionId } from "./_store_cases.ts";

defineStoreTests("FileStore", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_file_store_" });
  return {
    store: new FileStore(`${dir}/sessions`),
    done: () => Deno.remove(dir, { recursive: true }),
  };
});

const empty = () => ({ set: new Map<string, string>(), delete: [], replace: false });

Deno.test("FileStore: one private file per session, written whole (no temporary file left)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_file_store_" });
  const store = new FileStore(`${dir}/s`);
  try {
    await store.save(
      sessionId(1),
      { ...empty(), set: new Map([["a", "1"]]) },
      Date.now() + 60_000,
      true,
    );
    await store.save(sessionId(2), empty(), Date.now() + 60_000, true);
    const names = [];
    for await (const entry of Deno.readDir(`${dir}/s`)) names.push(entry.name);
    assertEquals(names.sort(), [".lock", `${sessionId(1)}.json`, `${sessionId(2)}.json`]);
    assertEquals((await Deno.stat(`${dir}/s/${sessionId(1)}.json`)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(`${dir}/s`)).mode! & 0o777, 0o700);
    const file = JSON.parse(await Deno.readTextFile(`${dir}/s/${sessionId(1)}.json`));
    assertEquals(file.values, { a: "1" });
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileStore: a corrupt or foreign file reads as no session, and cleanup removes it and stray temporary files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_file_store_" });
  const store = new FileStore(dir);
  try {
    await store.save(sessionId(1), empty(), Date.now() + 60_000, true);
    await Deno.writeTextFile(`${dir}/${sessionId(2)}.json`, "{not json");
    await Deno.writeTextFile(
      `${dir}/${sessionId(3)}.json`,
      JSON.stringify({ expiresAt: 1e15, values: { a: 1 } }),
    );
    await Deno.writeTextFile(`${dir}/${sessionId(4)}.abc.tmp`, "half");
    await Deno.writeTextFile(`${dir}/notes.txt`, "left alone");
    assertEquals(await store.load(sessionId(2)), null);
    assertEquals(await store.load(sessionId(3)), null); // values must be JSON text
    assertEquals(await store.cleanup(Date.now()), 2);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assertEquals(names.sort(), [".lock", "notes.txt", `${sessionId(1)}.json`]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileStore: two processes writing one session concurrently keep every key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_file_store_" });
  const store = new FileStore(dir);
  try {
    await checkCrossProcessMerge("file", dir, store);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileStore: a closed store refuses work; a file: URL names the directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flup_file_store_" });
  const store = new FileStore(new URL(`file://${dir}/`));
  await store.save(sessionId(1), empty(), Date.now() + 60_000, true);
  assert((await Deno.stat(`${dir}/${sessionId(1)}.json`)).isFile);
  await store.close();
  let error: unknown;
  try {
    await store.save(sessionId(1), empty(), Date.now() + 60_000, true);
  } catch (caught) {
    error = caught;
  }
  assert(error instanceof Error && error.message.includes("closed"));
  await Deno.remove(dir, { recursive: true });
});
