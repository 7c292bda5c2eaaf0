// SCGI proven through real front ends: nginx scgi_pass, Apache mod_proxy_scgi, lighttpd
// mod_scgi over TCP and over a Unix socket. SCGI carries one request per connection.

import { join } from "@std/path";
import { serveScgi } from "../../server/scgi/server.ts";
import type { GatewayServer } from "../../server/types.ts";
import {
  type Backend,
  type FrontEnd,
  startApache,
  startLighttpd,
  startNginx,
} from "../_helpers/frontends.ts";
import { createCaseApp } from "./case_app.ts";
import { countingListener, type GatewayTarget, runGatewaySuite } from "./suite.ts";

const quiet = { log: () => {} };

/** Starts the case app in-process on a counting TCP listener. */
async function startApp(): Promise<
  { server: GatewayServer; backend: Backend; accepted: () => number }
> {
  const { listener, accepted } = countingListener();
  const server = serveScgi(createCaseApp(), { listener, ...quiet });
  const addr = await server.ready;
  if (!("port" in addr)) throw new TypeError("not TCP");
  return {
    server,
    backend: { protocol: "scgi", hostname: "127.0.0.1", port: addr.port },
    accepted,
  };
}

async function withFrontEnd(
  t: Deno.TestContext,
  start: (backend: Backend) => Promise<FrontEnd>,
  target: Omit<GatewayTarget, "origin" | "name">,
): Promise<void> {
  const app = await startApp();
  let frontEnd: FrontEnd | undefined;
  try {
    frontEnd = await start(app.backend);
    await runGatewaySuite(t, {
      name: frontEnd.name,
      origin: frontEnd.origin,
      acceptedConnections: app.accepted,
      ...target,
    });
  } catch (error) {
    if (frontEnd) console.error(await frontEnd.errorLog());
    throw error;
  } finally {
    await frontEnd?.stop();
    await app.server.shutdown();
  }
}

// Chunked uploads: nginx buffers a chunked body for SCGI whatever scgi_request_buffering says
// and sends its length as CONTENT_LENGTH, so the case runs through nginx. Apache and lighttpd
// answer 411 themselves and the request never reaches the app.
const APACHE_NO_CHUNKED = "mod_proxy_scgi answers 411 Length Required to a chunked request " +
  "body (it reads bodies with REQUEST_CHUNKED_ERROR); the request never reaches the app";
const LIGHTTPD_NO_CHUNKED = "lighttpd answers 411 Length Required to a chunked request body " +
  "for mod_scgi when it streams request bodies (server.stream-request-body = 2, as configured " +
  "here): SCGI needs CONTENT_LENGTH up front; the request never reaches the app";

Deno.test("SCGI through nginx scgi_pass, one connection per request", async (t) => {
  await withFrontEnd(t, (backend) => startNginx({ backend }), { expectReuse: false });
});

Deno.test("SCGI through nginx scgi_request_buffering off", async (t) => {
  await withFrontEnd(t, (backend) => startNginx({ backend, requestBuffering: false }), {
    expectReuse: false,
    skip: {
      // Seen with nginx 1.22.1: "440:CONTENT_LENGTH\09061\0...HTTP_CONTENT_LENGTH\0200000".
      // The server keeps to CONTENT_LENGTH (the spec's body length) and logs the rest as
      // ignored; nginx 1.23+ sends the request's Content-Length instead.
      upload: "nginx 1.22 with scgi_request_buffering off sends as CONTENT_LENGTH only the " +
        "body bytes it has read so far (e.g. 9061 of 5 MiB), so the app gets a short body",
    },
  });
});

Deno.test("SCGI through Apache mod_proxy_scgi", async (t) => {
  await withFrontEnd(t, (backend) => startApache({ backend }), {
    expectReuse: false,
    skip: { "chunked upload": APACHE_NO_CHUNKED },
  });
});

Deno.test("SCGI through lighttpd mod_scgi over TCP", async (t) => {
  await withFrontEnd(t, (backend) => startLighttpd({ backend }), {
    expectReuse: false,
    skip: { "chunked upload": LIGHTTPD_NO_CHUNKED },
  });
});

Deno.test("SCGI through lighttpd mod_scgi over a Unix socket", async (t) => {
  const dir = await Deno.makeTempDir();
  await Deno.chmod(dir, 0o711);
  const path = join(dir, "app.sock");
  const server = serveScgi(createCaseApp(), { path, ...quiet });
  let frontEnd: FrontEnd | undefined;
  try {
    await server.ready;
    frontEnd = await startLighttpd({ backend: { protocol: "scgi", path } });
    await runGatewaySuite(t, {
      name: frontEnd.name,
      origin: frontEnd.origin,
      skip: {
        "chunked upload": LIGHTTPD_NO_CHUNKED,
        "kept connection":
          "connections on a Unix socket cannot be counted here; one per request is counted over TCP above",
      },
    });
  } catch (error) {
    if (frontEnd) console.error(await frontEnd.errorLog());
    throw error;
  } finally {
    await frontEnd?.stop();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
