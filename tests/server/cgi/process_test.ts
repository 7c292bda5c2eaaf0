// serveCgi() in a real process, started the way a web server starts a CGI script: `deno run`
// with a cleared environment of CGI variables, the body on a stdin pipe, the response read from
// stdout and the log from stderr.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { createHash } from "node:crypto";
import { patternBytes } from "../../conformance/case_app.ts";
import { apacheEnv, headerValues, parseCgiOutput } from "./_harness.ts";

const CASE_APP = new URL("../../fixtures/cgi/case_app_cgi.ts", import.meta.url).pathname;
const SHOULD_SERVE = new URL("../../fixtures/cgi/should_serve_cgi.ts", import.meta.url).pathname;
const HELLO_FCGI = new URL("../../../examples/cgi/hello.fcgi.ts", import.meta.url).pathname;
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

interface ScriptRun {
  code: number;
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  stderr: string;
}

/** Runs `script` as a CGI script; `flags` replace the default `--allow-env`. */
async function runScript(
  script: string,
  env: Record<string, string>,
  options: { stdin?: Uint8Array; args?: string[]; flags?: string[] } = {},
): Promise<ScriptRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--no-config",
      ...(options.flags ?? ["--allow-env"]),
      script,
      ...(options.args ?? []),
    ],
    clearEnv: true,
    env: { HOME: Deno.env.get("HOME") ?? "/root", NO_COLOR: "1", ...env },
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const output = await child.output();
  const parsed = parseCgiOutput(output.stdout);
  return { code: output.code, ...parsed, stderr: text(output.stderr) };
}

Deno.test("serveCgi() in a process: env in, Status: and body out, exit code 0", async () => {
  const run = await runScript(
    CASE_APP,
    apacheEnv("/echo/caf%C3%A9?q=a%20b&u=%E2%9C%93", { HTTP_X_MULTI: "first, second" }),
  );
  assertEquals(run.code, 0, run.stderr);
  assertEquals(run.status, 200);
  const body = JSON.parse(text(run.body));
  assertEquals(body.url, "http://cgi.test:8080/echo/caf%C3%A9?q=a%20b&u=%E2%9C%93");
  assertEquals(body.query, { q: "a b", u: "✓" });
  assertEquals(body.protocol, "cgi");
  assertEquals(body.remoteAddr, { transport: "tcp", hostname: "192.0.2.7", port: 51234 });
  assertEquals(new Map<string, string>(body.headers).get("x-multi"), "first, second");
  assertEquals(run.stderr, "");
});

Deno.test("serveCgi() in a process never reads the command line as input", async () => {
  // RFC 3875 section 4.4: a server may pass an "indexed" query as arguments. They are ignored.
  const run = await runScript(CASE_APP, apacheEnv("/echo/args?x=1"), {
    args: ["QUERY_STRING=evil", "/echo/other", "--port=1"],
  });
  assertEquals(run.code, 0, run.stderr);
  const body = JSON.parse(text(run.body));
  assertEquals(body.pathname, "/echo/args");
  assertEquals(body.query, { x: "1" });
});

Deno.test("serveCgi() in a process: a 5 MB upload on stdin, a 10 MB download on stdout", async () => {
  const upload = new Uint8Array(5 * 1024 * 1024);
  for (let i = 0; i < upload.length; i += 65536) {
    crypto.getRandomValues(upload.subarray(i, i + 65536));
  }
  const posted = await runScript(
    CASE_APP,
    apacheEnv("/upload", {
      REQUEST_METHOD: "POST",
      CONTENT_LENGTH: String(upload.length),
      CONTENT_TYPE: "application/octet-stream",
    }),
    { stdin: upload },
  );
  assertEquals(posted.code, 0, posted.stderr);
  assertEquals(JSON.parse(text(posted.body)), {
    bytes: upload.length,
    sha256: createHash("sha256").update(upload).digest("hex"),
  });
  const size = 10 * 1024 * 1024;
  const download = await runScript(CASE_APP, apacheEnv(`/download?size=${size}`));
  assertEquals(download.status, 200);
  assertEquals(download.body.length, size);
  assertEquals(download.body, patternBytes(0, size));
});

