// Runs serveCgi in memory: the environment, stdin, stdout and stderr are replaced, so a test
// sees exactly what a web server would read from the script.

import { serveCgi } from "../../../server/cgi/server.ts";
import type { CgiServeOptions } from "../../../server/cgi/server.ts";
import type { Handler, LogLevel, ServeModule } from "../../../server/types.ts";

/** A parsed CGI response as a web server reads it from the script's standard output. */
export interface CgiOutput {
  /** The `Status:` code (200 when absent, 0 when nothing was written). */
  status: number;
  /** The `Status:` reason phrase. */
  statusText: string;
  /** Header lines after `Status:`, names as written. */
  headers: [string, string][];
  /** The bytes after the blank line. */
  body: Uint8Array;
  /** Every byte written to stdout. */
  raw: Uint8Array;
  /** The writes as they reached stdout. */
  writes: Uint8Array[];
  /** What reached stderr, as text. */
  stderr: string;
  /** Lines from `log` when the test did not give its own. */
  logs: string[];
}

/** How a test feeds standard input: bytes, a stream, or a stream that must not be read. */
export type TestStdin = Uint8Array | ReadableStream<Uint8Array> | undefined;

/** Options of {@linkcode runCgi}. */
export interface RunOptions extends Omit<CgiServeOptions, "stdin"> {
  stdin?: TestStdin;
  /** Keep serveCgi's default log (to stderr) instead of collecting lines in `logs`. */
  defaultLog?: boolean;
}

/** A stdin that fails the test if anyone reads it. */
export function unreadStdin(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull() {
      throw new Error("standard input was read");
    },
  });
}

/** Chunks as a pull stream that counts how many bytes it handed out. */
export function countingStdin(
  chunks: Uint8Array[],
): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let index = 0;
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[index++];
      if (chunk === undefined) return controller.close();
      pulled += chunk.length;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => pulled };
}

/** Serves one request with `handler` and splits what it wrote. */
export async function runCgi(
  handler: Handler | ServeModule,
  options: RunOptions = {},
): Promise<CgiOutput> {
  const writes: Uint8Array[] = [];
  let stderr = "";
  const errorDecoder = new TextDecoder();
  const logs: string[] = [];
  const { stdin, defaultLog = false, ...rest } = options;
  await serveCgi(handler, {
    ...(defaultLog
      ? {}
      : { log: (level: LogLevel, message: string) => logs.push(`${level}: ${message}`) }),
    ...rest,
    stdin: stdin instanceof Uint8Array ? ReadableStream.from([stdin]) : stdin ?? unreadStdin(),
    stdout: options.stdout ?? new WritableStream({ write: (chunk) => void writes.push(chunk) }),
    stderr: options.stderr ?? new WritableStream({
      write: (chunk) => void (stderr += errorDecoder.decode(chunk, { stream: true })),
    }),
  });
  return { ...parseCgiOutput(concat(writes)), writes, stderr, logs };
}

/** Splits a CGI response into status, headers and body. */
export function parseCgiOutput(
  raw: Uint8Array,
): Pick<CgiOutput, "status" | "statusText" | "headers" | "body" | "raw"> {
  if (raw.length === 0) return { status: 0, statusText: "", headers: [], body: raw, raw };
  const text = new TextDecoder("latin1").decode(raw);
  const split = text.indexOf("\r\n\r\n");
  if (split < 0) throw new Error(`no CGI head in ${JSON.stringify(text.slice(0, 200))}`);
  const lines = text.slice(0, split).split("\r\n");
  const headers = lines.map((line) => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon), line.slice(colon + 1).trim()] as [string, string];
  });
  const statusLine = headers.find(([name]) => name.toLowerCase() === "status")?.[1] ?? "200 OK";
  const space = statusLine.indexOf(" ");
  return {
    status: Number(space < 0 ? statusLine : statusLine.slice(0, space)),
    statusText: space < 0 ? "" : statusLine.slice(space + 1),
    headers: headers.filter(([name]) => name.toLowerCase() !== "status"),
    body: raw.subarray(split + 4),
    raw,
  };
}

/** Joins byte chunks. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** The values of header `name` (case-insensitive). */
export function headerValues(headers: [string, string][], name: string): string[] {
  return headers.filter(([key]) => key.toLowerCase() === name).map(([, value]) => value);
}

/** Apache-like CGI variables for a request to `uri`. */
export function apacheEnv(
  uri: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const [path = "/", query = ""] = uri.split("?");
  return {
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_PROTOCOL: "HTTP/1.1",
    SERVER_SOFTWARE: "Apache/2.4",
    SERVER_NAME: "cgi.test",
    SERVER_PORT: "8080",
    REMOTE_ADDR: "192.0.2.7",
    REMOTE_PORT: "51234",
    REQUEST_METHOD: "GET",
    REQUEST_URI: uri,
    SCRIPT_NAME: "/app.cgi",
    PATH_INFO: decodeURIComponent(path),
    QUERY_STRING: query,
    HTTP_HOST: "cgi.test:8080",
    PATH: "/usr/bin:/bin",
    ...extra,
  };
}
