// CGI proven through real web servers: Apache mod_cgi (prefork and event MPM), Apache mod_cgid
// (event MPM) and lighttpd mod_cgi, each running a generated wrapper around the case app served
// with serveCgi. Plus streamed output through each, and one .fcgi script under both kinds of
// hosting (CGI and FastCGI on fd 0).

import { assertEquals } from "@std/assert";
import { join } from "@std/path";
import { type FrontEnd, startApacheCgi, startLighttpdCgi } from "../_helpers/cgi_frontends.ts";
import { startLighttpd } from "../_helpers/frontends.ts";
import { type CaseName, runGatewaySuite } from "./suite.ts";

const CASE_APP = new URL("../fixtures/cgi/case_app_cgi.ts", import.meta.url).pathname;
const STREAM_APP = new URL("../fixtures/cgi/stream_app_cgi.ts", import.meta.url).pathname;
const HELLO_FCGI = new URL("../../examples/cgi/hello.fcgi.ts", import.meta.url).pathname;

/** What a process-per-request gateway cannot do, with the reason. */
const CGI_SKIPS: Partial<Record<CaseName, string>> = {
  streaming: "each request is a new process, so the /ack requests cannot reach the streaming " +
    "one; streamed output is proven by the file-acknowledged test below instead",
  "client disconnect": "the /aborted report is a new process that cannot see the aborted one",
  "kept connection": "CGI has no backend connection to reuse: every request is a new process",
};

async function withFrontEnd(
  t: Deno.TestContext,
  start: () => Promise<FrontEnd>,
  skip: Partial<Record<CaseName, string>> = {},
): Promise<void> {
  const frontEnd = await start();
  try {
    await runGatewaySuite(t, {
      name: frontEnd.name,
      origin: frontEnd.origin,
      skip: { ...CGI_SKIPS, ...skip },
    });
  } catch (error) {
    console.error(await frontEnd.errorLog());
    throw error;
  } finally {
    await frontEnd.stop();
  }
}

Deno.test("CGI through Apache mod_cgi, prefork MPM", async (t) => {
  await withFrontEnd(t, () => startApacheCgi({ app: CASE_APP, module: "cgi", mpm: "prefork" }));
});

Deno.test("CGI through Apache mod_cgi, event MPM", async (t) => {
  await withFrontEnd(t, () => startApacheCgi({ app: CASE_APP, module: "cgi", mpm: "event" }));
});

Deno.test("CGI through Apache mod_cgid, event MPM", async (t) => {
  await withFrontEnd(t, () => startApacheCgi({ app: CASE_APP, module: "cgid", mpm: "event" }));
});

Deno.test("CGI through lighttpd mod_cgi, request body buffered (CONTENT_LENGTH always sent)", async (t) => {
  await withFrontEnd(t, () => startLighttpdCgi({ app: CASE_APP }));
});

Deno.test("CGI through lighttpd mod_cgi, request body streamed", async (t) => {
  await withFrontEnd(t, () => startLighttpdCgi({ app: CASE_APP, streamRequestBody: 2 }), {
    "chunked upload": "lighttpd answers 411 Length Required: mod_cgi must set CONTENT_LENGTH, " +
      "so a chunked body needs server.stream-request-body 0 (covered by the target above)",
  });
});

/** Reads `/stream` and acknowledges each chunk with a file; resolves with the text. */
async function readAcknowledged(origin: string, dir: string, count: number): Promise<string> {
  const response = await fetch(`${origin}/stream?dir=${encodeURIComponent(dir)}&n=${count}`, {
    signal: AbortSignal.timeout(30_000),
  });
  assertEquals(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let acked = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
    while (text.includes(`chunk ${acked}\n`)) {
      await Deno.writeTextFile(join(dir, `ack-${acked++}`), "");
    }
  }
  assertEquals(acked, count);
  return text;
}

Deno.test("CGI streams each chunk to the client before the next is produced", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "flup_cgi_acks_" });
  await Deno.chmod(dir, 0o755); // Apache's scripts run as www-data
  // The script may read the ack directory and nothing else.
  const denoFlags = [`--allow-read=${dir}`];
  const starts = [
    () => startApacheCgi({ app: STREAM_APP, module: "cgi", mpm: "prefork", denoFlags }),
    () => startApacheCgi({ app: STREAM_APP, module: "cgid", mpm: "event", denoFlags }),
    () => startLighttpdCgi({ app: STREAM_APP, denoFlags }),
  ];
  try {
    for (const start of starts) {
      const frontEnd = await start();
      try {
        await t.step(frontEnd.name, async () => {
          const text = await readAcknowledged(frontEnd.origin, dir, 20);
          assertEquals(text, Array.from({ length: 20 }, (_, i) => `chunk ${i}\n`).join(""));
        });
      } catch (error) {
        console.error(await frontEnd.errorLog());
        throw error;
      } finally {
        await frontEnd.stop();
        for await (const entry of Deno.readDir(dir)) await Deno.remove(join(dir, entry.name));
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one .fcgi script under both kinds of hosting: lighttpd mod_cgi and lighttpd FastCGI bin-path", async (t) => {
  await t.step("CGI: standard input is not a socket, so it serves the one request", async () => {
    const frontEnd = await startLighttpdCgi({ app: HELLO_FCGI });
    try {
      const response = await fetch(`${frontEnd.origin}/hi?x=1`, { method: "POST", body: "hello" });
      assertEquals(response.status, 200);
      assertEquals(await response.text(), "Hello from cgi! POST /hi?x=1\n5 bytes received\n");
    } catch (error) {
      console.error(await frontEnd.errorLog());
      throw error;
    } finally {
      await frontEnd.stop();
    }
  });
  await t.step("FastCGI: lighttpd hands its listening socket over on fd 0", async () => {
    const frontEnd = await startLighttpd({
      binPath: [Deno.execPath(), "run", "--quiet", "--no-prompt", "--allow-env", HELLO_FCGI],
      binEnvironment: { HOME: Deno.env.get("HOME") ?? "/root", NO_COLOR: "1" },
    });
    try {
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${frontEnd.origin}/hi?x=${i}`, {
          method: "POST",
          body: "hello",
        });
        assertEquals(response.status, 200);
        assertEquals(
          await response.text(),
          `Hello from fastcgi! POST /hi?x=${i}\n5 bytes received\n`,
        );
      }
    } catch (error) {
      console.error(await frontEnd.errorLog());
      throw error;
    } finally {
      await frontEnd.stop();
    }
  });
});
