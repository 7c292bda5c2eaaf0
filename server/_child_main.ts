// The entry point of a fork-pool child process, run as
// `deno run <permission flags> --preload APP _child_main.ts CONFIG_JSON`. It serves and
// reports to the parent with control lines on stdout; the parent controls it with signals:
// SIGTERM drains and exits 0. SIGINT and SIGHUP are left to the parent (a terminal's Ctrl-C
// reaches the whole process group, and the parent decides). Other stdout output (the app's
// console.log) passes through the parent unchanged.

import {
  CONTROL_PREFIX,
  describeError,
  type MemberConfig,
  type MemberMessage,
  runMember,
} from "./_pool_member.ts";
import type { MemberServer } from "./_pool_member.ts";

/** How often the child proves the parent is alive by writing to it. */
const HEARTBEAT_MS = 1000;

const encoder = new TextEncoder();
let server: MemberServer | undefined;
let retiring = false;

/** Writes one control line; a broken pipe means the parent is gone, so drain and exit. */
function send(message: MemberMessage): void {
  const bytes = encoder.encode(`${CONTROL_PREFIX}${JSON.stringify(message)}\n`);
  try {
    let offset = 0;
    while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
  } catch {
    void retire();
  }
}

async function retire(): Promise<void> {
  if (retiring) return;
  retiring = true;
  if (server) await server.retire();
  else Deno.exit(0);
}

/**
 * Runs this process as a pool child with the parent's JSON `config`; never returns. Called
 * by the entry below under `deno run`, and by `flup` itself in a `deno compile` binary, whose
 * children re-run the binary with `--flup-child CONFIG_JSON`.
 */
export async function runChild(configJson: string): Promise<never> {
  Deno.addSignalListener("SIGTERM", () => void retire());
  Deno.addSignalListener("SIGINT", () => {});
  Deno.addSignalListener("SIGHUP", () => {});
  const config = JSON.parse(configJson) as MemberConfig;
  try {
    server = await runMember(config, send);
  } catch (error) {
    send({ type: "failed", message: describeError(error) });
    Deno.exit(1);
  }
  const heartbeat = setInterval(() => send({ type: "alive" }), HEARTBEAT_MS);
  if (retiring) void server.retire();
  await server.finished.catch(() => {});
  clearInterval(heartbeat);
  Deno.exit(0);
}

if (import.meta.main) await runChild(Deno.args[0] ?? "{}");
