// Runs the SCGI connection engine over an in-memory connection pair, and reads its answers.

import { resolveOptions } from "../../../server/_options.ts";
import { serveScgiConnection } from "../../../server/scgi/_connection.ts";
import { encodeScgiHeaders } from "../../../server/scgi/netstring.ts";
import type { GatewayOptions, Handler, LogLevel } from "../../../server/types.ts";
import type { ConnectionSlot } from "../../../server/_listen.ts";
import { memoryConnPair, type MemoryPeer } from "../../_helpers/memory_conn.ts";

/** Options of {@linkcode openConnection}. */
export interface HarnessOptions extends GatewayOptions {
  overloaded?: boolean;
  scriptName?: string;
}

/** A served memory connection and the log lines it produced. */
export interface Harness {
  peer: MemoryPeer;
  slot: ConnectionSlot;
  logs: string[];
}

/** Serves `handler` on a fresh memory connection. */
export function openConnection(handler: Handler, options: HarnessOptions = {}): Harness {
  const logs: string[] = [];
  const resolved = resolveOptions({
    ...options,
    log: (level: LogLevel, message: string) => logs.push(`${level}: ${message}`),
  });
  const [conn, peer] = memoryConnPair();
  const slot = serveScgiConnection(conn, options.overloaded ?? false, {
    handler,
    options: resolved,
    scriptName: options.scriptName,
  });
  return { peer, slot, logs };
}

/** What nginx sends with its stock scgi_params for `GET uri`, plus `extra` pairs. */
export function nginxPairs(
  uri: string,
  extra: Record<string, string> = {},
  contentLength = 0,
): [string, string][] {
  const query = uri.includes("?") ? uri.slice(uri.indexOf("?") + 1) : "";
  const pairs: Record<string, string> = {
    REQUEST_METHOD: "GET",
    REQUEST_URI: uri,
    QUERY_STRING: query,
    CONTENT_TYPE: "",
    DOCUMENT_URI: uri.split("?")[0]!,
    DOCUMENT_ROOT: "/srv",
    SCGI: "1",
    SERVER_PROTOCOL: "HTTP/1.1",
    REQUEST_SCHEME: "http",
    REMOTE_ADDR: "192.0.2.7",
    REMOTE_PORT: "51234",
    SERVER_PORT: "8080",
    SERVER_NAME: "example.test",
    HTTP_HOST: "example.test:8080",
    ...extra,
  };
  return [["CONTENT_LENGTH", String(contentLength)], ...Object.entries(pairs)];
}

/** A whole SCGI request: header block for `uri` and the body. */
export function scgiRequest(
  uri: string,
  extra: Record<string, string> = {},
  body: Uint8Array | string = new Uint8Array(0),
): Uint8Array {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const header = encodeScgiHeaders(nginxPairs(uri, extra, bytes.length));
  const out = new Uint8Array(header.length + bytes.length);
  out.set(header);
  out.set(bytes, header.length);
  return out;
}

/** A CGI-style answer split into status, headers and body. */
export interface CgiAnswer {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

/** Splits a CGI-style response (`Status:` line, headers, blank line, body). */
export function parseCgiAnswer(bytes: Uint8Array): CgiAnswer {
  const text = new TextDecoder("latin1").decode(bytes);
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) throw new Error(`no head in ${JSON.stringify(text.slice(0, 200))}`);
  const headers = text.slice(0, split).split("\r\n").map((line): [string, string] => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const status = Number(headers.find(([name]) => name === "status")?.[1].split(" ")[0] ?? 0);
  return { status, headers, body: bytes.subarray(split + 4) };
}

/** Waits for the server to close the connection, then parses what it wrote. */
export async function answerOf(peer: MemoryPeer): Promise<CgiAnswer> {
  await peer.closed;
  return parseCgiAnswer(peer.received());
}

/** Lets pending I/O settle: resolves once `consumed` stops changing for 20 macrotask turns. */
export async function settle(peer: MemoryPeer): Promise<void> {
  let last = -1;
  let still = 0;
  for (let turns = 0; turns < 10_000 && still < 20; turns++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (peer.consumed === last) still++;
    else {
      still = 0;
      last = peer.consumed;
    }
  }
}
