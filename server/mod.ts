/**
 * The gateway servers and their shared contract.
 *
 * @example Serve over FastCGI
 * ```ts
 * import { serveFastCgi } from "@flup/flup";
 *
 * const server = serveFastCgi(() => new Response("hi"), { port: 0 });
 * await server.ready;
 * await server.shutdown();
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export { serveFastCgi } from "./fastcgi/server.ts";
export type { FastCgiServeOptions } from "./fastcgi/server.ts";
export { serveScgi } from "./scgi/server.ts";
export type { ScgiServeOptions } from "./scgi/server.ts";
export { serveAjp } from "./ajp/server.ts";
export type { AjpServeOptions } from "./ajp/server.ts";
export { serveCgi, shouldServeCgi } from "./cgi/server.ts";
export type { CgiServeOptions } from "./cgi/server.ts";
export { serveThreads } from "./thread.ts";
export type { PoolOptions, PoolProtocol, PoolServer, ThreadPoolOptions } from "./thread.ts";
export { FORK_CHILD_FLAG, serveForks } from "./fork.ts";
export type { ForkPoolOptions } from "./fork.ts";
export { FastCgiClient, fastCgiFetch } from "./fastcgi/client.ts";
export type {
  CgiParamsOptions,
  ClientAddress,
  ClientRequestInit,
  FastCgiClientOptions,
  FastCgiClientStats,
} from "./fastcgi/client.ts";
export { ScgiClient, scgiFetch } from "./scgi/client.ts";
export type { ScgiClientOptions, ScgiClientStats } from "./scgi/client.ts";
export { createProxyHandler } from "./proxy.ts";
export type { ProxyClient, ProxyHandler, ProxyHandlerInfo, ProxyHandlerOptions } from "./proxy.ts";
export { loadApp, startDev } from "./dev.ts";
export type { DevOptions, DevServer } from "./dev.ts";
