/**
 * {@linkcode gzip}: compresses responses with gzip or deflate when the client accepts it,
 * streaming through `CompressionStream`.
 *
 * @example Compress a large text response
 * ```ts
 * import { gzip } from "@flup/flup/middleware";
 * import { assertEquals } from "@std/assert";
 *
 * const handler = gzip()(() => new Response("a".repeat(5000), { headers: { "content-type": "text/plain" } }));
 * const request = new Request("http://localhost/", { headers: { "accept-encoding": "gzip" } });
 * const response = await handler(request, {} as Parameters<typeof handler>[1]);
 * assertEquals(response.headers.get("content-encoding"), "gzip");
 * const text = await new Response(response.body?.pipeThrough(new DecompressionStream("gzip"))).text();
 * assertEquals(text.length, 5000);
 * ```
 *
 * @module
 */

import type { Handler } from "../server/types.ts";
import { chooseEncoding } from "./_accept_encoding.ts";
import { checkInteger } from "./_log.ts";
import { appendToken, editHeaders } from "./_response.ts";
import type { Middleware } from "./types.ts";

/** A coding {@linkcode gzip} can apply. */
export type ContentCoding = "gzip" | "deflate";

/** Media types compressed by default. */
export const DEFAULT_COMPRESSIBLE_TYPES: readonly string[] = [
  "text/*",
  "application/json",
  "application/javascript",
  "application/xml",
  "application/wasm",
  "image/svg+xml",
  "+json",
  "+xml",
];

/** Options of {@linkcode gzip}. */
export interface GzipOptions {
  /**
   * The codings offered, in the server's order of preference (used when the client weighs
   * two alike). `"deflate"` is the zlib format, as HTTP defines it.
   *
   * @default {["gzip", "deflate"]}
   */
  encodings?: readonly ContentCoding[];
  /**
   * Bodies smaller than this many bytes are sent as they are. The size is known from
   * `Content-Length`, or from a body that is already complete in memory (a string or bytes);
   * a streamed body of unknown size is compressed.
   *
   * @default {1024}
   */
  minSize?: number;
  /**
   * Media types to compress: `"type/subtype"`, `"type/*"`, or a structured-syntax suffix
   * such as `"+json"` (matches `application/ld+json`). Responses without a `Content-Type`
   * are not compressed.
   *
   * @default {DEFAULT_COMPRESSIBLE_TYPES}
   */
  contentTypes?: readonly string[];
}

/**
 * The compression middleware. Always adds `Vary: Accept-Encoding` (the answer depends on it,
 * for caches); compresses when the client accepts one of `encodings` with a weight above 0
 * (`gzip;q=0` means no), the media type is in `contentTypes` and the body is at least
 * `minSize` bytes. Never compresses: HEAD requests, 1xx, 204, 206 and 304 answers, bodies
 * already encoded (`Content-Encoding`), or `Cache-Control: no-transform`.
 *
 * A compressed answer loses `Content-Length` and `Accept-Ranges`, and a strong `ETag` turns
 * weak. The body streams through `CompressionStream`, which flushes every chunk: streamed
 * answers (progress output, server-sent events) still reach the client as produced.
 *
 * @param options Codings, size threshold and media types.
 * @returns The middleware.
 * @throws {TypeError} When an encoding is not `"gzip"` or `"deflate"`.
 * @throws {RangeError} When `minSize` is negative or not whole.
 *
 * @example Prefer deflate, compress everything textual from 1 byte
 * ```ts
 * import { gzip } from "@flup/flup/middleware";
 *
 * const middleware = gzip({ encodings: ["deflate", "gzip"], minSize: 1 });
 * ```
 */
