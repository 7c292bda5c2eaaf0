/**
 * {@linkcode Resolver}: how the publisher maps a URL path to a function. Four come with it:
 * `moduleResolver`, `objectPathResolver`, `functionResolver` and `importingModuleResolver`.
 *
 * @example A resolver of your own: one function per HTTP path, from a Map
 * ```ts
 * import type { Endpoint, Resolver } from "@flup/flup/publisher";
 *
 * const routes = new Map<string, Endpoint>([["about", () => "<p>About us</p>"]]);
 * const resolver: Resolver = {
 *   resolve(segments) {
 *     const endpoint = routes.get(segments[0] ?? "");
 *     return endpoint ? { endpoint, consumed: 1 } : null;
 *   },
 * };
 * ```
 *
 * @module
 */

import type { Transaction } from "./transaction.ts";

/** The named arguments the publisher passes, as declared with `expose()`. */
export type EndpointArgs = { readonly [name: string]: string | string[] | File | undefined };

/**
 * A published function: gets the transaction (and, when declared with `expose()`, the named
 * arguments) and returns the body: a string (HTML by default), bytes, a stream, a `Response`,
 * a `Redirect` or `InternalRedirect`, `undefined` (empty body) or anything else as JSON.
 *
 * @param transaction The request, response, form and session.
 * @param args The declared form fields.
 * @returns The body, or a promise of it.
 */
export type Endpoint = (transaction: Transaction, args: EndpointArgs) => unknown;

/** What a resolver found. */
export interface Resolved {
  /** The function to call. */
  endpoint: Endpoint;
  /** How many path segments named it; the rest becomes `transaction.pathInfo`. */
  consumed: number;
}

/** Maps a request path to a published function. */
export interface Resolver {
  /**
   * Finds the function for a path.
   *
   * @param segments The path split on `/` and percent-decoded, without the leading empty
   *   segment: `/` is `[]`, `/a/b` is `["a", "b"]`, `/a/` is `["a", ""]`.
   * @returns The function and how many segments it used, or `null` (404).
   */
  resolve(segments: readonly string[]): Resolved | null | Promise<Resolved | null>;
}
