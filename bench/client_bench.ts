// The FastCGI client's own work per request, in memory (no sockets): what `flup dev` and
// `createProxyHandler` spend in JavaScript between the front's Request and the backend's bytes.
//
//   deno bench --allow-all bench/client_bench.ts
//
// - "params": the CGI variables built from a Request (a browser's 10 headers) and encoded as
//   BEGIN_REQUEST + PARAMS + empty STDIN, the one write a GET sends.
// - "answer": a realistic STDOUT answer (the CGI head flup's server writes for
//   examples/hello.ts, a 13-byte body, END_REQUEST) decoded into a Response.
// - "exchange": both, through the client's exchange on a connection whose `read` hands back the
//   canned answer and whose `write` does nothing (the promises, the watchdog, the abort
//   listener and the Response included), as one request on a kept-alive connection.
//
// Before `deno bench` runs, a line per case gives µs per request over 20 000 requests.

import { buildCgiParams } from "../server/_client_cgi.ts";
import {
  encodeStart,
  Exchange,
  type ExchangeSettings,
} from "../server/fastcgi/_client_exchange.ts";
import { ClientConnection } from "../server/fastcgi/_client_connection.ts";
import { RECORD_TYPE } from "../server/fastcgi/constants.ts";
import {
  encodedStreamLength,
  encodeEndRequest,
  encodeStream,
  RecordDecoder,
} from "../server/fastcgi/record.ts";
import { Watchdog } from "../server/_client_watchdog.ts";
import { CgiHeadReader, createResponse } from "../server/_client_cgi.ts";

const URL_TEXT = "http://127.0.0.1:8000/hello?name=deno";
const HEADERS: [string, string][] = [
  ["host", "127.0.0.1:8000"],
  ["user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"],
  ["accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
  ["accept-language", "en-US,en;q=0.5"],
  ["accept-encoding", "gzip, deflate, br, zstd"],
  ["connection", "keep-alive"],
  ["cookie", "session=0123456789abcdef; theme=dark"],
  ["upgrade-insecure-requests", "1"],
  ["sec-fetch-dest", "document"],
  ["sec-fetch-mode", "navigate"],
];
const REMOTE: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 53124 };
const OPTIONS = {};
const INIT = { remoteAddr: REMOTE };
const BODY = { length: null, bytes: null, stream: null };

/** What flup's serveFastCgi writes for examples/hello.ts: the head, the body, END_REQUEST. */
function answer(): Uint8Array {
  const head = "Status: 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n";
  const stdout = new TextEncoder().encode(head + "Hello, world!");
  const out = new Uint8Array(encodedStreamLength(stdout.length) + 16);
  let at = encodeStream(out, 0, RECORD_TYPE.Stdout, 1, stdout);
  at = encodeEndRequest(out, at, 1, 0, 0);
  return out.subarray(0, at);
}
const ANSWER = answer();

/** A Deno.Conn whose reads return the canned answer once per write. */
class CannedConn {
  #owed = 0;
  #waiting: ((count: number) => void) | null = null;
  #target: Uint8Array | null = null;
  readonly remoteAddr = { transport: "unix", path: "" } as Deno.Addr;
  write(bytes: Uint8Array): Promise<number> {
    if (this.#waiting) {
      this.#target!.set(ANSWER);
      const wake = this.#waiting;
      this.#waiting = null;
      wake(ANSWER.length);
    } else this.#owed++;
    return Promise.resolve(bytes.length);
  }
  read(target: Uint8Array): Promise<number | null> {
    if (this.#owed > 0) {
      this.#owed--;
      target.set(ANSWER);
      return Promise.resolve(ANSWER.length);
    }
    return new Promise((resolve) => {
      this.#target = target;
      this.#waiting = resolve;
    });
  }
  close(): void {}
  ref(): void {}
  unref(): void {}
}

const watchdog = new Watchdog(250);
const SETTINGS: ExchangeSettings = {
  keepAlive: true,
  requestTimeout: 60_000,
  readTimeout: 300_000,
  abortTimeout: 2000,
  maxResponseHeadBytes: 65536,
  log: () => {},
  onStderr: () => {},
  watchdog,
};
const connection = new ClientConnection(new CannedConn() as unknown as Deno.Conn);
const release = (): void => {};
/** The connection's send buffer, as the exchange passes it. */
const SEND_BUFFER = connection.sendBuffer;

function makeRequest(): Request {
  return new Request(URL_TEXT, { headers: HEADERS });
}

function params(request: Request): Uint8Array {
  return encodeStart(buildCgiParams(request, null, OPTIONS, INIT), BODY, true, SEND_BUFFER);
}

const decoder = new RecordDecoder();
function decodeAnswer(): Response {
  decoder.push(ANSWER);
  decoder.next();
  const reader = new CgiHeadReader(65536, "fastcgi");
  const rest = reader.push(decoder.content)!;
  decoder.next();
  // As the exchange does: the Response copies the view.
  return createResponse(reader.head!, rest as Uint8Array<ArrayBuffer>);
}

async function exchange(request: Request): Promise<Response> {
  const run = new Exchange(connection, request, SETTINGS, release);
  const { response } = await run.run(
    buildCgiParams(request, null, OPTIONS, INIT),
    BODY,
    Date.now() + 60_000,
    false,
  );
  return response!;
}

const request = makeRequest();
// One check that the answer is what a client should see.
{
  const response = await exchange(request);
  const text = await response.text();
  if (response.status !== 200 || text !== "Hello, world!") throw new Error(`got ${text}`);
}

async function perRequest(label: string, run: () => unknown): Promise<void> {
  const count = 20_000;
  for (let i = 0; i < 2000; i++) await run();
  const start = performance.now();
  for (let i = 0; i < count; i++) await run();
  const us = (performance.now() - start) * 1000 / count;
  console.log(`${label.padEnd(10)} ${us.toFixed(2)} µs/request`);
}

await perRequest("params", () => params(request));
await perRequest("answer", () => decodeAnswer());
await perRequest("exchange", () => exchange(request));

Deno.bench("params: buildCgiParams + BEGIN_REQUEST/PARAMS/STDIN", () => {
  params(request);
});

Deno.bench("answer: STDOUT head + 13-byte body into a Response", () => {
  decodeAnswer();
});

Deno.bench("exchange: one request on a kept connection, in memory", async () => {
  await exchange(request);
});