export function gzip(options: GzipOptions = {}): Middleware {
  const encodings = [...(options.encodings ?? ["gzip", "deflate"])];
  for (const encoding of encodings) {
    if (encoding !== "gzip" && encoding !== "deflate") {
      throw new TypeError(`Cannot compress with "${encoding}": use "gzip" or "deflate"`);
    }
  }
  const minSize = checkInteger("minSize", options.minSize ?? 1024, 0, Number.MAX_SAFE_INTEGER);
  const types = (options.contentTypes ?? DEFAULT_COMPRESSIBLE_TYPES).map((type) =>
    type.toLowerCase()
  );

  const compressible = (contentType: string | null): boolean => {
    if (contentType === null) return false;
    const media = (contentType.split(";")[0] ?? "").trim().toLowerCase();
    return types.some((type) =>
      type.startsWith("+")
        ? media.endsWith(type)
        : type.endsWith("/*")
        ? media.startsWith(type.slice(0, -1))
        : media === type
    );
  };

  return function gzipMiddleware(next: Handler): Handler {
    return async function gzipHandler(request, info) {
      const response = await next(request, info);
      const status = response.status;
      const encoding = chooseEncoding(request.headers.get("accept-encoding"), encodings) as
        | ContentCoding
        | null;
      const length = response.headers.get("content-length");
      const skip = encoding === null || request.method === "HEAD" || response.body === null ||
        status < 200 || status === 204 || status === 206 || status === 304 ||
        response.headers.has("content-encoding") ||
        /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(response.headers.get("cache-control") ?? "") ||
        !compressible(response.headers.get("content-type")) ||
        (length !== null && Number(length) < minSize);
      if (skip || encoding === null || response.body === null) {
        return editHeaders(response, (headers) => appendToken(headers, "vary", "Accept-Encoding"));
      }
      const peeked = await peek(response.body, length === null ? minSize : 0);
      const headers = new Headers(response.headers);
      appendToken(headers, "vary", "Accept-Encoding");
      if (peeked.small !== null) {
        return new Response(peeked.small, {
          status,
          statusText: response.statusText,
          headers,
        });
      }
      headers.delete("content-length");
      headers.delete("accept-ranges");
      headers.set("content-encoding", encoding);
      const etag = headers.get("etag");
      if (etag !== null && !etag.startsWith("W/")) headers.set("etag", `W/${etag}`);
      return new Response(peeked.stream.pipeThrough(new CompressionStream(encoding)), {
        status,
        statusText: response.statusText,
        headers,
      });
    };
  };
}

/** A body after {@linkcode peek}: complete and small, or a stream to compress. */
type Peeked = { small: Uint8Array<ArrayBuffer>; stream: null } | {
  small: null;
  stream: ReadableStream<Uint8Array<ArrayBuffer>>;
};

/**
 * Reads what of `body` is available at once, up to `minSize` bytes: a body that ends before
 * `minSize` comes back whole (not worth compressing); otherwise a stream that replays what
 * was read and continues with the rest. A chunk that is not ready before the next macrotask
 * marks a streamed body, compressed without waiting for more.
 */
async function peek(
  body: ReadableStream<Uint8Array<ArrayBuffer>>,
  minSize: number,
): Promise<Peeked> {
  const reader = body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  let pending: Promise<ReadableStreamReadResult<Uint8Array<ArrayBuffer>>> | undefined;
  while (size < minSize) {
    const read = reader.read();
    const result = chunks.length === 0 ? await read : await raceMacrotask(read);
    if (result === null) {
      pending = read;
      break;
    }
    if (result.done) {
      const whole = new Uint8Array(size);
      let offset = 0;
      for (const chunk of chunks) {
        whole.set(chunk, offset);
        offset += chunk.length;
      }
      return { small: whole, stream: null };
    }
    chunks.push(result.value);
    size += result.value.length;
  }
  const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      const chunk = chunks.shift();
      if (chunk !== undefined) {
        controller.enqueue(chunk);
        return;
      }
      const result = await (pending ?? reader.read());
      pending = undefined;
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  });
  return { small: null, stream };
}

/** Resolves with `promise`'s value if it settles before the next macrotask, else `null`. */
async function raceMacrotask<T>(promise: Promise<T>): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const later = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), 0);
  });
  try {
    return await Promise.race([promise, later]);
  } finally {
    clearTimeout(timer);
  }
}
