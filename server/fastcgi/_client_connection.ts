// One connection of the FastCGI client to its backend: one receive buffer (the record decoder)
// with at most one read in flight, serialized writes, and a watch while it idles in the pool
// (a backend that closes an idle kept connection is noticed at once, not on the next request).

import { writeAll } from "../_conn.ts";
import { RecordDecoder } from "./record.ts";
import type { Watchdog, Watched } from "../_client_watchdog.ts";

const READ_SIZE = 16384;
/** Bytes of the buffer a request's first write is encoded into (larger ones get their own). */
const SEND_BUFFER_SIZE = 8192;

/** A connection to a FastCGI backend. */
export class ClientConnection implements Watched {
  /** The decoder over this connection's receive buffer. */
  readonly decoder: RecordDecoder = new RecordDecoder({ initialBufferSize: 32768 });
  /** Requests this connection has carried. */
  requests = 0;
  /** When an idle connection is closed (ms since the epoch); watched by the pool's watchdog. */
  deadline = Infinity;
  #conn: Deno.Conn;
  #sendBuffer: Uint8Array | null = null;
  #pending: Promise<number | null> | null = null;
  #readError: unknown = null;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #idle = false;
  #onIdleEnd: ((connection: ClientConnection) => void) | null = null;
  #watchdog: Watchdog | null = null;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * A buffer for a request's first write (BEGIN_REQUEST, PARAMS, a small STDIN), reused by
   * every request of the connection: one request at a time, and its write completes before the
   * request ends. A new ArrayBuffer per request costs more than encoding the params.
   */
  get sendBuffer(): Uint8Array {
    return this.#sendBuffer ??= new Uint8Array(SEND_BUFFER_SIZE);
  }

  /** `true` once closed (by us, or the backend while idle). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The error of the last failed read, if any. */
  get readError(): unknown {
    return this.#readError;
  }

  /**
   * Reads more bytes into the decoder; the one read in flight is shared by every caller.
   *
   * @returns Bytes read, or `null` at end of stream or on a read error (see `readError`).
   */
  readMore(): Promise<number | null> {
    if (this.#pending) return this.#pending;
    if (this.#closed) return Promise.resolve(null);
    const view = this.decoder.writable(READ_SIZE);
    this.#pending = this.#conn.read(view).then((count) => {
      this.#pending = null;
      if (count !== null) this.decoder.commit(count);
      return count;
    }, (error) => {
      this.#pending = null;
      this.#readError = error;
      return null;
    });
    return this.#pending;
  }

  /**
   * Decodes the next whole record, reading as needed.
   *
   * @returns `true` with the record in `decoder`, `false` at end of stream.
   */
  async nextRecord(): Promise<boolean> {
    while (!this.decoder.next()) {
      if (await this.readMore() === null) return false;
    }
    return true;
  }

  /** Writes `bytes` after every earlier write. */
  write(bytes: Uint8Array): Promise<void> {
    const done = this.#writing.then(() => writeAll(this.#conn, bytes));
    this.#writing = done.catch(() => {});
    return done;
  }

  /**
   * Parks the connection in the pool: a read stays in flight, so a close by the backend (or
   * any byte, which an idle FastCGI connection must not get) ends it and calls `onEnd`, and
   * `idleTimeout` closes it too.
   */
  park(
    idleTimeout: number,
    watchdog: Watchdog,
    onEnd: (connection: ClientConnection) => void,
  ): void {
    this.#idle = true;
    this.#onIdleEnd = onEnd;
    this.deadline = Date.now() + idleTimeout;
    this.#watchdog = watchdog;
    watchdog.add(this);
    // A parked connection must not keep the process alive.
    this.#conn.unref();
    this.readMore().then(() => {
      if (this.#idle) this.#endIdle();
    });
  }

  /** Takes the connection out of the pool for a request. */
  unpark(): void {
    if (!this.#idle) return;
    this.#idle = false;
    this.#onIdleEnd = null;
    this.#watchdog?.delete(this);
    this.#watchdog = null;
    this.#conn.ref();
  }

  /** The idle deadline passed (the watchdog calls this). */
  expire(): void {
    if (this.#idle) this.#endIdle();
  }

  #endIdle(): void {
    const onEnd = this.#onIdleEnd;
    this.unpark();
    this.close();
    onEnd?.(this);
  }

  /** Closes the connection (a read in flight then ends with `null`). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchdog?.delete(this);
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}
