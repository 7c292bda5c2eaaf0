// The `flup` command line: usage errors and help, every protocol flag, and the lifecycle a
// deployment relies on, tried on a real `deno run cli.ts` process behind nginx: SIGTERM
// drains slow requests in flight, SIGHUP replaces pool members with no failed request.

import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { join } from "@std/path";
import { main } from "../cli.ts";
import { type Backend, startApache, startNginx } from "./_helpers/frontends.ts";
import { freePort, tempDir } from "./_helpers/ports.ts";

const root = new URL("..", import.meta.url).pathname;
const APP = "tests/fixtures/cli/app.ts";

/** Runs `main` in this process, capturing what it prints and writes to stderr. */
async function runMain(
  args: string[],
  signal?: AbortSignal,
  onPrint?: (line: string) => void,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const original = console.error;
  console.error = (...data: unknown[]) => err.push(data.join(" "));
  try {
    const code = await main(args, {
      print: (line) => {
        out.push(line);
        onPrint?.(line);
      },
      ...(signal ? { signal } : {}),
    });
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.error = original;
  }
}

Deno.test("flup serve --help lists every protocol, flavor and limit flag", async () => {
  const { code, out } = await runMain(["serve", "--help"]);
  assertEquals(code, 0);
  for (
    const flag of [
      "--fastcgi",
      "--scgi",
      "--ajp",
      "--cgi",
      "--flavor",
      "--workers",
      "--max-requests",
      "--balance",
      "--permission",
      "--script-name",
      "--secret-file",
      "--insecure-no-secret",
      "--packet-size",
      "--allowed-addresses",
      "--drain-timeout",
      "--verbose",
      "SIGHUP",
    ]
  ) {
    assertStringIncludes(out, flag);
  }
});

Deno.test("flup usage errors exit 2 and say what to change", async () => {
  const cases: [string[], RegExp][] = [
    [["nope"], /unknown command "nope"/],
    [["serve"], /needs an APP/],
    [["serve", APP, "--nope"], /unknown option --nope/],
    [["serve", APP, "--fastcgi", "nowhere"], /is not HOST:PORT/],
    [["serve", APP, "--fastcgi", "1.2.3.4:70000"], /port must be 0 to 65535/],
    [
      ["serve", APP, "--fastcgi", "127.0.0.1:9000", "--scgi", "127.0.0.1:9001"],
      /give one protocol/,
    ],
    [["serve", APP, "--workers", "2"], /--workers needs --flavor thread or fork/],
    [["serve", APP, "--flavor", "prefork"], /use inprocess, thread or fork/],
    [["serve", APP, "--flavor", "thread", "--permission", "--allow-env"], /needs --flavor fork/],
    [["serve", APP, "--flavor", "fork", "--permission", "rm -rf"], /not a Deno permission/],
    [["serve", APP, "--cgi", "--flavor", "fork"], /one request per process/],
    [["serve", APP, "--cgi", "--drain-timeout", "5"], /does not apply to --cgi/],
    [["serve", APP, "--scgi", "127.0.0.1:1", "--roles", "filter"], /--roles is for --fastcgi/],
    [["serve", APP, "--script-name", "/app"], /--script-name is for --scgi/],
    [["serve", APP, "--secret-file", "/x"], /--secret-file is for --ajp/],
    [["serve", APP, "--ajp", "127.0.0.1:1", "--allowed-request-attributes", "("], /RegExp/],
    [["serve", APP, "--max-connections", "-1"], /positive whole number/],
    [["serve", "tests/fixtures/cli/nothing.ts"], /./],
  ];
  for (const [args, message] of cases.slice(0, -1)) {
    const { code, err } = await runMain(args);
    assertEquals(code, 2, args.join(" "));
    assertMatch(err, message, args.join(" "));
  }
  // A module that does not exist is a failure to start (1), not a usage error.
  const missing = await runMain(cases.at(-1)![0]);
  assertEquals(missing.code, 1);
});

