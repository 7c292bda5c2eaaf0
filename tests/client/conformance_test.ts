// The clients proven against our own servers: every case of the conformance list, through
// Deno.serve + createProxyHandler + the client, to serveFastCgi / serveScgi running the case app.

import { join } from "@std/path";
import { FastCgiClient } from "../../server/fastcgi/client.ts";
import { serveFastCgi } from "../../server/fastcgi/server.ts";
import { ScgiClient } from "../../server/scgi/client.ts";
import { serveScgi } from "../../server/scgi/server.ts";
import type { GatewayServer } from "../../server/types.ts";
import { createCaseApp } from "../conformance/case_app.ts";
import { countingListener, runGatewaySuite } from "../conformance/suite.ts";
import { countingUnixListener, startFront } from "./_front.ts";

const quiet = { log: () => {} };

interface Backend {
  server: GatewayServer;
  address: string;
  accepted: () => number;
  cleanup: () => Promise<void>;
}

async function tcpBackend(serve: typeof serveFastCgi | typeof serveScgi): Promise<Backend> {
  const { listener, accepted } = countingListener();
  const server = serve(createCaseApp(), { listener, ...quiet });
  const addr = (await server.ready) as Deno.NetAddr;
  return {
    server,
    address: `127.0.0.1:${addr.port}`,
    accepted,
    cleanup: () => Promise.resolve(),
  };
}

async function unixBackend(serve: typeof serveFastCgi | typeof serveScgi): Promise<Backend> {
  const dir = await Deno.makeTempDir({ prefix: "flup_client_" });
  const path = join(dir, "app.sock");
  const { listener, accepted } = countingUnixListener(path);
  const server = serve(createCaseApp(), { listener, ...quiet });
  await server.ready;
  return {
    server,
    address: `unix:${path}`,
    accepted,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

async function runThrough(
  t: Deno.TestContext,
  name: string,
  backend: Backend,
  client: FastCgiClient | ScgiClient,
  expectReuse: boolean,
): Promise<void> {
  const front = await startFront(client, quiet.log);
  try {
    await runGatewaySuite(t, {
      name,
      origin: front.origin,
      acceptedConnections: backend.accepted,
      expectReuse,
    });
  } finally {
    await front.stop();
    await client.close();
    await backend.server.shutdown();
    await backend.cleanup();
  }
}

Deno.test("FastCgiClient: conformance through serveFastCgi over TCP, kept connections", async (t) => {
  const backend = await tcpBackend(serveFastCgi);
  const client = new FastCgiClient({ address: backend.address, scriptName: "", ...quiet });
  await runThrough(t, "FastCGI client, TCP, keep-alive", backend, client, true);
});

Deno.test("FastCgiClient: conformance through serveFastCgi over a Unix socket, kept connections", async (t) => {
  const backend = await unixBackend(serveFastCgi);
  const client = new FastCgiClient({ address: backend.address, scriptName: "", ...quiet });
  await runThrough(t, "FastCGI client, Unix, keep-alive", backend, client, true);
});

Deno.test("FastCgiClient: conformance through serveFastCgi, one connection per request", async (t) => {
  const backend = await tcpBackend(serveFastCgi);
  const client = new FastCgiClient({
    address: backend.address,
    scriptName: "",
    keepAlive: false,
    ...quiet,
  });
  await runThrough(t, "FastCGI client, TCP, no keep-alive", backend, client, false);
});

Deno.test("ScgiClient: conformance through serveScgi over TCP", async (t) => {
  const backend = await tcpBackend(serveScgi);
  const client = new ScgiClient({ address: backend.address, scriptName: "", ...quiet });
  await runThrough(t, "SCGI client, TCP", backend, client, false);
});

Deno.test("ScgiClient: conformance through serveScgi over a Unix socket", async (t) => {
  const backend = await unixBackend(serveScgi);
  const client = new ScgiClient({ address: backend.address, scriptName: "", ...quiet });
  await runThrough(t, "SCGI client, Unix", backend, client, false);
});
