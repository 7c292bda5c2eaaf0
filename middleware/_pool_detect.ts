// Whether this code runs inside a flup thread-pool Worker or fork-pool child, where module
// state is per member (so an in-memory session store would split sessions between members).
//
// The signals, both readable without permissions and already set while the app module's
// top level runs (a fork child preloads the app before its entry point runs):
// - thread: server/thread.ts names every Worker "flup worker N" (`self.name`).
// - fork: a child's main module is server/_child_main.ts; in a `deno compile` binary the
//   child is the binary re-run with "--flup-child" (FORK_CHILD_FLAG in server/fork.ts) as
//   its first argument.
// tests/middleware/memory_store_pool_test.ts starts both pools to keep these in step.

/** The flavor of pool member this code runs in, or `null` outside of pools. */
export function poolFlavor(): "thread" | "fork" | null {
  const scope = globalThis as { WorkerGlobalScope?: unknown; name?: unknown };
  if (
    typeof scope.WorkerGlobalScope === "function" && typeof scope.name === "string" &&
    scope.name.startsWith("flup worker ")
  ) {
    return "thread";
  }
  if (Deno.build.standalone) return Deno.args[0] === "--flup-child" ? "fork" : null;
  const main = Deno.mainModule;
  return typeof main === "string" && main.endsWith("/server/_child_main.ts") ? "fork" : null;
}