Deno.test("flup serve exits 1 with the reason when the address is in use", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { code, err } = await runMain(["serve", APP, "--fastcgi", `127.0.0.1:${taken.addr.port}`]);
  assertEquals(code, 1);
  assertMatch(err, /in use/i);
});

/** Runs `flup serve` in this process until `work` is done; returns what it printed. */
async function withServe(
  args: string[],
  work: (port: number) => Promise<void>,
): Promise<string> {
  const controller = new AbortController();
  let ready!: (port: number) => void;
  const listening = new Promise<number>((resolve) => ready = resolve);
  const running = runMain(["serve", APP, ...args], controller.signal, (line) => {
    const match = / on 127\.0\.0\.1:(\d+)/.exec(line);
    if (match) ready(Number(match[1]));
  });
  const port = await Promise.race([
    listening,
    running.then(({ err }) => Promise.reject(new Error(`flup serve ended: ${err}`))),
  ]);
  try {
    await work(port);
  } finally {
    controller.abort();
  }
  const { code, out, err } = await running;
  assertEquals(code, 0, err);
  return out;
}

Deno.test("flup serve --scgi serves through nginx scgi_pass", async () => {
  const out = await withServe(["--scgi", "127.0.0.1:0"], async (port) => {
    await using nginx = await startNginx({
      backend: { protocol: "scgi", hostname: "127.0.0.1", port },
    });
    const response = await fetch(`${nginx.origin}/over/scgi`);
    assertEquals(response.status, 200);
    assertEquals((await response.json()).path, "/over/scgi");
  });
  assertStringIncludes(out, "over SCGI on 127.0.0.1:");
  assertStringIncludes(out, "scgi_pass 127.0.0.1:");
});

Deno.test("flup serve --ajp --secret-file serves Apache with the secret and refuses it without", async () => {
  const dir = await tempDir("flup_cli_secret_");
  try {
    const secretFile = join(dir, "secret");
    await Deno.writeTextFile(secretFile, "s3cret-from-file\n");
    await withServe(["--ajp", "127.0.0.1:0", "--secret-file", secretFile], async (port) => {
      const backend: Backend = { protocol: "ajp", hostname: "127.0.0.1", port };
      {
        await using apache = await startApache({ backend, secret: "s3cret-from-file" });
        const response = await fetch(`${apache.origin}/over/ajp`);
        assertEquals(response.status, 200);
        assertEquals((await response.json()).path, "/over/ajp");
      }
      await using apache = await startApache({ backend });
      const refused = await fetch(`${apache.origin}/over/ajp`);
      await refused.body?.cancel();
      assertEquals(refused.status, 403);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flup serve --ajp off loopback without a secret refuses to start", async () => {
  const { code, err } = await runMain(["serve", APP, "--ajp", "0.0.0.0:0"]);
  assertEquals(code, 1);
  assertStringIncludes(err, "without a secret");
});

Deno.test("flup serve --cgi answers one request from the environment and stdin", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-env",
      `--allow-read=${root}`,
      "cli.ts",
      "serve",
      APP,
      "--cgi",
    ],
    cwd: root,
    clearEnv: true,
    env: {
      GATEWAY_INTERFACE: "CGI/1.1",
      REQUEST_METHOD: "GET",
      SCRIPT_NAME: "/app.cgi",
      PATH_INFO: "/from/cgi",
      QUERY_STRING: "",
      SERVER_NAME: "localhost",
      SERVER_PORT: "80",
      SERVER_PROTOCOL: "HTTP/1.1",
      REMOTE_ADDR: "127.0.0.1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  assertMatch(stdout, /^Status: 200/i);
  assertStringIncludes(stdout, '"path":"/app.cgi/from/cgi"');
  // Nothing but the response on stdout: no banner.
  assert(!stdout.includes("flup:"));
});

/** A `deno run cli.ts serve ...` process whose stderr lines can be awaited. */
class ServeProcess {
  readonly child: Deno.ChildProcess;
  #stderr = "";
  #waiters: { test: (text: string) => boolean; resolve: () => void }[] = [];
  readonly #reading: Promise<void>;

  constructor(args: string[], app = APP) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-all", "cli.ts", "serve", app, "--verbose", ...args],
      cwd: root,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#reading = (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#stderr += text;
        this.#waiters = this.#waiters.filter((waiter) => {
          if (!waiter.test(this.#stderr)) return true;
          waiter.resolve();
          return false;
        });
      }
    })();
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves once stderr passes `test`; rejects after 20 s with what it holds. */
  waitFor(what: string, test: (text: string) => boolean): Promise<void> {
    if (test(this.#stderr)) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => reject(new Error(`no ${what} within 20 s; stderr:\n${this.#stderr}`)),
      20_000,
    );
    this.#waiters.push({
      test,
      resolve: () => {
        clearTimeout(timer);
        resolve();
      },
    });
    return promise;
  }

  /** Resolves with the exit status; rejects after 20 s with stderr (the process keeps going). */
  exited(): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no exit within 20 s; stderr:\n${this.#stderr}`)),
        20_000,
      );
    });
    return Promise.race([this.child.status, late]).finally(() => clearTimeout(timer));
  }

  /** Stops the process: SIGTERM (it drains and removes its socket dir), SIGKILL after 15 s. */
  async stop(): Promise<Deno.CommandStatus> {
    const kill = (signal: Deno.Signal): void => {
      try {
        this.child.kill(signal);
      } catch { /* already exited */ }
    };
    kill("SIGTERM");
    const timer = setTimeout(() => kill("SIGKILL"), 15_000);
    const status = await this.child.status;
    clearTimeout(timer);
    await this.#reading;
    return status;
  }
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

