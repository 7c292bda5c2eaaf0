// session(): cookie attributes, ids only from the cookie, regeneration, destruction, the
// per-key merge of concurrent requests, expiry and sweeping, and plain-JSON values.

import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { mock } from "node:test";
import { MemoryStore } from "../../middleware/memory_store.ts";
import { findSession, getSession, type Session, session } from "../../middleware/session.ts";
import type { SessionStore } from "../../middleware/session_store.ts";
import type { GatewayInfo, Handler } from "../../server/types.ts";

const info = {} as GatewayInfo;

function request(url = "http://localhost/", cookie?: string, method = "GET"): Request {
  return new Request(url, { method, headers: cookie ? { cookie } : {} });
}

/** The `name=value` part of the response's Set-Cookie, or `null`. */
function cookieOf(response: Response): string | null {
  const line = response.headers.get("set-cookie");
  return line === null ? null : line.split(";")[0] ?? null;
}

/** Wraps a store to count calls by method. */
function counting(store: SessionStore): { store: SessionStore; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const wrapped = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
        return value.apply(target, args);
      };
    },
  });
  return { store: wrapped, calls };
}

const counter: Handler = (req) => {
  const s = getSession<{ n: number }>(req);
  s.set("n", (s.get("n") ?? 0) + 1);
  return new Response(String(s.get("n")));
};

