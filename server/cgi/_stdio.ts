// The CGI process's standard output (the response) and standard error (the web server's
// error log), over WritableStreams so tests can replace them.

import type { ResponseSink } from "../_respond.ts";
import { textEncoder } from "../_text.ts";

/** Standard output as a response sink: chunks queued by `write` go out in one write per flush. */
export class StdoutSink implements ResponseSink {
  #stream: WritableStream<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #chunks: Uint8Array[] = [];
  #pending = 0;

  constructor(stream: WritableStream<Uint8Array>) {
    this.#stream = stream;
  }

  get pending(): number {
    return this.#pending;
  }

  write(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#pending += chunk.length;
  }

  /** Writes what is queued; rejects when the stream is broken (the web server closed it). */
  async flush(): Promise<void> {
    if (this.#pending === 0) return;
    let bytes: Uint8Array;
    if (this.#chunks.length === 1) bytes = this.#chunks[0]!;
    else {
      bytes = new Uint8Array(this.#pending);
      let at = 0;
      for (const chunk of this.#chunks) {
        bytes.set(chunk, at);
        at += chunk.length;
      }
    }
    this.#chunks.length = 0;
    this.#pending = 0;
    this.#writer ??= this.#stream.getWriter();
    await this.#writer.write(bytes);
  }

  /** Lets go of the stream without closing it (closing fd 1 would let a later file take it). */
  release(): void {
    this.#writer?.releaseLock();
    this.#writer = null;
  }
}

/** Fire-and-forget writes in order, for logs; failures are dropped (nowhere to report them). */
export class StdioWriter {
  #stream: WritableStream<Uint8Array>;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #tail: Promise<void> = Promise.resolve();

  constructor(stream: WritableStream<Uint8Array>) {
    this.#stream = stream;
  }

  /** Queues `message` (text is written as UTF-8). */
  write(message: string | Uint8Array): void {
    const bytes = typeof message === "string" ? textEncoder.encode(message) : message;
    if (bytes.length === 0) return;
    let writer = this.#writer;
    if (writer === null) {
      try {
        writer = this.#writer = this.#stream.getWriter();
      } catch {
        return; // locked by someone else: drop the line rather than fail the request
      }
    }
    const current = writer;
    this.#tail = this.#tail.then(() => current.write(bytes)).catch(() => {});
  }

  /** Waits for queued writes, then lets go of the stream without closing it. */
  async release(): Promise<void> {
    await this.#tail;
    this.#writer?.releaseLock();
    this.#writer = null;
  }
}