Deno.test("serveCgi() in a process: statuses, two Set-Cookie lines, HEAD, a throwing handler", async () => {
  for (const status of [204, 304, 404, 418]) {
    const run = await runScript(CASE_APP, apacheEnv(`/status/${status}`));
    assertEquals(run.status, status);
    if (status === 204 || status === 304) assertEquals(run.body.length, 0);
  }
  const cookies = await runScript(CASE_APP, apacheEnv("/cookies"));
  assertEquals(headerValues(cookies.headers, "set-cookie"), [
    "first=1; Path=/; HttpOnly",
    "second=2; Path=/; SameSite=Lax",
  ]);
  const head = await runScript(CASE_APP, apacheEnv("/echo/head", { REQUEST_METHOD: "HEAD" }));
  assertEquals(head.status, 200);
  assertEquals(head.body.length, 0);
  assertEquals(headerValues(head.headers, "content-type"), ["application/json"]);
  const thrown = await runScript(CASE_APP, apacheEnv("/throw"));
  assertEquals(thrown.code, 0);
  assertEquals(thrown.status, 500);
  assertEquals(text(thrown.body), "Internal Server Error\n");
  // The details go to stderr, which the web server writes to its error log.
  assertStringIncludes(thrown.stderr, "flup error: Handler failed for GET");
  assertStringIncludes(thrown.stderr, "secret detail");
});

Deno.test("serveCgi() in a process: a body shorter than CONTENT_LENGTH is a 400", async () => {
  const run = await runScript(
    CASE_APP,
    apacheEnv("/upload", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "100" }),
    { stdin: new TextEncoder().encode("only 17 bytes...\n") },
  );
  assertEquals(run.code, 0, run.stderr);
  assertEquals(run.status, 400);
});

Deno.test("serveCgi() in a process without --allow-env answers 500 and says why on stderr", async () => {
  const run = await runScript(CASE_APP, apacheEnv("/echo/x"), { flags: [] });
  assertEquals(run.code, 0);
  assertEquals(run.status, 500);
  assertStringIncludes(run.stderr, "--allow-env");
});

/** Runs `args` with a socket (one end of a socketpair) as standard input, through perl. */
async function withSocketStdin(
  args: string[],
  env: Record<string, string>,
): Promise<string> {
  const script = "use Socket; socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die; " +
    'open(STDIN, "<&", $a) or die; exec @ARGV or die';
  const output = await new Deno.Command("perl", {
    args: ["-e", script, ...args],
    clearEnv: true,
    env: { HOME: Deno.env.get("HOME") ?? "/root", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  assertEquals(output.code, 0, text(output.stderr));
  return text(output.stdout).trim();
}

Deno.test({
  // perl (Debian's essential perl-base) puts a socketpair end on fd 0; without it this fails.
  name: "shouldServeCgi() is false on a socket stdin unless FCGI_FORCE_CGI is Y, y or 1",
  async fn() {
    const deno = [Deno.execPath(), "run", "--quiet", "--no-prompt", "--no-config"];
    const allow = "--allow-env=FCGI_FORCE_CGI";
    assertEquals(await withSocketStdin([...deno, allow, SHOULD_SERVE], {}), "false");
    for (const value of ["Y", "y", "1"]) {
      assertEquals(
        await withSocketStdin([...deno, allow, SHOULD_SERVE], { FCGI_FORCE_CGI: value }),
        "true",
        value,
      );
    }
    assertEquals(
      await withSocketStdin([...deno, allow, SHOULD_SERVE], { FCGI_FORCE_CGI: "N" }),
      "false",
    );
    // Without the env permission the variable is not read (and nothing prompts).
    assertEquals(
      await withSocketStdin([...deno, SHOULD_SERVE], { FCGI_FORCE_CGI: "Y" }),
      "false",
    );
  },
});

Deno.test("shouldServeCgi() is true on a pipe or /dev/null stdin, as a CGI server gives", async () => {
  for (const stdin of ["null", "piped"] as const) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-prompt", "--no-config", SHOULD_SERVE],
      stdin,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin === "piped") await child.stdin.close();
    const output = await child.output();
    assertEquals(text(output.stdout).trim(), "true", text(output.stderr));
  }
});

Deno.test("examples/cgi/hello.fcgi.ts falls back to CGI when stdin is not a socket", async () => {
  const run = await runScript(
    HELLO_FCGI,
    apacheEnv("/hi?x=1", { REQUEST_METHOD: "POST", CONTENT_LENGTH: "5" }),
    { stdin: new TextEncoder().encode("hello") },
  );
  assertEquals(run.code, 0, run.stderr);
  assertEquals(run.status, 200);
  assertEquals(text(run.body), "Hello from cgi! POST /hi?x=1\n5 bytes received\n");
  assert(run.stderr === "", run.stderr);
});
