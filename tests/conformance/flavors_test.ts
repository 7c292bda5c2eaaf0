// The conformance suite against the thread and fork flavors, for every protocol a pool can
// serve: FastCGI through nginx (upstream keepalive), SCGI through nginx, AJP through Apache
// mod_proxy_ajp with a secret (connection reuse on). 2 members for every case that needs no
// shared state, and 1 member for the two cases that coordinate through the app's module state
// (per member by design).
//
// CGI has no flavors: the web server starts one process per request (tests/conformance/
// cgi_test.ts), so there is no pool to run.

import { serveForks } from "../../server/fork.ts";
import { type PoolOptions, type PoolServer, serveThreads } from "../../server/thread.ts";
import type { PoolProtocol } from "../../server/thread.ts";
import { type Backend, type FrontEnd, startApache, startNginx } from "../_helpers/frontends.ts";
import { type CaseName, runGatewaySuite } from "./suite.ts";

const MODULE = new URL("../fixtures/pool/case_app.ts", import.meta.url);
const SECRET = "pool-secret";

const NO_COUNTING =
  "members accept inside Workers or children, where connections cannot be counted";
const SHARED_STATE =
  "coordinates two requests through module state, which is per member: run on 1 member below";
const TWO_MEMBERS = "covered by the 2-member run above";

/** One protocol behind its front end, with the cases that front end cannot carry. */
interface Target {
  protocol: PoolProtocol;
  options: Partial<PoolOptions>;
  start: (backend: Backend) => Promise<FrontEnd>;
  skip: Partial<Record<CaseName, string>>;
}

const TARGETS: Target[] = [
  {
    protocol: "fastcgi",
    options: {},
    start: (backend) => startNginx({ backend, keepConn: true }),
    skip: {
      "chunked upload":
        "covered by the nginx fastcgi_request_buffering off target in fastcgi_test.ts",
    },
  },
  {
    protocol: "scgi",
    options: {},
    start: (backend) => startNginx({ backend }),
    skip: {},
  },
  {
    protocol: "ajp",
    options: { secret: SECRET },
    start: (backend) => startApache({ backend, secret: SECRET }),
    skip: {},
  },
];

const CASES: CaseName[] = [
  "query",
  "repeated headers",
  "upload",
  "chunked upload",
  "download",
  "streaming",
  "statuses",
  "cookies",
  "head",
  "throwing handler",
  "client disconnect",
  "kept connection",
];
const STATEFUL: CaseName[] = ["streaming", "client disconnect"];

async function withPool(
  t: Deno.TestContext,
  target: Target,
  flavor: string,
  serve: (options: PoolOptions) => PoolServer,
  workers: number,
  skip: Partial<Record<CaseName, string>>,
): Promise<void> {
  const pool = serve({
    module: MODULE,
    protocol: target.protocol,
    port: 0,
    workers,
    log: () => {},
    ...target.options,
  });
  let frontEnd: FrontEnd | undefined;
  try {
    const addr = await pool.ready;
    if (addr.transport !== "tcp") throw new TypeError("not TCP");
    frontEnd = await target.start({
      protocol: target.protocol,
      hostname: "127.0.0.1",
      port: addr.port,
    });
    await runGatewaySuite(t, {
      name: `${frontEnd.name} ${flavor} x${workers}`,
      origin: frontEnd.origin,
      skip,
    });
  } catch (error) {
    if (frontEnd) console.error(await frontEnd.errorLog());
    throw error;
  } finally {
    await frontEnd?.stop();
    await pool.shutdown();
  }
}

for (const target of TARGETS) {
  for (
    const [flavor, serve] of [["thread", serveThreads], ["fork", serveForks]] as const
  ) {
    const name = `${target.protocol.toUpperCase()} ${flavor} pool`;
    Deno.test(`${name} of 2 through its front end`, async (t) => {
      await withPool(t, target, flavor, serve, 2, {
        ...target.skip,
        "kept connection": NO_COUNTING,
        streaming: SHARED_STATE,
        "client disconnect": SHARED_STATE,
      });
    });

    Deno.test(`${name} of 1 through its front end: the stateful cases`, async (t) => {
      const skip: Partial<Record<CaseName, string>> = {};
      for (const name of CASES) if (!STATEFUL.includes(name)) skip[name] = TWO_MEMBERS;
      await withPool(t, target, flavor, serve, 1, skip);
    });
  }
}
