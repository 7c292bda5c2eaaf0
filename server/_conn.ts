// The connection shape the protocol servers read and write: a Deno.Conn, or a node:net socket
// adapted to it (only the inherited fd 0 listener needs node:net).

import type { Socket } from "node:net";

/** What a protocol server needs of a connection; `Deno.Conn` has it as is. */
export interface GatewayConn {
  /** The peer (the front end). */
  readonly remoteAddr: Deno.Addr;
  /** Reads into `p`; `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; returns how much. */
  write(p: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
  /** Shuts down the sending direction (the peer reads end of stream); reads go on. */
  closeWrite?(): void | Promise<void>;
}

/** Writes all of `bytes`. */
export async function writeAll(conn: GatewayConn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

const HIGH_WATER = 65536;

/**
 * A node:net socket as a {@linkcode GatewayConn}: reads pull from a bounded queue (the socket
 * is paused past 64 KiB), writes resolve when node has handed the bytes to the kernel.
 */
export class NodeSocketConn implements GatewayConn {
  readonly remoteAddr: Deno.Addr;
  #socket: Socket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.remoteAddr = socket.remoteAddress
      ? { transport: "tcp", hostname: socket.remoteAddress, port: socket.remotePort ?? 0 }
      : { transport: "unix", path: "" };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= HIGH_WATER) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let copied = 0;
    while (copied < p.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length, p.length - copied);
      p.set(chunk.subarray(0, take), copied);
      copied += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#buffered -= copied;
    if (this.#buffered < HIGH_WATER / 4 && this.#socket.isPaused()) this.#socket.resume();
    return copied;
  }

  write(p: Uint8Array): Promise<number> {
    // node keeps a reference until written: hand it a copy, since callers reuse buffers.
    const copy = p.slice();
    return new Promise((resolve, reject) => {
      this.#socket.write(copy, (error?: Error | null) => error ? reject(error) : resolve(p.length));
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  closeWrite(): void {
    this.#socket.end();
  }
}