Deno.test("session() sends an HttpOnly SameSite=Lax cookie with a 256-bit id on the first write, and counts", async () => {
  const store = new MemoryStore();
  const handler = session(store)(counter);
  const first = await handler(request(), info);
  const line = first.headers.get("set-cookie") ?? "";
  assertMatch(line, /^flup_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
  assertEquals(first.headers.get("cache-control"), "private, no-cache");
  const cookie = cookieOf(first) ?? "";
  let last = "";
  for (let i = 0; i < 3; i++) last = await (await handler(request(undefined, cookie), info)).text();
  assertEquals(last, "4");
  await store.close();
});

Deno.test("session() adds Secure over HTTPS, and takes name, path, domain and max-age options", async () => {
  const store = new MemoryStore();
  const handler = session(store, {
    cookie: { name: "sid", path: "/app", domain: "example.com", maxAge: 3_600_000 },
  })(counter);
  const response = await handler(request("https://example.com/app/"), info);
  assertMatch(
    response.headers.get("set-cookie") ?? "",
    /^sid=[\w-]{43}; Path=\/app; Domain=example\.com; Max-Age=3600; HttpOnly; Secure; SameSite=Lax$/,
  );
  const strict = session(store, { cookie: { secure: true, sameSite: "Strict" } })(counter);
  assertMatch(
    (await strict(request("http://localhost/"), info)).headers.get("set-cookie") ?? "",
    /; HttpOnly; Secure; SameSite=Strict$/,
  );
  assertThrows(() => session(store, { cookie: { name: "bad name" } }), TypeError);
  assertThrows(() => session(store, { cookie: { sameSite: "None", secure: false } }), TypeError);
  assertThrows(() => session(store, { idleTimeout: 10 }), RangeError, "idleTimeout");
  await store.close();
});

Deno.test("session() ids are random: 200 sessions, 200 distinct ids", async () => {
  const store = new MemoryStore();
  const handler = session(store)(counter);
  const ids = new Set<string>();
  for (let i = 0; i < 200; i++) ids.add(cookieOf(await handler(request(), info)) ?? "");
  assertEquals(ids.size, 200);
  await store.close();
});

Deno.test("session() stores and sends nothing for a request that does not write", async () => {
  const { store, calls } = counting(new MemoryStore());
  const handler = session(store, { cleanupInterval: 0 })((req) => {
    const s = getSession(req);
    return new Response(`${s.get("x")} ${s.id} ${s.isNew} ${s.changed}`);
  });
  const response = await handler(request(), info);
  assertEquals(await response.text(), "undefined null true false");
  assertEquals(response.headers.get("set-cookie"), null);
  assertEquals([...calls.keys()], []);
  await store.close();
});

Deno.test("session() takes the id only from the cookie, never from the query string", async () => {
  const store = new MemoryStore();
  const handler = session(store)(counter);
  const cookie = cookieOf(await handler(request(), info)) ?? "";
  const id = cookie.split("=")[1];
  const viaQuery = await handler(request(`http://localhost/?flup_session=${id}`), info);
  assertEquals(await viaQuery.text(), "1");
  assertNotEquals(cookieOf(viaQuery), cookie);
  await store.close();
});

Deno.test("session() never adopts an id it did not issue: an unknown id gets a new one, a malformed one is not looked up", async () => {
  const { store, calls } = counting(new MemoryStore());
  const handler = session(store, { cleanupInterval: 0 })(counter);
  const chosen = `flup_session=${"A".repeat(43)}`;
  const response = await handler(request(undefined, chosen), info);
  assertEquals(await response.text(), "1");
  assertNotEquals(cookieOf(response), chosen);
  assertEquals(calls.get("load"), 1);
  for (const bad of ["x", "../../etc/passwd", "A".repeat(44), `${"A".repeat(42)};`]) {
    await handler(request(undefined, `flup_session=${bad}`), info);
  }
  assertEquals(calls.get("load"), 1);
  await store.close();
});

Deno.test("session() deletes a stale cookie when the request writes nothing", async () => {
  const store = new MemoryStore();
  const handler = session(store)(() => new Response("static"));
  const response = await handler(request(undefined, `flup_session=${"A".repeat(43)}`), info);
  assertEquals(
    response.headers.get("set-cookie"),
    "flup_session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax",
  );
  await store.close();
});

Deno.test("Session.regenerate() moves the values to a new id; the old id is worthless", async () => {
  const store = new MemoryStore();
  const handler = session(store)((req) => {
    const s = getSession<{ user: string; n: number }>(req);
    if (new URL(req.url).pathname === "/login") {
      s.regenerate();
      s.set("user", "ada");
    } else {
      s.set("n", 1);
    }
    return new Response(`${s.get("user")} ${s.get("n")}`);
  });
  const before = cookieOf(await handler(request(), info)) ?? "";
  const login = await handler(request("http://localhost/login", before), info);
  const after = cookieOf(login) ?? "";
  assertNotEquals(after, before);
  assertEquals(await login.text(), "ada 1");
  assertEquals(store.size, 1);
  const old = await handler(request("http://localhost/login", before), info);
  assertEquals(await old.text(), "ada undefined"); // a fresh session: the old one is gone
  await store.close();
});

Deno.test("Session.destroy() deletes the session and its cookie; a later set() starts a new one", async () => {
  const store = new MemoryStore();
  let mode = "write";
  const handler = session(store)((req) => {
    const s = getSession(req);
    if (mode === "write") s.set("a", 1);
    if (mode === "destroy") s.destroy();
    if (mode === "destroy-then-write") {
      s.destroy();
      s.set("b", 2);
    }
    return new Response(`${s.id === null}`);
  });
  const cookie = cookieOf(await handler(request(), info)) ?? "";
  mode = "destroy";
  const destroyed = await handler(request(undefined, cookie), info);
  assertEquals(await destroyed.text(), "true");
  assertMatch(destroyed.headers.get("set-cookie") ?? "", /^flup_session=; Path=\/; Max-Age=0;/);
  assertEquals(store.size, 0);
  mode = "write";
  const again = cookieOf(await handler(request(), info)) ?? "";
  mode = "destroy-then-write";
  const renewed = await handler(request(undefined, again), info);
  assertNotEquals(cookieOf(renewed), again);
  assertEquals(store.size, 1);
  await store.close();
});

Deno.test("session() merges concurrent requests per key (last writer wins per key)", async () => {
  const store = new MemoryStore();
  // Both requests have loaded the session before either writes.
  const bothLoaded = Promise.withResolvers<void>();
  let loaded = 0;
  const handler = session(store)(async (req) => {
    const s = getSession(req);
    const key = new URL(req.url).searchParams.get("key") ?? "k";
    if (key !== "k") {
      if (++loaded === 2) bothLoaded.resolve();
      await bothLoaded.promise;
    }
    s.set(key, new URL(req.url).searchParams.get("value") ?? "");
    return new Response("ok");
  });
  const cookie = cookieOf(await handler(request("http://localhost/?value=0"), info)) ?? "";
  // Two requests load the session at the same time, then write different keys.
  const a = handler(request("http://localhost/?key=a&value=1", cookie), info);
  const b = handler(request("http://localhost/?key=b&value=2", cookie), info);
  await Promise.all([a, b]);
  const peek = session(store)((req) =>
    Response.json(
      Object.fromEntries(getSession(req).keys().map((k) => [k, getSession(req).get(k)])),
    )
  );
  assertEquals(await (await peek(request(undefined, cookie), info)).json(), {
    k: "0",
    a: "1",
    b: "2",
  });
  await store.close();
});

Deno.test("session() drops, and logs, the writes of a request whose session another request destroyed meanwhile", async () => {
  const store = new MemoryStore();
  const lines: string[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const handler = session(store, { log: (level, line) => lines.push(`${level} ${line}`) })(
    async (req) => {
      const s = getSession(req);
      const path = new URL(req.url).pathname;
      if (path === "/logout") s.destroy();
      else if (path === "/slow") {
        await gate;
        s.set("late", true);
      } else s.set("user", "ada");
      return new Response(path);
    },
  );
  const cookie = cookieOf(await handler(request(), info)) ?? "";
  const slow = handler(request("http://localhost/slow", cookie), info);
  await handler(request("http://localhost/logout", cookie), info);
  release();
  const response = await slow;
  assertEquals(store.size, 0); // the logout stands
  assertMatch(response.headers.get("set-cookie") ?? "", /Max-Age=0/);
  assertEquals(lines, [
    "warn session: writes of GET /slow dropped: another request destroyed the session meanwhile",
  ]);
  await store.close();
});

Deno.test("session() expires idle sessions, renews read sessions past half their life, and sweeps the store", async () => {
  // Time is mocked (Date only): the store and the middleware read Date.now().
  mock.timers.enable({ apis: ["Date"], now: Date.now() });
  try {
    await expiresIdleSessions();
  } finally {
    mock.timers.reset();
  }
});

async function expiresIdleSessions(): Promise<void> {
  const store = new MemoryStore();
  const { store: watched, calls } = counting(store);
  const handler = session(watched, { idleTimeout: 1000, cleanupInterval: 60_000 })((req) => {
    const s = getSession(req);
    if (new URL(req.url).pathname === "/write") s.set("n", 1);
    return new Response(String(s.get("n")));
  });
  assertEquals(calls.get("cleanup"), undefined);
  const cookie = cookieOf(await handler(request("http://localhost/write"), info)) ?? "";
  assertEquals(calls.get("cleanup"), 1); // the first request sweeps
  await handler(request("http://localhost/read", cookie), info);
  assertEquals(calls.get("touch"), undefined); // more than half the life left
  mock.timers.tick(600);
  const renewed = await handler(request("http://localhost/read", cookie), info);
  assertEquals(calls.get("touch"), 1);
  assertEquals(renewed.headers.get("set-cookie"), null); // no cookie max-age: nothing to resend
  mock.timers.tick(600); // 1.2 s after the write, 0.6 s after the touch
  assertEquals(await (await handler(request("http://localhost/read", cookie), info)).text(), "1");
  mock.timers.tick(1100);
  assertEquals(
    await (await handler(request("http://localhost/read", cookie), info)).text(),
    "undefined",
  );
  assertEquals(calls.get("cleanup"), 1); // cleanupInterval has not passed
  await store.close();
}

Deno.test("session() does not save when the handler throws", async () => {
  const store = new MemoryStore();
  const handler = session(store)((req) => {
    getSession(req).set("a", 1);
    throw new Error("boom");
  });
  let thrown: unknown;
  try {
    await handler(request(), info);
  } catch (error) {
    thrown = error;
  }
  assert(thrown instanceof Error && thrown.message === "boom");
  assertEquals(store.size, 0);
  await store.close();
});

Deno.test("Session values are plain JSON: copies on get, TypeError for what JSON cannot carry", async () => {
  const store = new MemoryStore();
  let checked = false;
  const handler = session(store)((req) => {
    const s = getSession(req) as Session<Record<string, never>> as unknown as Session;
    s.set("list", [1, 2]);
    const list = s.get("list") as number[];
    list.push(3);
    assertEquals(s.get("list"), [1, 2]);
    for (
      const bad of [new Date(), new Map(), () => 1, Number.NaN, Infinity, undefined, {
        a: new Uint8Array(1),
      }]
    ) {
      assertThrows(() => s.set("bad", bad as never), TypeError, '"bad"');
    }
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assertThrows(() => s.set("cycle", cycle as never), TypeError);
    assertThrows(() => s.set("", 1), TypeError);
    assertEquals(s.has("bad"), false);
    assertEquals(s.delete("list"), true);
    assertEquals(s.delete("list"), false);
    s.set("x", { nested: [null, true, "é"] });
    s.clear();
    assertEquals(s.keys(), []);
    checked = true;
    return new Response("ok");
  });
  await handler(request(), info);
  assert(checked);
  await store.close();
});

Deno.test("getSession() throws without the middleware; findSession() returns undefined", () => {
  assertStrictEquals(findSession(request()), undefined);
  assertThrows(() => getSession(request()), TypeError, "session() middleware");
});

Deno.test("session() adds its cookie to a response whose headers are immutable", async () => {
  const store = new MemoryStore();
  const handler = session(store)((req) => {
    getSession(req).set("a", 1);
    return Response.redirect("http://localhost/next", 303);
  });
  const response = await handler(request(), info);
  assertEquals(response.status, 303);
  assertEquals(response.headers.get("location"), "http://localhost/next");
  assertMatch(response.headers.get("set-cookie") ?? "", /^flup_session=/);
  await store.close();
});
