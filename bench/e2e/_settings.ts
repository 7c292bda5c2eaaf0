// The command line of the end-to-end benchmark: settings, their defaults, --quick, --help.

import { CASES, PHP_FPM } from "./_cases.ts";

/** Every setting of a run; each has a flag. */
export interface Settings {
  /** Seconds measured per case (`--duration`). */
  duration: number;
  /** Seconds of unmeasured load before (`--warmup`). */
  warmup: number;
  /** wrk connections (`--connections`). */
  connections: number;
  /** wrk connections of the download and upload cases (`--transfer-connections`); null: as many as `connections`. */
  transferConnections: number | null;
  /** nginx worker processes (`--nginx-workers`): a number or `"auto"` (one per CPU). */
  nginxWorkers: number | "auto";
  /** Seconds the whole run may take before it is stopped (`--timeout`). */
  timeout: number;
  /** Seconds a server may take to accept connections (`--start-timeout`). */
  startTimeout: number;
  /** Case ids to run (`--only`); all when empty. */
  only: string[];
  /** Write V8 CPU profiles of the flup servers here (`--profile`). */
  profile: string | null;
  /** `--v8-flags` for the flup servers (`--server-v8-flags`), comma-separated. */
  serverV8Flags: string | null;
}

export const DEFAULTS: Settings = {
  duration: 10,
  warmup: 2,
  connections: 50,
  transferConnections: null,
  nginxWorkers: "auto",
  timeout: 360,
  startTimeout: 15,
  only: [],
  profile: null,
  serverV8Flags: null,
};

/** `--quick`: a smoke run that proves the command works, not a measurement. */
export const QUICK: Partial<Settings> = {
  duration: 1,
  warmup: 0,
  connections: 8,
  // One 10 MiB transfer at a time: 8 at once may not finish one in a second on a busy machine.
  transferConnections: 1,
  timeout: 120,
};
export const TOOLS: [string, string][] = [
  ["nginx", "nginx"],
  ["apache2", "apache2"],
  [PHP_FPM, "php8.2-fpm"],
  ["wrk", "wrk"],
];

export const HELP = `deno run -A bench/e2e/run.ts [options]

flup behind nginx and Apache, loaded by wrk (1 thread), against php-fpm (pm static, 2 children)
and nginx's own "return 200", all in one run on loopback. Prints one markdown table.

Options:
  --quick              smoke run: 0 s warm-up, 1 s per case, 8 connections (1 for the
                       transfers), 120 s timeout
  --only ID,ID         run only these cases (ids below)
  --duration S         seconds measured per case (default ${DEFAULTS.duration})
  --warmup S           seconds of load before measuring (default ${DEFAULTS.warmup})
  --connections N      wrk connections (default ${DEFAULTS.connections})
  --transfer-connections N
                       wrk connections of the download and upload cases (default: as
                       --connections)
  --nginx-workers N    nginx worker processes, or auto: one per CPU, as Debian's nginx.conf
                       (default ${DEFAULTS.nginxWorkers})
  --timeout S          stop the whole run after S seconds (default ${DEFAULTS.timeout})
  --start-timeout S    seconds a server may take to listen (default ${DEFAULTS.startTimeout})
  --profile DIR        write V8 CPU profiles (--cpu-prof) of the flup servers to DIR
  --server-v8-flags F  run the flup servers with --v8-flags=F (comma-separated V8 flags)

Cases:
${CASES.map((c) => `  ${c.id.padEnd(19)}${c.label}`).join("\n")}`;

/** Thrown for a bad command line: exit 2. */
export class UsageError extends Error {}

export function parseArgs(args: string[]): Settings | null {
  const settings: Settings = { ...DEFAULTS };
  if (args.includes("--quick")) Object.assign(settings, QUICK);
  const numbers: Record<string, keyof Settings> = {
    "--duration": "duration",
    "--warmup": "warmup",
    "--connections": "connections",
    "--transfer-connections": "transferConnections",
    "--nginx-workers": "nginxWorkers",
    "--timeout": "timeout",
    "--start-timeout": "startTimeout",
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (flag === "--help" || flag === "-h") return null;
    if (flag === "--quick") continue;
    const value = args[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    const key = numbers[flag];
    if (flag === "--nginx-workers" && value === "auto") settings.nginxWorkers = "auto";
    else if (key) {
      const number = Number(value);
      const zeroOk = key === "warmup";
      if (!Number.isInteger(number) || number < (zeroOk ? 0 : 1)) {
        throw new UsageError(`${flag} must be a whole number ${zeroOk ? ">= 0" : ">= 1"}`);
      }
      (settings[key] as number) = number;
    } else if (flag === "--only") {
      settings.only = value.split(",").filter((id) => id !== "");
      for (const id of settings.only) {
        if (!CASES.some((c) => c.id === id)) throw new UsageError(`unknown case "${id}"`);
      }
    } else if (flag === "--profile") settings.profile = value;
    else if (flag === "--server-v8-flags") settings.serverV8Flags = value;
    else throw new UsageError(`unknown option "${flag}"`);
  }
  return settings;
}
