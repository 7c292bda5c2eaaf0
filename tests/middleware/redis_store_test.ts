// RedisStore: the shared store cases against a real redis-server started on a free port,
// two processes (as two machines would) merging writes, a client of your own, key layout,
// and failing fast when the server is down.

import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { createClient } from "redis";
import { RedisStore } from "../../middleware/redis_store.ts";
import { freePort } from "../_helpers/ports.ts";
import { checkCrossProcessMerge } from "./_cross_process.ts";
import { startRedis } from "./_redis.ts";
import { defineStoreTests, sessionId } from "./_store_cases.ts";

let prefixCounter = 0;
defineStoreTests("RedisStore", async () => {
  const redis = await startRedis();
  return {
    // A fresh key prefix per test keeps the cases apart.
    store: new RedisStore({ url: redis.url, keyPrefix: `t${++prefixCounter}:` }),
    done: () => redis.stop(),
  };
});

Deno.test("RedisStore: two processes writing one session concurrently keep every key", async () => {
  const redis = await startRedis();
  const store = new RedisStore({ url: redis.url });
  try {
    await checkCrossProcessMerge("redis", redis.url, store);
  } finally {
    await store.close();
    await redis.stop();
  }
});

Deno.test("RedisStore: one hash per session, values as JSON text, expiry as a TTL", async () => {
  const redis = await startRedis();
  const client = createClient({ url: redis.url });
  await client.connect();
  const store = new RedisStore({ client, keyPrefix: "app:" });
  try {
    const id = sessionId(1);
    await store.save(
      id,
      { set: new Map([["user", '"ada"']]), delete: [], replace: false },
      Date.now() + 60_000,
      true,
    );
    assertEquals(await client.hGetAll(`app:${id}`), { m: "1", "v:user": '"ada"' });
    const ttl = await client.pTTL(`app:${id}`);
    assert(ttl > 55_000 && ttl <= 60_000, `ttl ${ttl}`);
    assertEquals((await store.load(id))?.values.get("user"), '"ada"');
  } finally {
    await store.close(); // leaves the given client open
    assertEquals(await client.ping(), "PONG");
    await client.close();
    await redis.stop();
  }
});

Deno.test("RedisStore: a server that is down fails the operation at once, with the URL but not the password", async () => {
  const port = freePort();
  const store = new RedisStore({
    url: `redis://:hunter2@127.0.0.1:${port}`,
    connectTimeout: 1000,
    log: () => {},
  });
  try {
    const error = await assertRejects(
      () => store.load(sessionId(1)),
      Error,
      "Cannot connect RedisStore",
    );
    assertStringIncludes(error.message, `127.0.0.1:${port}`);
    assertEquals(error.message.includes("hunter2"), false);
    // The next operation tries again (and fails again).
    await assertRejects(() => store.load(sessionId(1)), Error, "Cannot connect RedisStore");
  } finally {
    await store.close();
  }
});
