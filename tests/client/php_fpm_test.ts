// FastCgiClient against php-fpm 8.2 from Debian (a private pool on a Unix socket): the PHP
// scripts in tests/fixtures/php, directly and through Deno.serve + createProxyHandler.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createHash } from "node:crypto";
import { FastCgiClient } from "../../server/fastcgi/client.ts";
import { startFront } from "./_front.ts";
import { PHP_ROOT, startPhpFpm } from "./_php_fpm.ts";

const quiet = { log: () => {} };

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The bytes download.php writes for `size`. */
function downloadBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i % 65536) % 251;
  return out;
}

Deno.test("FastCgiClient against php-fpm", async (t) => {
  const php = await startPhpFpm();
  const gateDir = await Deno.makeTempDir({ prefix: "flup_php_gate_" });
  const stderr: string[] = [];
  const client = new FastCgiClient({
    address: `unix:${php.socket}`,
    documentRoot: PHP_ROOT,
    params: { FLUP_GATE_DIR: gateDir },
    onStderr: (message) => stderr.push(message),
    ...quiet,
  });
  const front = await startFront(client, quiet.log);
  try {
    await t.step("env.php sees the params, the query, the cookies and PATH_INFO", async () => {
      const response = await fetch(`${front.origin}/env.php/extra/path?a=1&b=%C3%A9`, {
        headers: { cookie: "c=3", "x-test": "yes" },
      });
      assertEquals(response.status, 200);
      assertEquals(response.headers.get("x-script"), "env");
      assertEquals(response.headers.getSetCookie(), ["first=1", "second=2"]);
      const { server, get, cookies } = await response.json();
      assertEquals(server.SCRIPT_FILENAME, `${PHP_ROOT}/env.php`);
      assertEquals(server.SCRIPT_NAME, "/env.php");
      assertEquals(server.PATH_INFO, "/extra/path");
      assertEquals(server.PHP_SELF, "/env.php/extra/path");
      assertEquals(server.DOCUMENT_ROOT, PHP_ROOT);
      assertEquals(server.QUERY_STRING, "a=1&b=%C3%A9");
      assertEquals(server.REQUEST_URI, "/env.php/extra/path?a=1&b=%C3%A9");
      assertEquals(server.REQUEST_METHOD, "GET");
      assertEquals(server.HTTP_X_TEST, "yes");
      assertEquals(server.REMOTE_ADDR, "127.0.0.1");
      assertEquals(server.FLUP_GATE_DIR, gateDir);
      assertEquals(get, { a: "1", b: "é" });
      assertEquals(cookies, { c: "3" });
    });

    await t.step("a POST body reaches php://input", async () => {
      const response = await fetch(`${front.origin}/env.php`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"x":1}',
      });
      const { server, body } = await response.json();
      assertEquals(body, '{"x":1}');
      assertEquals(server.CONTENT_TYPE, "application/json");
      assertEquals(server.CONTENT_LENGTH, "7");
    });

    await t.step("a 5 MB upload arrives whole (SHA-256), also chunked", async () => {
      const data = new Uint8Array(5 * 1024 * 1024);
      for (let i = 0; i < data.length; i += 65536) {
        crypto.getRandomValues(data.subarray(i, i + 65536));
      }
      let response = await fetch(`${front.origin}/upload.php`, { method: "POST", body: data });
      assertEquals(await response.json(), { bytes: data.length, sha256: sha256(data) });
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === data.length) return controller.close();
          controller.enqueue(data.slice(sent, sent + 1024 * 1024));
          sent += 1024 * 1024;
        },
      });
      response = await fetch(`${front.origin}/upload.php`, {
        method: "POST",
        body: stream,
        duplex: "half",
      } as RequestInit);
      assertEquals(await response.json(), { bytes: data.length, sha256: sha256(data) });
    });

    await t.step("a 10 MB download arrives byte for byte", async () => {
      const size = 10 * 1024 * 1024;
      const response = await fetch(`${front.origin}/download.php?size=${size}`);
      assertEquals(response.status, 200);
      const bytes = await response.bytes();
      assertEquals(bytes.length, size);
      assertEquals(sha256(bytes), sha256(downloadBytes(size)));
    });

    await t.step(
      "a slow streamed response: the first chunk arrives before the script ends",
      async () => {
        const id = `gate-${Date.now()}`;
        const response = await fetch(`${front.origin}/slow.php?id=${id}`, {
          signal: AbortSignal.timeout(20_000),
        });
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        while (!text.includes("chunk 0\n")) {
          const { done, value } = await reader.read();
          assert(!done, "ended before chunk 0");
          text += value;
        }
        // The script is still waiting for the gate file: it can only finish once we saw chunk 0.
        assertEquals(text, "chunk 0\n");
        await Deno.writeTextFile(`${gateDir}/${id}`, "");
        while (true) {
          const { done, value } = await reader.read();
          if (done) break;
          text += value;
        }
        assertEquals(text, "chunk 0\nchunk 1\ndone\n");
      },
    );

    await t.step("error_log() reaches onStderr through FCGI_STDERR", async () => {
      const id = crypto.randomUUID();
      const response = await fetch(`${front.origin}/stderr.php?id=${id}`);
      assertEquals(await response.text(), "logged\n");
      assert(stderr.some((line) => line.includes(`flup-stderr ${id}`)), stderr.join("\n"));
    });

    await t.step("statuses, redirects and a missing script", async () => {
      let response = await fetch(`${front.origin}/status.php?code=418`);
      assertEquals(response.status, 418);
      assertEquals(await response.text(), "status 418\n");
      response = await fetch(`${front.origin}/status.php?location=/elsewhere`, {
        redirect: "manual",
      });
      assertEquals(response.status, 302);
      assertEquals(response.headers.get("location"), "/elsewhere");
      await response.body?.cancel();
      response = await fetch(`${front.origin}/status.php?code=204`);
      assertEquals(response.status, 204);
      assertEquals(await response.text(), "");
      response = await fetch(`${front.origin}/missing.php`);
      assertEquals(response.status, 404);
      assertStringIncludes(await response.text(), "File not found");
      response = await fetch(`${front.origin}/env.php`, { method: "HEAD" });
      assertEquals(response.status, 200);
      assertEquals(await response.text(), "");
    });

    await t.step("kept connections are reused, GET_VALUES is answered", async () => {
      for (let i = 0; i < 20; i++) {
        await (await client.fetch(new Request("http://localhost/status.php"))).text();
      }
      assert(client.stats.open <= 4, `open: ${client.stats.open}`);
      const values = await client.getValues();
      assertEquals(values.FCGI_MPXS_CONNS, "0");
    });
  } catch (error) {
    console.error(await php.errorLog());
    throw error;
  } finally {
    await front.stop();
    await client.close();
    await php.stop();
    await Deno.remove(gateDir, { recursive: true });
  }
});

Deno.test("FastCgiClient retries when php-fpm recycles the child behind a kept connection", async () => {
  // pm.max_requests = 1: each child exits after one request, closing the kept connection.
  const php = await startPhpFpm({ children: 1, maxRequests: 1 });
  await using client = new FastCgiClient({
    address: `unix:${php.socket}`,
    documentRoot: PHP_ROOT,
    ...quiet,
  });
  try {
    for (let i = 0; i < 5; i++) {
      const response = await client.fetch(new Request(`http://localhost/status.php?code=200`));
      assertEquals(response.status, 200);
      assertEquals(await response.text(), "status 200\n");
    }
  } catch (error) {
    console.error(await php.errorLog());
    throw error;
  } finally {
    await php.stop();
  }
});
