// serveThreads(): the pool behaviour tests (tests/fixtures/pool/pool_cases.ts) on Workers.

import { assertEquals, assertThrows } from "@std/assert";
import { serveThreads } from "../../server/thread.ts";
import {
  encodeWireRequest,
  exchangeOverTcp,
  nginxParams,
  parseWireAnswer,
} from "../_helpers/fastcgi_wire.ts";
import { definePoolTests } from "../fixtures/pool/pool_cases.ts";

definePoolTests("thread", serveThreads);

Deno.test("serveThreads() with permissions narrows every Worker to them plus its socket", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--unstable-worker-options",
      new URL("../fixtures/pool/narrow_threads.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let printed = "";
    while (!printed.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`pool exited: ${await stderr}`);
      printed += value;
    }
    reader.releaseLock();
    const port = Number(printed.trim());
    const answer = parseWireAnswer(
      await exchangeOverTcp(port, encodeWireRequest({ params: nginxParams("/") })),
    ).responses.get(1);
    assertEquals(answer?.status, 200);
    // The parent runs with --allow-all; the Worker has only what it was given.
    assertEquals(JSON.parse(new TextDecoder().decode(answer!.body)), {
      env: "prompt",
      run: "prompt",
      write: "prompt",
      readEtc: "prompt",
      netOther: "prompt",
      readOwn: "granted",
    });
  } finally {
    child.kill("SIGTERM");
    assertEquals((await child.status).code, 0, await stderr);
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("serveThreads() refuses to grant run to app code", () => {
  assertThrows(
    () =>
      serveThreads({
        module: "./app.ts",
        port: 0,
        permissions: { run: true } as Omit<Deno.PermissionOptionsObject, "run">,
      }),
    TypeError,
    '"run"',
  );
});
