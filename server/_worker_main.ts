// The entry point of a thread-pool Worker: waits for its config, serves, and reports back over
// postMessage. Loaded by thread.ts through a static `new URL("./_worker_main.ts",
// import.meta.url)`, so `deno compile --include server/_worker_main.ts` can embed it.

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import {
  describeError,
  type MemberMessage,
  type ParentMessage,
  runMember,
} from "./_pool_member.ts";
import type { MemberServer } from "./_pool_member.ts";

const send = (message: MemberMessage): void => self.postMessage(message);

// Deno.exit() in a Worker ends only the Worker, silently: tell the parent the code first.
const exit = Deno.exit;
Deno.exit = (code?: number): never => {
  send({ type: "exit", code: code ?? 0 });
  return exit(code);
};

let server: MemberServer | undefined;
let retiring = false;

const retire = async (): Promise<void> => {
  if (retiring) return;
  retiring = true;
  if (server) await server.retire();
  else {
    send({ type: "exit", code: 0 });
    self.close();
  }
};

self.onmessage = async (event: MessageEvent<ParentMessage>) => {
  const message = event.data;
  if (message.type === "retire") {
    await retire();
    return;
  }
  try {
    server = await runMember(message.config, send);
  } catch (error) {
    send({ type: "failed", message: describeError(error) });
    self.close();
    return;
  }
  // However the server ends (retired, or its listener failed), the Worker ends with it.
  server.finished.catch(() => {}).finally(() => {
    send({ type: "exit", code: 0 });
    self.close();
  });
  if (retiring) await server.retire();
};
