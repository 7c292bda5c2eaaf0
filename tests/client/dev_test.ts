// `flup dev`: startDev (app in a Worker or in-process, FastCGI or SCGI, or an existing backend),
// devCommand's exit codes, and the command run as a new user would, with narrowed permissions.

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { fromFileUrl, join } from "@std/path";
import { devCommand } from "../../cli/dev.ts";
import { startDev } from "../../server/dev.ts";
import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { PHP_ROOT, startPhpFpm } from "./_php_fpm.ts";

const ROOT = fromFileUrl(new URL("../..", import.meta.url));
const HELLO = join(ROOT, "examples/hello.ts");
const quiet = { log: () => {} };

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function socketDir(backend: string): string {
  return backend.replace(/^unix:/, "").replace(/\/app\.sock$/, "");
}

Deno.test("startDev() serves an app module from a Worker over FastCGI and cleans up", async () => {
  const dev = await startDev({ app: HELLO, port: 0, ...quiet });
  assert(dev.url.startsWith("http://127.0.0.1:"));
  assertEquals(dev.protocol, "fastcgi");
  const dir = socketDir(dev.backend);
  try {
    assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
    const response = await fetch(new URL("/hi?there=1", dev.url));
    assertEquals(await response.text(), "Hello, world! You asked for /hi?there=1\n");
  } finally {
    await dev.shutdown();
  }
  await dev.finished;
  assertEquals(await exists(dir), false);
});

Deno.test("startDev() serves in-process and over SCGI, and stops on its signal", async () => {
  const controller = new AbortController();
  const dev = await startDev({
    app: HELLO,
    flavor: "inprocess",
    protocol: "scgi",
    port: 0,
    signal: controller.signal,
    ...quiet,
  });
  assertEquals(dev.protocol, "scgi");
  const response = await fetch(new URL("/scgi", dev.url));
  assertEquals(await response.text(), "Hello, world! You asked for /scgi\n");
  controller.abort();
  await dev.finished;
  assertEquals(await exists(socketDir(dev.backend)), false);
});

Deno.test("startDev() with a handler, a socket path of our own, and a streamed response", async () => {
  const dir = await Deno.makeTempDir();
  const socketPath = join(dir, "mine.sock");
  try {
    await using dev = await startDev({
      app: () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("a"));
              controller.enqueue(new TextEncoder().encode("b"));
              controller.close();
            },
          }),
        ),
      socketPath,
      port: 0,
      ...quiet,
    });
    assertEquals(dev.backend, `unix:${socketPath}`);
    assertEquals(await (await fetch(dev.url)).text(), "ab");
  } finally {
    assertEquals(await exists(socketPath), false, "the socket file is removed on stop");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startDev() fronts an existing FastCGI backend and php-fpm with a document root", async () => {
  const server = serveFastCgi(
    (request, info) => new Response(`${new URL(request.url).pathname} ${info.env.SCRIPT_NAME}`),
    { port: 0, ...quiet },
  );
  const { port } = (await server.ready) as Deno.NetAddr;
  const php = await startPhpFpm({ children: 2 });
  try {
    await using flup = await startDev({ backend: `127.0.0.1:${port}`, port: 0, ...quiet });
    assertEquals(flup.backend, `127.0.0.1:${port}`);
    assertEquals(await (await fetch(new URL("/x/y", flup.url))).text(), "/x/y ");
    await using fpm = await startDev({
      backend: `unix:${php.socket}`,
      documentRoot: PHP_ROOT,
      port: 0,
      ...quiet,
    });
    const response = await fetch(new URL("/status.php?code=202", fpm.url));
    assertEquals(response.status, 202);
    assertEquals(await response.text(), "status 202\n");
  } finally {
    await php.stop();
    await server.shutdown();
  }
});

Deno.test("startDev() refuses bad options", async () => {
  await assertRejects(() => startDev({ port: 0 }), TypeError);
  await assertRejects(() => startDev({ app: HELLO, backend: "127.0.0.1:9", port: 0 }), TypeError);
  await assertRejects(() => startDev({ app: HELLO, hostname: "0.0.0.0", port: 0 }), TypeError);
  await assertRejects(
    () => startDev({ app: join(ROOT, "tests/conformance/case_app.ts"), port: 0, ...quiet }),
    TypeError,
    "fetch",
  );
});

Deno.test("devCommand() exit codes: help 0, usage 2, no fetch 2, port taken 1, stop 0", async () => {
  const lines: string[] = [];
  const print = (line: string) => lines.push(line);
  assertEquals(await devCommand(["--help"], { print }), 0);
  assertStringIncludes(lines.join("\n"), "Usage: flup dev APP");
  const errors: string[] = [];
  const error = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    assertEquals(await devCommand([], { print }), 2);
    assertEquals(await devCommand(["--nope"], { print }), 2);
    assertEquals(await devCommand([HELLO, "--backend", "127.0.0.1:9"], { print }), 2);
    assertEquals(await devCommand(["--backend", "nowhere"], { print }), 2);
    assertEquals(await devCommand([HELLO, "--port", "70000"], { print }), 2);
    assertEquals(
      await devCommand([join(ROOT, "tests/conformance/case_app.ts"), "--port", "0"], { print }),
      2,
    );
    using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    assertEquals(await devCommand([HELLO, "--port", String(taken.addr.port)], { print }), 1);
  } finally {
    console.error = error;
  }
  assert(errors.some((line) => line.includes("unknown option --nope")), errors.join("\n"));
  const controller = new AbortController();
  let url = "";
  const code = devCommand([HELLO, "--port", "0"], {
    print,
    signal: controller.signal,
    onStart: (dev) => {
      url = dev.url;
      controller.abort();
    },
  });
  assertEquals(await code, 0);
  assert(lines.some((line) => line === `flup dev: ${url}`), lines.join("\n"));
});

Deno.test("deno task demo as a new user runs it: narrowed permissions, a page, Ctrl-C exits 0", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const socket = `/tmp/flup-dev-test-${crypto.randomUUID()}.sock`;
  // Exactly the `deno task demo` line from deno.json, on this test's port and socket.
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const demo = (config.tasks.demo as string)
    .replaceAll("127.0.0.1:8000", `127.0.0.1:${port}`)
    .replaceAll("/tmp/flup-demo.sock", socket)
    .split(" ");
  assertEquals(demo[0], "deno");
  const child = new Deno.Command(Deno.execPath(), {
    args: [...demo.slice(1), "--port", String(port)],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("stop:")) {
      const { done, value } = await reader.read();
      if (done) break;
      out += value;
    }
    assertStringIncludes(out, `flup dev: http://127.0.0.1:${port}/`);
    assertStringIncludes(out, `over FastCGI on unix:${socket}`);
    const response = await fetch(`http://127.0.0.1:${port}/welcome`);
    assertEquals(await response.text(), "Hello, world! You asked for /welcome\n");
    child.kill("SIGINT");
    while (!(await reader.read()).done) { /* drain */ }
    const status = await child.status;
    const stderr = await new Response(child.stderr).text();
    assertEquals(status.code, 0, stderr);
    assertEquals(stderr, "");
    assertEquals(await exists(socket), false);
  } finally {
    clearTimeout(killer);
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await Deno.remove(socket).catch(() => {});
  }
});
