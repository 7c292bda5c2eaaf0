// The dispatching parent's accept acknowledgement: a connection a member never accepted
// (it died or retired with the connection in its queue) is replayed to another member; one
// it acknowledged is never sent twice.

import { assertEquals } from "@std/assert";
import { join } from "@std/path";
import { Dispatcher, MEMBER_ACCEPTED } from "../../server/_pool_dispatch.ts";

/** A fake member on a private Unix socket. */
function member(dir: string, name: string): Deno.UnixListener {
  return Deno.listen({ transport: "unix", path: join(dir, `${name}.sock`) });
}

/** Reads a connection to its end. */
async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  return new Uint8Array(await new Response(conn.readable).arrayBuffer());
}

/** A member that acknowledges, reads the whole request and answers `name:` + its length. */
async function answerOnce(listener: Deno.UnixListener, name: string): Promise<number> {
  const conn = await listener.accept();
  await conn.write(new Uint8Array([MEMBER_ACCEPTED]));
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  let total = 0;
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    chunks.push(buffer.slice(0, n));
    total += n;
  }
  await conn.write(new TextEncoder().encode(`${name}:${total}`));
  conn.close();
  return total;
}

async function withDispatcher(
  fn: (dir: string, dispatcher: Dispatcher, front: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flup_dispatch_test_" });
  const front = join(dir, "front.sock");
  const lines: string[] = [];
  const dispatcher = new Dispatcher(
    { listener: Deno.listen({ transport: "unix", path: front }) },
    (level, message) => lines.push(`${level} ${message}`),
    [],
  );
  try {
    await fn(dir, dispatcher, front);
  } finally {
    dispatcher.close();
    dispatcher.abortAll();
    await dispatcher.settled(1000);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends `size` bytes to the front, closes the write side, returns the whole answer. */
async function request(front: string, size: number): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path: front });
  const answer = readAll(conn);
  const body = new Uint8Array(size).fill(0x61);
  for (let offset = 0; offset < size;) offset += await conn.write(body.subarray(offset));
  await conn.closeWrite();
  return new TextDecoder().decode(await answer);
}

for (const size of [5, 200_000]) {
  Deno.test(`dispatch: ${size} bytes a member dropped unacknowledged are replayed to another`, async () => {
    await withDispatcher(async (dir, dispatcher, front) => {
      const dying = member(dir, "dying");
      const healthy = member(dir, "healthy");
      dispatcher.add(1, dying.addr.path);
      const answer = request(front, size);
      // The first member takes the connection off its queue and closes it unanswered.
      const dropped = await dying.accept();
      dispatcher.add(2, healthy.addr.path);
      dropped.close();
      dying.close();
      const served = answerOnce(healthy, "healthy");
      assertEquals(await answer, `healthy:${size}`);
      assertEquals(await served, size);
      healthy.close();
    });
  });
}

Deno.test("dispatch: bytes that arrive while a replay is written keep their order", async () => {
  await withDispatcher(async (dir, dispatcher, front) => {
    const dying = member(dir, "dying");
    const healthy = member(dir, "healthy");
    dispatcher.add(1, dying.addr.path);
    const parts = [0x61, 0x62, 0x63].map((byte) => new Uint8Array(100_000).fill(byte));
    const conn = await Deno.connect({ transport: "unix", path: front });
    const answer = readAll(conn);
    await conn.write(parts[0]!);
    const dropped = await dying.accept();
    dispatcher.add(2, healthy.addr.path);
    // Healthy echoes what it gets once the front end is done.
    const echoed = (async () => {
      const back = await healthy.accept();
      await back.write(new Uint8Array([MEMBER_ACCEPTED]));
      const got = await readAll(back);
      return got;
    })();
    const writing = (async () => {
      for (const part of parts.slice(1)) {
        for (let offset = 0; offset < part.length;) {
          offset += await conn.write(part.subarray(offset));
        }
      }
      await conn.closeWrite();
    })();
    dropped.close();
    dying.close();
    const got = await echoed;
    await writing;
    const expected = new Uint8Array(300_000);
    parts.forEach((part, i) => expected.set(part, i * 100_000));
    assertEquals(got.length, expected.length);
    assertEquals(got, expected);
    try {
      conn.close();
    } catch { /* closed by the readable */ }
    await answer.catch(() => {});
    healthy.close();
  });
});

Deno.test("dispatch: a connection a member acknowledged is never replayed", async () => {
  await withDispatcher(async (dir, dispatcher, front) => {
    const crashing = member(dir, "crashing");
    const other = member(dir, "other");
    dispatcher.add(1, crashing.addr.path);
    const answer = request(front, 5);
    const conn = await crashing.accept();
    await conn.write(new Uint8Array([MEMBER_ACCEPTED]));
    dispatcher.add(2, other.addr.path);
    const otherServed = answerOnce(other, "other");
    // It read the request and died without answering: the front end sees the end, and the
    // other member gets no copy of it (it would answer "other:5").
    await readAll(conn); // reading to the end closes it
    assertEquals(await answer, "");
    await dispatcher.remove(1);
    const next = request(front, 7);
    assertEquals(await otherServed, 7);
    assertEquals(await next, "other:7");
    crashing.close();
    other.close();
  });
});

Deno.test("dispatch: the acknowledgement byte never reaches the front end", async () => {
  await withDispatcher(async (dir, dispatcher, front) => {
    const only = member(dir, "only");
    dispatcher.add(1, only.addr.path);
    const answer = request(front, 3);
    assertEquals(await answerOnce(only, "only"), 3);
    assertEquals(await answer, "only:3");
    only.close();
  });
});