for (const flavor of ["inprocess", "thread", "fork"]) {
  Deno.test(`flup serve --flavor ${flavor}: SIGTERM lets slow requests in flight finish through nginx, then exits 0`, async () => {
    const port = freePort();
    const serve = new ServeProcess([
      "--fastcgi",
      `127.0.0.1:${port}`,
      "--flavor",
      flavor,
      ...(flavor === "inprocess" ? [] : ["--workers", "2"]),
    ]);
    try {
      await serve.waitFor("listening line", (text) => text.includes("flup info: listening on"));
      await using nginx = await startNginx({
        backend: { protocol: "fastcgi", hostname: "127.0.0.1", port },
        keepConn: true,
      });
      const slow = Array.from(
        { length: 4 },
        (_, i) => fetch(`${nginx.origin}/slow?ms=1500&tag=r${i}`),
      );
      await serve.waitFor("4 requests in flight", (text) => count(text, "started r") === 4);
      serve.child.kill("SIGTERM");
      const responses = await Promise.all(slow);
      assertEquals(responses.map((response) => response.status), [200, 200, 200, 200]);
      for (const response of responses) assertEquals((await response.json()).path, "/slow");
      const status = await serve.exited();
      assertEquals(status.code, 0, serve.stderr);
      // Stopped: the address refuses connections.
      let refused = false;
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      } catch {
        refused = true;
      }
      assert(refused, "still accepting after SIGTERM");
      assertMatch(serve.stderr, /draining/);
    } finally {
      await serve.stop();
    }
  });
}

for (const flavor of ["thread", "fork"]) {
  Deno.test(`flup serve --flavor ${flavor}: SIGTERM while the pool is still starting exits 0`, async () => {
    const port = freePort();
    const serve = new ServeProcess(
      ["--fastcgi", `127.0.0.1:${port}`, "--flavor", flavor, "--workers", "2"],
      "tests/fixtures/cli/slow_start_app.ts",
    );
    try {
      // Members load the app for 3 s: the pool is not ready when the signal comes.
      await serve.waitFor("a member spawned", (text) => /(worker|child) 1 .*spawned/.test(text));
      serve.child.kill("SIGTERM");
      const status = await serve.exited();
      assertEquals(status.code, 0, serve.stderr);
      assertMatch(serve.stderr, /stopped before every member was ready/);
      assertEquals(serve.stderr.includes("flup info: listening on"), false, serve.stderr);
    } finally {
      await serve.stop();
    }
  });
}

