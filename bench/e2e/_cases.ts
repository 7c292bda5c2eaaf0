// The cases of the end-to-end benchmark: who answers (nginx itself, php-fpm, the floor server,
// a flup server and its flavor), through which front-end configuration, which path.

import { DOWNLOAD_BYTES } from "./app.ts";

/** Bytes each upload request sends: 5 MiB. */
export const UPLOAD_BYTES = 5 * 1024 * 1024;
/** The AJP secret Apache sends and the server requires. */
export const AJP_SECRET = "bench-e2e-secret";
export const PHP_FPM = "/usr/sbin/php-fpm8.2";
/** php-fpm's `pm.max_children` (see _configs.ts). */
export const PHP_CHILDREN = 2;
export const HERE = new URL(".", import.meta.url).pathname;
/** Who answers a case. */
export type Backend =
  | { kind: "none" }
  | { kind: "php" }
  | { kind: "floor" }
  | { kind: "flup"; protocol: "fastcgi" | "scgi" | "ajp"; unix: boolean; flavor: string };

/** One measured line of the table. */
export interface Case {
  id: string;
  label: string;
  backend: Backend;
  /** Which front-end site it goes through. */
  site: SiteName;
  path: string;
  /** Payload per request for MB/s. */
  transfer?: { bytes: number; direction: "download" | "upload" };
}

export type SiteName =
  | "return"
  | "php"
  | "php-keep"
  | "php-stream"
  | "tcp"
  | "tcp-keep"
  | "tcp-stream"
  | "unix"
  | "unix-keep"
  | "scgi"
  | "apache";

const FLUP_TCP = { kind: "flup", protocol: "fastcgi", unix: false, flavor: "inprocess" } as const;
const FLUP_UNIX = { ...FLUP_TCP, unix: true } as const;

export const CASES: Case[] = [
  {
    id: "nginx-return",
    label: "nginx `return 200` (the ceiling)",
    backend: { kind: "none" },
    site: "return",
    path: "/",
  },
  {
    id: "php-fpm",
    label: "php-fpm, FastCGI TCP, per-request connections",
    backend: { kind: "php" },
    site: "php",
    path: "/hello.php",
  },
  {
    id: "php-fpm-keep",
    label: "php-fpm, FastCGI TCP, `fastcgi_keep_conn`",
    backend: { kind: "php" },
    site: "php-keep",
    path: "/hello.php",
  },
  {
    id: "fastcgi-tcp",
    label: "flup FastCGI TCP, per-request connections",
    backend: FLUP_TCP,
    site: "tcp",
    path: "/",
  },
  {
    id: "fastcgi-tcp-keep",
    label: "flup FastCGI TCP, `fastcgi_keep_conn`",
    backend: FLUP_TCP,
    site: "tcp-keep",
    path: "/",
  },
  {
    id: "fastcgi-unix",
    label: "flup FastCGI Unix, per-request connections",
    backend: FLUP_UNIX,
    site: "unix",
    path: "/",
  },
  {
    id: "fastcgi-unix-keep",
    label: "flup FastCGI Unix, `fastcgi_keep_conn`",
    backend: FLUP_UNIX,
    site: "unix-keep",
    path: "/",
  },
  {
    id: "floor-tcp",
    label: "Deno floor (floor_server.ts: canned answer), TCP, per-request connections",
    backend: { kind: "floor" },
    site: "tcp",
    path: "/",
  },
  {
    id: "floor-tcp-keep",
    label: "Deno floor (floor_server.ts: canned answer), TCP, `fastcgi_keep_conn`",
    backend: { kind: "floor" },
    site: "tcp-keep",
    path: "/",
  },
  {
    id: "scgi",
    label: "flup SCGI TCP (nginx `scgi_pass`)",
    backend: { kind: "flup", protocol: "scgi", unix: false, flavor: "inprocess" },
    site: "scgi",
    path: "/",
  },
  {
    id: "ajp",
    label: "flup AJP TCP (Apache `mod_proxy_ajp`, secret)",
    backend: { kind: "flup", protocol: "ajp", unix: false, flavor: "inprocess" },
    site: "apache",
    path: "/",
  },
  {
    id: "thread",
    label: "flup thread pool, 2 workers (FastCGI TCP, keep_conn)",
    backend: { ...FLUP_TCP, flavor: "thread" },
    site: "tcp-keep",
    path: "/",
  },
  {
    id: "fork",
    label: "flup fork pool, 2 workers (FastCGI TCP, keep_conn)",
    backend: { ...FLUP_TCP, flavor: "fork" },
    site: "tcp-keep",
    path: "/",
  },
  {
    id: "download",
    label: "flup 10 MiB download (FastCGI TCP, keep_conn)",
    backend: FLUP_TCP,
    site: "tcp-keep",
    path: "/download",
    transfer: { bytes: DOWNLOAD_BYTES, direction: "download" },
  },
  {
    id: "php-fpm-download",
    label: "php-fpm 10 MiB download (FastCGI TCP)",
    backend: { kind: "php" },
    site: "php",
    path: "/download.php",
    transfer: { bytes: DOWNLOAD_BYTES, direction: "download" },
  },
  {
    id: "upload",
    label: "flup 5 MiB upload (FastCGI TCP, keep_conn, streamed)",
    backend: FLUP_TCP,
    site: "tcp-stream",
    path: "/upload",
    transfer: { bytes: UPLOAD_BYTES, direction: "upload" },
  },
  {
    id: "php-fpm-upload",
    label: "php-fpm 5 MiB upload (FastCGI TCP, streamed)",
    backend: { kind: "php" },
    site: "php-stream",
    path: "/upload.php",
    transfer: { bytes: UPLOAD_BYTES, direction: "upload" },
  },
];
