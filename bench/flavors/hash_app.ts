// The CPU-bound benchmark app: about 2 ms of SHA-256 hashing per request (a fixed amount of
// work, so a busy core does not shorten it), then a small text answer.

import { createHash } from "node:crypto";

/** Rounds of hashing 1 KiB; about 2 ms on the benchmark machine (see README.md). */
export const ROUNDS = 1280;

const block = new Uint8Array(1024).fill(7);

/** Does the per-request work; returns the last digest. */
export function work(): string {
  let digest = "";
  for (let i = 0; i < ROUNDS; i++) digest = createHash("sha256").update(block).digest("hex");
  return digest;
}

export default {
  fetch(): Response {
    return new Response(`${work()}\n`, { headers: { "content-type": "text/plain" } });
  },
};
