// Proves that the end-to-end benchmark command works: `bench/e2e/run.ts --quick` starts nginx,
// php-fpm, Apache and the servers, loads each case with wrk for a second, stops everything and
// prints the table. The numbers of a quick run mean nothing; that the table is complete does.

import { assert, assertEquals, assertMatch } from "@std/assert";

const RUN = new URL("../bench/e2e/run.ts", import.meta.url).pathname;
/** The whole quick run must finish within this; the script's own --timeout is below it. */
const TEST_TIMEOUT_MS = 58_000;

async function runBench(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", RUN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    // run.ts stops everything it started on SIGTERM.
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
  }, TEST_TIMEOUT_MS);
  try {
    const { code, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("bench/e2e/run.ts --quick prints the table with every case and the targets", async () => {
  const started = Date.now();
  const { code, stdout, stderr } = await runBench(["--quick", "--timeout", "55"]);
  assertEquals(code, 0, `exit ${code}\n${stderr}\n${stdout}`);
  assert(Date.now() - started < TEST_TIMEOUT_MS, "the quick run took too long");
  assertMatch(stdout, /^Machine: nproc \d+, [\d.]+ GiB RAM/m);
  assertMatch(stdout, /^Software: deno \d+\.\d+\.\d+/m);
  assertMatch(stdout, /^Command: deno task bench:e2e --quick --timeout 55$/m);
  assertMatch(stdout, /^Load: wrk -t1 -c8 \(-c1 for the transfers\), 0 s warm-up, 1 s /m);
  assert(stdout.includes("| Case | req/s | p99 | MB/s | peak RSS | server CPU/req | errors |"));
  const rows = stdout.split("\n").filter((line) =>
    line.startsWith("| ") && !/^\| (Case|---)/.test(line)
  );
  const labels = [
    "nginx `return 200` (the ceiling)",
    "php-fpm, FastCGI TCP, per-request connections",
    "php-fpm, FastCGI TCP, `fastcgi_keep_conn`",
    "flup FastCGI TCP, per-request connections",
    "flup FastCGI TCP, `fastcgi_keep_conn`",
    "flup FastCGI Unix, per-request connections",
    "flup FastCGI Unix, `fastcgi_keep_conn`",
    "flup SCGI TCP (nginx `scgi_pass`)",
    "flup AJP TCP (Apache `mod_proxy_ajp`, secret)",
    "flup thread pool, 2 workers (FastCGI TCP, keep_conn)",
    "flup fork pool, 2 workers (FastCGI TCP, keep_conn)",
    "flup 10 MiB download (FastCGI TCP, keep_conn)",
    "php-fpm 10 MiB download (FastCGI TCP)",
    "flup 5 MiB upload (FastCGI TCP, keep_conn, streamed)",
    "php-fpm 5 MiB upload (FastCGI TCP, streamed)",
  ];
  for (const label of labels) {
    const row = rows.find((line) => line.startsWith(`| ${label} |`));
    if (row === undefined) throw new Error(`no row "${label}" in:\n${stdout}`);
    const cells = row.split("|").slice(2, -1).map((cell) => cell.trim());
    const [rps, p99, mbps, rss, cpu, errors] = cells;
    assert(Number(rps) > 0, `no requests/s in "${row}"`);
    assertMatch(p99!, /^[\d.]+ ms$/);
    assertEquals(errors, "0", `errors in "${row}"\n${stderr}`);
    if (label.includes("MiB")) assert(Number(mbps) > 0, `no MB/s in "${row}"`);
    if (!label.startsWith("nginx")) {
      assertMatch(rss!, /^[\d.]+ MiB$/);
      assertMatch(cpu!, /^\d+ µs$/);
    }
  }
  assertMatch(stdout, /^- FastCGI keep_conn vs php-fpm \(its best hello row\): [\d.]+x/m);
  assertMatch(stdout, /^- in-process peak RSS under the hello load: [\d.]+ MiB/m);
});

Deno.test("bench/e2e/run.ts --help lists the cases and a bad option exits 2", async () => {
  const help = await runBench(["--help"]);
  assertEquals(help.code, 0);
  assert(help.stdout.includes("fastcgi-tcp-keep"));
  assert(help.stdout.includes("--quick"));
  const bad = await runBench(["--nope", "1"]);
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /unknown option "--nope"/);
  const unknown = await runBench(["--only", "nope"]);
  assertEquals(unknown.code, 2);
  assertMatch(unknown.stderr, /unknown case "nope"/);
});
