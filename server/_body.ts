// The request body as a ReadableStream fed by a protocol reader, with bounded read-ahead.

/**
 * Bridges a protocol reader to `request.body`. The reader `push`es owned chunks; when the
 * queued bytes reach the high-water mark `push` returns `false` and the reader waits on
 * `drained()` before it reads more from the socket. So the server reads no further ahead of
 * the handler than `highWaterMark` bytes (plus one record or read).
 */
export class BodyQueue {
  /** The stream handed to `Request`. */
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #drained: (() => void) | null = null;
  #closed = false;
  #cancelled = false;
  #received = 0;

  #highWaterMark: number;

  constructor(highWaterMark: number) {
    this.#highWaterMark = highWaterMark;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#wake(),
      cancel: () => {
        this.#cancelled = true;
        this.#closed = true;
        this.#wake();
      },
    }, { highWaterMark, size: (chunk) => chunk.byteLength });
  }

  /** Bytes queued and not yet read by the handler. */
  get queuedBytes(): number {
    if (this.#closed) return 0;
    return Math.max(0, this.#highWaterMark - (this.#controller.desiredSize ?? 0));
  }

  /** Bytes pushed so far. */
  get received(): number {
    return this.#received;
  }

  /** `true` once closed, errored or cancelled: further input is discarded. */
  get closed(): boolean {
    return this.#closed;
  }

  /** `true` when the handler cancelled the body (it does not want more). */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * Queues an owned chunk.
   *
   * @returns `false` when the reader should wait for `drained()` before reading more.
   */
  push(chunk: Uint8Array): boolean {
    this.#received += chunk.byteLength;
    if (this.#closed) return true;
    this.#controller.enqueue(chunk);
    return (this.#controller.desiredSize ?? 0) > 0;
  }

  /** Resolves when the handler has read below the high-water mark, or the body was cancelled. */
  drained(): Promise<void> {
    if (this.#closed || (this.#controller.desiredSize ?? 0) > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = resolve;
    });
  }

  /** Ends the body normally. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.close();
    this.#wake();
  }

  /** Ends the body with an error the handler sees on its next read. */
  error(reason: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.error(reason);
    this.#wake();
  }

  #wake(): void {
    const resolve = this.#drained;
    this.#drained = null;
    resolve?.();
  }
}
