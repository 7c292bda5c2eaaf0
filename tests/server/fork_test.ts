// serveForks(): the pool behaviour tests (tests/fixtures/pool/pool_cases.ts) on child
// processes, plus the fork-only permission rules.

import { assertThrows } from "@std/assert";
import { serveForks } from "../../server/fork.ts";
import { definePoolTests } from "../fixtures/pool/pool_cases.ts";

definePoolTests("fork", serveForks);

Deno.test("serveForks() refuses --allow-run, --allow-all and non-permission flags for app code", () => {
  for (const flag of ["--allow-run", "--allow-run=ls", "-A", "--allow-all", "--unstable-net"]) {
    assertThrows(
      () => serveForks({ module: "./app.ts", port: 0, permissions: [flag] }),
      TypeError,
      flag,
    );
  }
});
