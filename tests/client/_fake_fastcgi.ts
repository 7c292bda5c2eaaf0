// A scripted FastCGI backend for client tests that need exact bytes: canned CGI heads, silence,
// a closed kept connection, and a log of every record type the client sent. Built on the pure
// codecs; listens on 127.0.0.1, port 0.

import {
  decodeBeginRequestBody,
  encodedStreamLength,
  encodeEndRequest,
  encodeStream,
  FLAG,
  ParamsDecoder,
  RECORD_TYPE,
  RecordDecoder,
} from "../../server/fastcgi/mod.ts";

/** One request as the fake backend received it. */
export interface FakeRequest {
  /** The params. */
  env: Record<string, string>;
  /** The STDIN bytes (complete before the script runs). */
  stdin: Uint8Array;
  /** The connection's number (0 for the first accepted). */
  connection: number;
  /** The request's number on its connection (0 for the first). */
  index: number;
  /** FCGI_KEEP_CONN was set. */
  keepConn: boolean;
}

/** What a script can do with its connection. */
export interface FakeIo {
  /** Sends STDOUT (a string is Latin-1/UTF-8 encoded as TextEncoder does). */
  stdout(data: string | Uint8Array): Promise<void>;
  /** Sends STDERR. */
  stderr(text: string): Promise<void>;
  /** Sends the empty STDOUT and END_REQUEST. */
  end(protocolStatus?: number): Promise<void>;
  /** Closes the connection without a word. */
  close(): void;
  /** Resolves when FCGI_ABORT_REQUEST arrives for the request. */
  aborted: Promise<void>;
}

/** Answers one request. */
export type FakeScript = (request: FakeRequest, io: FakeIo) => Promise<void> | void;

/** A running fake backend. */
export interface FakeBackend {
  /** `127.0.0.1:PORT`. */
  address: string;
  /** Record types received, in order, over all connections. */
  records: number[];
  /** Connections accepted so far. */
  accepted(): number;
  /** Resolves when connection `n` (0-based) has been closed by either side. */
  closed(n: number): Promise<void>;
  /** Stops listening and closes every connection. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();

/** Starts a fake backend that runs `script` for every request. */
export function startFakeBackend(script: FakeScript): FakeBackend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const records: number[] = [];
  const conns = new Set<Deno.Conn>();
  const closings: PromiseWithResolvers<void>[] = [];
  const closing = (n: number): PromiseWithResolvers<void> =>
    closings[n] ??= Promise.withResolvers<void>();
  const tasks: Promise<void>[] = [];
  let count = 0;

  async function serve(conn: Deno.Conn, number: number): Promise<void> {
    const decoder = new RecordDecoder();
    let params = new ParamsDecoder();
    let env: Record<string, string> | null = null;
    let stdin: Uint8Array[] = [];
    let keepConn = false;
    let index = 0;
    let abort = Promise.withResolvers<void>();
    let open = true;
    const write = async (bytes: Uint8Array): Promise<void> => {
      if (!open) return;
      let at = 0;
      while (at < bytes.length) at += await conn.write(bytes.subarray(at));
    };
    const stream = (type: number, id: number, data: Uint8Array): Uint8Array => {
      const out = new Uint8Array(encodedStreamLength(data.length));
      encodeStream(out, 0, type, id, data);
      return out;
    };
    const close = (): void => {
      if (!open) return;
      open = false;
      conns.delete(conn);
      conn.close();
    };
    try {
      const buffer = new Uint8Array(65536);
      while (open) {
        const read = await conn.read(buffer).catch(() => null);
        if (read === null) break;
        decoder.push(buffer.subarray(0, read));
        while (decoder.next()) {
          const { type, requestId, content } = decoder;
          records.push(type);
          if (type === RECORD_TYPE.BeginRequest) {
            keepConn = (decodeBeginRequestBody(content).flags & FLAG.KeepConn) !== 0;
            params = new ParamsDecoder();
            env = null;
            stdin = [];
            abort = Promise.withResolvers<void>();
          } else if (type === RECORD_TYPE.Params) {
            if (content.length > 0) params.push(content);
            else {
              const pairs = params.finish();
              env = {};
              for (let i = 0; i < pairs.length; i += 2) env[pairs[i]!] = pairs[i + 1]!;
            }
          } else if (type === RECORD_TYPE.AbortRequest) {
            abort.resolve();
          } else if (type === RECORD_TYPE.Stdin) {
            if (content.length > 0) stdin.push(content.slice());
            else {
              const total = stdin.reduce((sum, chunk) => sum + chunk.length, 0);
              const body = new Uint8Array(total);
              let at = 0;
              for (const chunk of stdin) {
                body.set(chunk, at);
                at += chunk.length;
              }
              const id = requestId;
              const request: FakeRequest = {
                env: env ?? {},
                stdin: body,
                connection: number,
                index: index++,
                keepConn,
              };
              const io: FakeIo = {
                stdout: (data) =>
                  write(stream(
                    RECORD_TYPE.Stdout,
                    id,
                    typeof data === "string" ? encoder.encode(data) : data,
                  )),
                stderr: (text) => write(stream(RECORD_TYPE.Stderr, id, encoder.encode(text))),
                end: async (protocolStatus = 0) => {
                  const out = new Uint8Array(8 + 16);
                  out.set(stream(RECORD_TYPE.Stdout, id, new Uint8Array(0)));
                  encodeEndRequest(out, 8, id, 0, protocolStatus);
                  await write(out);
                  if (!keepConn) close();
                },
                close,
                aborted: abort.promise,
              };
              // Scripts run alongside the reader, so an ABORT_REQUEST can still arrive.
              tasks.push(Promise.resolve(script(request, io)).catch(() => close()));
            }
          }
        }
      }
    } finally {
      close();
      closing(number).resolve();
    }
  }

  const acceptLoop = (async () => {
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      conns.add(conn);
      tasks.push(serve(conn, count++));
    }
  })();

  return {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    records,
    accepted: () => count,
    closed: (n) => closing(n).promise,
    async stop() {
      listener.close();
      await acceptLoop;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      conns.clear();
      await Promise.allSettled(tasks);
    },
  };
}
