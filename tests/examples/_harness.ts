// Runs an example's scenario twice: over HTTP (Deno.serve, as `deno serve` would) and over
// FastCGI behind nginx (serveFastCgi, as `flup serve` would), with a small cookie-keeping
// client, so every example is proven on both paths.

import { serveFastCgi } from "../../server/fastcgi/server.ts";
import type { GatewayInfo, Handler } from "../../server/types.ts";
import { startNginx } from "../_helpers/frontends.ts";

/** A browser-like client: keeps the cookies it is sent, follows no redirects. */
export class Client {
  readonly origin: string;
  #cookies = new Map<string, string>();

  constructor(origin: string) {
    this.origin = origin;
  }

  /** The cookies held, as a `Cookie` header value. */
  get cookieHeader(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** Sends a request to `path`, with the held cookies; stores the cookies it sets. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#cookies.size > 0) headers.set("cookie", this.cookieHeader);
    const response = await fetch(`${this.origin}${path}`, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const equals = pair.indexOf("=");
      const name = pair.slice(0, equals);
      const value = pair.slice(equals + 1);
      if (/max-age=0/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    return response;
  }

  /** `fetch()` and the body as text. */
  async text(path: string, init: RequestInit = {}): Promise<[number, string]> {
    const response = await this.fetch(path, init);
    return [response.status, await response.text()];
  }

  /** A POST of form fields. */
  post(path: string, fields: Record<string, string>): Promise<Response> {
    return this.fetch(path, { method: "POST", body: new URLSearchParams(fields) });
  }
}

/** Where a scenario runs: a fresh client per call. */
export type Scenario = (newClient: () => Client) => Promise<void>;

/** The app under test, and how to clean up after it. */
export interface Setup {
  handler: Handler;
  done?: () => Promise<void>;
}

/** Registers `scenario` against the app `setup` makes, over HTTP and over FastCGI (nginx). */
export function testOverHttpAndFastCgi(
  name: string,
  setup: () => Setup | Promise<Setup>,
  scenario: Scenario,
): void {
  const prepare = async () => {
    const { handler, done = () => Promise.resolve() } = await setup();
    return { handler, done };
  };

  Deno.test(`${name} (HTTP, Deno.serve)`, async () => {
    const { handler, done } = await prepare();
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request, info) => handler(request, info as unknown as GatewayInfo),
    );
    try {
      await scenario(() => new Client(`http://127.0.0.1:${server.addr.port}`));
    } finally {
      await done();
    }
  });

  Deno.test(`${name} (FastCGI, nginx)`, async () => {
    const { handler, done } = await prepare();
    const server = serveFastCgi(handler, { port: 0, log: () => {} });
    try {
      const addr = await server.ready;
      if (addr.transport !== "tcp") throw new Error("not TCP");
      await using nginx = await startNginx({
        backend: { protocol: "fastcgi", hostname: "127.0.0.1", port: addr.port },
      });
      await scenario(() => new Client(nginx.origin));
    } finally {
      await server.shutdown();
      await done();
    }
  });
}
