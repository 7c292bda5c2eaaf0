// The examples' documented commands, run as a user would (on free ports): `flup serve` over
// FastCGI under the narrow permissions given, reached with libfcgi's cgi-fcgi, and
// `deno serve` over HTTP. Each must answer its first page and stop cleanly.

import { assertEquals, assertStringIncludes } from "@std/assert";
import { freePort, waitForPort } from "../_helpers/ports.ts";

const root = new URL("../..", import.meta.url).pathname;

/** Each example, the extra permissions its docs give, and what its first page says. */
const EXAMPLES: [string, string[], string[], string][] = [
  ["counter", [], [], "You have been here 1 time."],
  ["publisher_hello", [], [], "Hello, stranger!"],
  ["guess", [], [], "I am thinking of a number from 1 to 100."],
  [
    "blog",
    ["--allow-write=examples/blog"],
    ["--allow-read=examples/blog", "--allow-write=examples/blog"],
    '<a href="/welcome">Welcome</a>',
  ],
];

async function stop(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const status = await child.status;
  clearTimeout(timer);
  return status;
}

for (const [name, flupFlags, serveFlags, firstPage] of EXAMPLES) {
  Deno.test(`examples/${name}.ts runs as documented under flup serve --fastcgi (cgi-fcgi)`, async () => {
    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-net=127.0.0.1:${port}`,
        "--allow-read=.",
        ...flupFlags,
        "cli.ts",
        "serve",
        `examples/${name}.ts`,
        "--fastcgi",
        `127.0.0.1:${port}`,
      ],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const stdout = new Response(child.stdout).text();
    let exited = false;
    child.status.then(() => (exited = true));
    try {
      const up = await waitForPort("127.0.0.1", port, { giveUp: () => exited });
      assertEquals(up, true, await (exited ? stderr : Promise.resolve("not listening")));
      const output = await new Deno.Command("cgi-fcgi", {
        args: ["-bind", "-connect", `127.0.0.1:${port}`],
        env: {
          REQUEST_METHOD: "GET",
          REQUEST_URI: "/",
          SERVER_NAME: "localhost",
          SERVER_PORT: "80",
        },
        stdout: "piped",
        stderr: "null",
      }).output();
      const answer = new TextDecoder().decode(output.stdout);
      assertStringIncludes(answer, "Status: 200");
      assertStringIncludes(answer, firstPage);
    } finally {
      const status = await stop(child);
      await stdout;
      assertEquals(status.code, 0, await stderr); // SIGINT drains and exits cleanly
    }
  });

  Deno.test(`examples/${name}.ts runs as documented under deno serve (HTTP)`, async () => {
    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "serve",
        "--no-prompt",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        `--allow-net=127.0.0.1:${port}`,
        ...serveFlags,
        `examples/${name}.ts`,
      ],
      cwd: root,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let exited = false;
    child.status.then(() => (exited = true));
    try {
      const up = await waitForPort("127.0.0.1", port, { giveUp: () => exited });
      assertEquals(up, true, await (exited ? stderr : Promise.resolve("not listening")));
      const response = await fetch(`http://127.0.0.1:${port}/`);
      assertEquals(response.status, 200);
      assertStringIncludes(await response.text(), firstPage);
    } finally {
      await stop(child);
      await stderr;
    }
  });
}
