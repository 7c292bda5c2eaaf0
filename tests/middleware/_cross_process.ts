// Two processes write different keys to one session of a shared store at the same time;
// every key must land (the per-key merge holds across processes).

import { assertEquals } from "@std/assert";
import type { SessionStore } from "../../middleware/session_store.ts";
import { sessionId } from "./_store_cases.ts";

const WRITER = new URL("./fixtures/store_writer.ts", import.meta.url);

/** Runs two writer processes against `location` and checks the merged session in `store`. */
export async function checkCrossProcessMerge(
  kind: "file" | "sqlite" | "redis",
  location: string,
  store: SessionStore,
): Promise<void> {
  const id = sessionId(999);
  await store.save(id, { set: new Map(), delete: [], replace: false }, Date.now() + 60_000, true);
  const count = 200;
  const run = (prefix: string) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WRITER.href, kind, location, id, prefix, String(count)],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const outputs = await Promise.all([run("a"), run("b")]);
  for (const output of outputs) {
    assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
    assertEquals(new TextDecoder().decode(output.stdout).trim(), "done");
  }
  const record = await store.load(id);
  assertEquals(record?.values.size, 2 * count);
  for (let i = 0; i < count; i++) {
    assertEquals(record?.values.get(`a${i}`), String(i));
    assertEquals(record?.values.get(`b${i}`), String(i));
  }
}
