// The floor of the end-to-end benchmark: the least a Deno program can do to answer nginx over
// FastCGI. It walks the record headers only (no params decoding, no Request or Response, no
// streams), answers every request with the same canned "Hello, world!" records in one write,
// and closes the connection after it unless FCGI_KEEP_CONN was set. It shows what the
// runtime's own I/O costs per request, so flup's rows can be read against it. Not a server
// anyone should run.
//
//   deno run --allow-net bench/e2e/floor_server.ts HOST:PORT

const address = Deno.args[0] ?? "127.0.0.1:9000";
const colon = address.lastIndexOf(":");
const listener = Deno.listen({
  hostname: address.slice(0, colon),
  port: Number(address.slice(colon + 1)),
});

const BODY = "Status: 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\r\nHello, world!\n";
const STDOUT = 6;
const STDIN = 5;
const BEGIN_REQUEST = 1;
const END_REQUEST = 3;

/** STDOUT with the answer, the empty STDOUT and END_REQUEST, for request id 1. */
function cannedAnswer(): Uint8Array {
  const padding = (8 - (BODY.length % 8)) % 8;
  const out = new Uint8Array(8 + BODY.length + padding + 8 + 16);
  out.set([1, STDOUT, 0, 1, BODY.length >> 8, BODY.length & 0xff, padding, 0]);
  for (let i = 0; i < BODY.length; i++) out[8 + i] = BODY.charCodeAt(i);
  let at = 8 + BODY.length + padding;
  out.set([1, STDOUT, 0, 1, 0, 0, 0, 0], at);
  at += 8;
  out.set([1, END_REQUEST, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], at);
  return out;
}
const ANSWER = cannedAnswer();

async function serve(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(65536 + 16);
  let end = 0;
  let keepConn = false;
  try {
    while (true) {
      const n = await conn.read(buffer.subarray(end));
      if (n === null) return;
      end += n;
      let at = 0;
      while (end - at >= 8) {
        const length = (buffer[at + 4]! << 8) | buffer[at + 5]!;
        const total = 8 + length + buffer[at + 6]!;
        if (end - at < total) break;
        const type = buffer[at + 1]!;
        if (type === BEGIN_REQUEST) keepConn = (buffer[at + 10]! & 1) === 1;
        if (type === STDIN && length === 0) {
          // The canned answer carries request id 1, which is what nginx sends.
          let written = 0;
          while (written < ANSWER.length) written += await conn.write(ANSWER.subarray(written));
          if (!keepConn) return;
        }
        at += total;
      }
      buffer.copyWithin(0, at, end);
      end -= at;
    }
  } catch {
    // The front end went away.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

const stop = () => listener.close();
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
try {
  for await (const conn of listener) {
    conn.setNoDelay(true);
    serve(conn);
  }
} catch {
  // Closed.
}
Deno.exit(0);
