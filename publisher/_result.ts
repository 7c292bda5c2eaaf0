// Turns what a published function returned into the Response.

import { escapeHtml } from "./_html.ts";
import type { TransactionState } from "./_transaction.ts";
import { Redirect } from "./redirect.ts";

/** Statuses whose responses carry no body (Fetch's null body statuses). */
const NULL_BODY = new Set([204, 205, 304]);

const encoder = new TextEncoder();

/**
 * The response for `result`: a Response as it is; a Redirect; `undefined`/`null` as an empty
 * body; a string (the default content type); bytes, a Blob or a stream (strings in it are
 * UTF-8 encoded); anything else as JSON.
 */
export function toResponse(
  result: unknown,
  transaction: TransactionState,
  defaultContentType: string,
): Response {
  if (result instanceof Response) return result;
  const parts = transaction.response;
  const headers = new Headers(parts.headers);
  if (result instanceof Redirect) {
    const location = new URL(result.location, transaction.url).href;
    headers.delete("content-length");
    headers.set("location", location);
    headers.set("content-type", "text/html; charset=utf-8");
    const link = escapeHtml(location);
    return new Response(
      `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Redirect</title></head><body><p>See <a href="${link}">${link}</a>.</p></body></html>\n`,
      { status: result.status, headers },
    );
  }
  const init = {
    status: parts.status,
    ...(parts.statusText !== "" ? { statusText: parts.statusText } : {}),
    headers,
  };
  const withType = (type: string): void => {
    if (!headers.has("content-type")) headers.set("content-type", type);
  };
  if (result === undefined || result === null || NULL_BODY.has(parts.status)) {
    return new Response(null, init);
  }
  if (typeof result === "string") {
    withType(defaultContentType);
    return new Response(result, init);
  }
  if (result instanceof Uint8Array || result instanceof ArrayBuffer) {
    withType("application/octet-stream");
    return new Response(result as BodyInit, init);
  }
  if (result instanceof Blob) {
    withType(result.type || "application/octet-stream");
    return new Response(result, init);
  }
  if (result instanceof ReadableStream) {
    withType(defaultContentType);
    return new Response(
      (result as ReadableStream<unknown>).pipeThrough(
        new TransformStream<unknown, Uint8Array>({
          transform(chunk, controller) {
            if (typeof chunk === "string") controller.enqueue(encoder.encode(chunk));
            else if (chunk instanceof Uint8Array) controller.enqueue(chunk);
            else throw new TypeError("Cannot stream a chunk that is neither a string nor bytes");
          },
        }),
      ),
      init,
    );
  }
  const json = JSON.stringify(result);
  if (json === undefined) {
    throw new TypeError(`Cannot send a published function's ${typeof result} as a body`);
  }
  withType("application/json");
  return new Response(json, init);
}
