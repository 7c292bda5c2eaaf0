// The table and the target lines the end-to-end benchmark prints.

import type { Case } from "./_cases.ts";
import type { WrkResult } from "./_wrk.ts";

/** A measured case. */
export interface Result {
  case: Case;
  wrk: WrkResult;
  /** Peak RSS of the backend (all its processes), bytes; `null` when there is none. */
  rss: number | null;
  /** Backend CPU time (all its processes) per measured request, microseconds. */
  cpuPerRequestUs: number | null;
}
export function formatTable(results: Result[]): string {
  const rows = [
    "| Case | req/s | p99 | MB/s | peak RSS | server CPU/req | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const { case: item, wrk, rss, cpuPerRequestUs } of results) {
    const mbps = item.transfer ? (wrk.rps * item.transfer.bytes / 1e6).toFixed(0) : "";
    rows.push(
      `| ${item.label} | ${wrk.rps.toFixed(0)} | ${formatMs(wrk.p99Ms)} | ${mbps} | ${
        rss === null ? "" : `${(rss / 1024 / 1024).toFixed(1)} MiB`
      } | ${cpuPerRequestUs === null ? "" : `${cpuPerRequestUs.toFixed(0)} µs`} | ${wrk.errors} |`,
    );
  }
  return rows.join("\n");
}

export function formatMs(ms: number): string {
  return ms >= 100
    ? `${ms.toFixed(0)} ms`
    : ms >= 10
    ? `${ms.toFixed(1)} ms`
    : `${ms.toFixed(2)} ms`;
}

/** The issue's targets, as ratios within this run; a line per target whose cases ran. */
export function formatTargets(results: Result[]): string {
  const get = (id: string) => results.find((r) => r.case.id === id);
  const rps = (id: string) => get(id)?.wrk.rps;
  const lines: string[] = [];
  const check = (text: string, value: number | undefined, goal: number, unit: "x" | "%") => {
    if (value === undefined || Number.isNaN(value)) return;
    const shown = unit === "x" ? `${value.toFixed(2)}x` : `${(value * 100).toFixed(0)}%`;
    const wanted = unit === "x" ? `${goal}x` : `${goal * 100}%`;
    lines.push(`- ${text}: ${shown} (target >= ${wanted}): ${value >= goal ? "met" : "MISSED"}`);
  };
  const phpBest = Math.max(rps("php-fpm") ?? 0, rps("php-fpm-keep") ?? 0) || undefined;
  const keep = rps("fastcgi-tcp-keep");
  check("FastCGI keep_conn vs php-fpm (its best hello row)", ratio(keep, phpBest), 1.5, "x");
  check("FastCGI keep_conn vs nginx `return 200`", ratio(keep, rps("nginx-return")), 0.25, "%");
  const phpShare = ratio(phpBest, rps("nginx-return"));
  if (phpShare !== undefined) {
    lines.push(`- (reference) php-fpm vs nginx \`return 200\`: ${(phpShare * 100).toFixed(0)}%`);
  }
  const floorShare = ratio(rps("floor-tcp"), rps("php-fpm"));
  if (floorShare !== undefined) {
    lines.push(
      `- (reference) Deno floor, per-request connections, vs php-fpm per-request: ` +
        `${floorShare.toFixed(2)}x`,
    );
  }
  check(
    "FastCGI per-request connections vs php-fpm per-request",
    ratio(rps("fastcgi-tcp"), rps("php-fpm")),
    1.5,
    "x",
  );
  check(
    "10 MiB download MB/s vs php-fpm",
    ratio(rps("download"), rps("php-fpm-download")),
    1.2,
    "x",
  );
  const rss = get("fastcgi-tcp-keep")?.rss;
  if (rss !== undefined && rss !== null) {
    const mib = rss / 1024 / 1024;
    lines.push(
      `- in-process peak RSS under the hello load: ${mib.toFixed(1)} MiB (target < 80 MiB): ${
        mib < 80 ? "met" : "MISSED"
      }`,
    );
  }
  return lines.join("\n");
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}
