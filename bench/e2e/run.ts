// The end-to-end benchmark: flup behind real web servers, loaded with wrk, against php-fpm and
// nginx's own `return 200` in the same run. Installs nothing; everything listens on 127.0.0.1 or
// Unix sockets in a temporary directory, and every process is stopped at the end (also on
// Ctrl-C or when --timeout is reached).
//
//   deno run -A bench/e2e/run.ts [--quick] [--only id,id] [--duration S] [--warmup S]
//                                [--connections N] [--nginx-workers N] [--timeout S]
//                                [--profile DIR]
//
// Prints the machine, the settings, one markdown table and the targets (ratios in this run).
// Needs the Debian packages nginx, apache2, php8.2-fpm and wrk. `--help` lists the cases.

import { join } from "@std/path";
import { CASES, HERE, PHP_FPM, UPLOAD_BYTES } from "./_cases.ts";
import { nginxConf } from "./_configs.ts";
import { findExecutable } from "./_processes.ts";
import { formatMs, formatTable, formatTargets, type Result } from "./_report.ts";
import { nginxSites, Run, runCase } from "./_run.ts";
import { HELP, parseArgs, type Settings, TOOLS, UsageError } from "./_settings.ts";
async function versionOf(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await new Deno.Command(command, { args }).output();
    const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    return /\d+\.\d+(\.\d+)?/.exec(text)?.[0] ?? "?";
  } catch {
    return "?";
  }
}

function loadAverage(): string {
  return Deno.loadavg().map((n) => n.toFixed(2)).join(", ");
}

/** Runs the benchmark; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let settings: Settings | null;
  try {
    settings = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench/e2e: ${error.message} (see --help)`);
    return 2;
  }
  if (settings === null) {
    console.log(HELP);
    return 0;
  }
  const missing = TOOLS.filter(([command]) => findExecutable(command) === null);
  if (missing.length > 0) {
    console.error(
      `bench/e2e: missing ${missing.map(([command]) => command).join(", ")}; install with:\n` +
        `  apt-get install -y ${missing.map(([, pkg]) => pkg).join(" ")}`,
    );
    return 1;
  }
  const cases = settings.only.length > 0
    ? CASES.filter((c) => settings.only.includes(c.id))
    : CASES;
  const perCase = settings.warmup + settings.duration + 2;
  if (cases.length * perCase > settings.timeout) {
    console.error(
      `bench/e2e: ${cases.length} cases of about ${perCase} s do not fit in --timeout ` +
        `${settings.timeout} s`,
    );
    return 2;
  }
  const started = Date.now();
  const loadBefore = loadAverage();
  await using run = new Run(await Deno.makeTempDir({ prefix: "flup_bench_e2e_" }), settings);
  if (Deno.uid() === 0) await Deno.chmod(run.dir, 0o755); // Apache's children are www-data
  const onSignal = () => run.abort.abort(new Error("interrupted"));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    console.error(`bench/e2e: timeout (${settings.timeout} s) reached: stopping the run`);
    run.abort.abort(new Error(`timeout (${settings.timeout} s) reached`));
  }, settings.timeout * 1000);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const results: Result[] = [];
  try {
    const www = join(run.dir, "www");
    await Deno.mkdir(www);
    await Deno.mkdir(join(run.dir, "apache-run"));
    if (Deno.uid() === 0) await Deno.chmod(join(run.dir, "apache-run"), 0o777);
    for (const name of ["hello.php", "download.php", "upload.php"]) {
      await Deno.copyFile(join(HERE, "php", name), join(www, name));
    }
    await Deno.writeTextFile(
      join(run.dir, "upload.lua"),
      `wrk.method = "POST"\nwrk.body = string.rep("u", ${UPLOAD_BYTES})\n` +
        `wrk.headers["Content-Type"] = "application/octet-stream"\n`,
    );
    const sites = new Set(cases.map((c) => c.site).filter((site) => site !== "apache"));
    if (sites.size > 0) {
      const conf = join(run.dir, "nginx.conf");
      const nginxSitesList = nginxSites(run, sites);
      await Deno.writeTextFile(conf, nginxConf(run.dir, settings.nginxWorkers, nginxSitesList));
      run.nginx = await run.start(
        "nginx",
        findExecutable("nginx")!,
        [
          "-p",
          `${run.dir}/`,
          "-c",
          conf,
          "-e",
          run.nginxErrorLog,
          "-g",
          "daemon off;",
        ],
        `127.0.0.1:${nginxSitesList[0]!.port}`,
      );
    }
    for (const item of cases) {
      run.checkAborted();
      const result = await runCase(run, item);
      results.push(result);
      console.error(
        `bench/e2e: ${item.id}: ${result.wrk.rps.toFixed(0)} req/s, p99 ${
          formatMs(result.wrk.p99Ms)
        }, ${result.wrk.errors} errors`,
      );
      if (result.wrk.errors > 0) {
        // Why: the last lines nginx logged (it logs every failed upstream connection).
        const log = await Deno.readTextFile(run.nginxErrorLog).catch(() => "");
        for (const line of log.trimEnd().split("\n").slice(-5)) {
          if (line) console.error(`bench/e2e: ${item.id}: nginx: ${line}`);
        }
      }
    }
  } catch (error) {
    if (run.abort.signal.aborted) {
      const reason = run.abort.signal.reason;
      console.error(`bench/e2e: ${reason instanceof Error ? reason.message : reason}: stopped`);
      return timedOut ? 1 : 130;
    }
    console.error(`bench/e2e: ${error instanceof Error ? error.message : error}`);
    return 1;
  } finally {
    clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  const memory = Deno.systemMemoryInfo();
  const [nginx, php, apache, wrkVersion] = await Promise.all([
    versionOf(findExecutable("nginx")!, ["-v"]),
    versionOf(PHP_FPM, ["-v"]),
    versionOf(findExecutable("apache2")!, ["-v"]),
    versionOf(findExecutable("wrk")!, ["-v"]),
  ]);
  const command = ["deno task bench:e2e", ...args].join(" ");
  console.log(
    [
      `Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; ` +
      `run took ${((Date.now() - started) / 1000).toFixed(0)} s`,
      `Machine: nproc ${navigator.hardwareConcurrency}, ` +
      `${(memory.total / 1024 ** 3).toFixed(1)} GiB RAM, Linux ${Deno.osRelease()}, ` +
      `load average before ${loadBefore}, after ${loadAverage()}`,
      `Software: deno ${Deno.version.deno} (V8 ${Deno.version.v8}), nginx ${nginx} ` +
      `(worker_processes ${settings.nginxWorkers}), php-fpm ${php} (pm static, 2 children), ` +
      `Apache ${apache} (event MPM), wrk ${wrkVersion} (1 thread)`,
      `Command: ${command}`,
      `Load: wrk -t1 -c${settings.connections}` +
      (settings.transferConnections === null
        ? ""
        : ` (-c${settings.transferConnections} for the transfers)`) +
      `, ${settings.warmup} s warm-up, ` +
      `${settings.duration} s measured per case; MB = 10^6 bytes`,
      "",
      formatTable(results),
      "",
      "Targets (ratios within this run):",
      formatTargets(results),
    ].join("\n"),
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