for (const flavor of ["thread", "fork"]) {
  Deno.test(`flup serve --flavor ${flavor}: SIGHUP replaces every member under load with no failed request`, async () => {
    const port = freePort();
    const serve = new ServeProcess([
      "--fastcgi",
      `127.0.0.1:${port}`,
      "--flavor",
      flavor,
      "--workers",
      "2",
    ]);
    try {
      await serve.waitFor("listening line", (text) => text.includes("flup info: listening on"));
      await using nginx = await startNginx({
        backend: { protocol: "fastcgi", hostname: "127.0.0.1", port },
        keepConn: true,
      });
      const before = new Set<string>();
      for (let i = 0; i < 20; i++) {
        before.add((await (await fetch(`${nginx.origin}/before`)).json()).id);
      }
      // Load from 4 clients until the reload is over.
      let reloading = true;
      const statuses: number[] = [];
      const load = Array.from({ length: 4 }, async () => {
        while (reloading) {
          const response = await fetch(`${nginx.origin}/during`);
          await response.body?.cancel();
          statuses.push(response.status);
        }
      });
      const replaced = serve.waitFor(
        "reload end",
        (text) => text.includes("every member replaced"),
      );
      serve.child.kill("SIGHUP");
      await replaced.finally(() => reloading = false);
      await Promise.all(load);
      // A connection dispatched to an old member just before it was replaced still gets its
      // request answered there; the old members exit once they have drained.
      await serve.waitFor("old members to exit", (text) => count(text, "exited with code 0") >= 2);
      assert(statuses.length > 0);
      assertEquals(statuses.filter((status) => status !== 200), [], serve.stderr);
      // Every answer now comes from a new member.
      for (let i = 0; i < 20; i++) {
        const id = (await (await fetch(`${nginx.origin}/after`)).json()).id;
        assert(!before.has(id), `answered by old member ${id}`);
      }
      assertMatch(serve.stderr, /spawned/);
    } finally {
      await serve.stop();
    }
  });
}

Deno.test("flup serve --flavor fork runs under the systemd unit's narrow permissions", async () => {
  // The parent runs no app code. It gets: net (its Unix socket and the members' sockets,
  // whose names change as members are replaced: Deno takes no directory for unix: net
  // permission), read/write of its socket and the members' socket dir, running deno. No env.
  // The children get only their own member socket (see serveForks).
  const dir = await tempDir("flup_cli_unit_");
  const socket = join(dir, "app.sock");
  const members = join(dir, "members");
  await Deno.mkdir(members);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-net",
      `--allow-read=${socket},${members},${root}`,
      `--allow-write=${socket},${members}`,
      `--allow-run=${Deno.execPath()}`,
      "cli.ts",
      "serve",
      APP,
      "--fastcgi",
      `unix:${socket}`,
      "--flavor",
      "fork",
      "--workers",
      "2",
      "--socket-dir",
      members,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let printed = "";
    while (!printed.includes("stop:")) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`flup exited early: ${await stderr}`);
      printed += value;
    }
    reader.releaseLock();
    assertStringIncludes(printed, `over FastCGI on unix:${socket} (fork pool)`);
    await using nginx = await startNginx({ backend: { protocol: "fastcgi", path: socket } });
    const response = await fetch(`${nginx.origin}/narrow`);
    assertEquals(response.status, 200);
    assertEquals((await response.json()).path, "/narrow");
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    const text = await stderr;
    await Deno.remove(dir, { recursive: true });
    assertEquals(status.code, 0, text);
  }
});
