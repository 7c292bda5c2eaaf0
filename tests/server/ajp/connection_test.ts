import { assert, assertEquals, assertRejects } from "@std/assert";
import { createHash } from "node:crypto";
import { RequestAbortedError } from "../../../server/errors.ts";
import { PREFIX_CODE } from "../../../server/ajp/constants.ts";
import type { GatewayInfo } from "../../../server/types.ts";
import { openConnection, settle } from "./_harness.ts";
import { bodyPackets, command, concat, endOfBody, forwardRequest, parseAnswers } from "./_wire.ts";

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
type Peer = ReturnType<typeof openConnection>["peer"];

/** Waits until `count` responses have ended, then returns them. */
async function answers(peer: Peer, count = 1) {
  for (let i = 0; i < 200; i++) {
    const parsed = parseAnswers(peer.received());
    if (parsed.filter((a) => a.ended).length >= count || peer.isClosed) return parsed;
    await settle(peer);
  }
  return parseAnswers(peer.received());
}

Deno.test("serveAjpConnection() answers a request, rebuilds the URL and env, and keeps the connection", async () => {
  let seen: { url: string; info: GatewayInfo; headers: [string, string][] } | undefined;
  const { peer, slot } = openConnection((request, info) => {
    seen = { url: request.url, info, headers: [...request.headers] };
    return new Response("hello", { headers: { "x-a": "1" } });
  });
  peer.send(forwardRequest({
    requestUri: "/a/b",
    headers: [["Host", "example.test:8080"], ["X-Multi", "a"], ["X-Multi", "b"]],
    attributes: {
      queryString: "c=d%20e",
      remoteUser: "alice",
      authType: "Basic",
      route: "n1",
      requestAttributes: [["AJP_REMOTE_PORT", "51234"], ["AJP_LOCAL_ADDR", "10.0.0.1"]],
    },
  }));
  const [answer] = await answers(peer);
  assertEquals(answer!.status, 200);
  assertEquals(answer!.reason, "OK");
  assertEquals(text(answer!.body), "hello");
  assert(answer!.headers.some(([n, v]) => n === "x-a" && v === "1"));
  assertEquals(answer!.reuse, true);
  assertEquals(peer.writes, 1); // headers, body and END_RESPONSE in one write
  assertEquals(seen!.url, "http://example.test:8080/a/b?c=d%20e");
  assertEquals(seen!.info.protocol, "ajp");
  assertEquals(seen!.info.remoteAddr, { transport: "tcp", hostname: "192.0.2.7", port: 51234 });
  const env = seen!.info.env;
  assertEquals(env.REQUEST_METHOD, "GET");
  assertEquals(env.REQUEST_URI, "/a/b?c=d%20e");
  assertEquals(env.QUERY_STRING, "c=d%20e");
  assertEquals(env.REMOTE_USER, "alice");
  assertEquals(env.AUTH_TYPE, "Basic");
  assertEquals(env.AJP_ROUTE, "n1");
  assertEquals(env.SERVER_ADDR, "10.0.0.1");
  assertEquals(env.AJP_REMOTE_PORT, "51234");
  assertEquals(env.HTTP_X_MULTI, "a, b");
  assertEquals(env.HTTPS, undefined);
  assertEquals(seen!.headers.find(([n]) => n === "x-multi")?.[1], "a, b");
  await seen!.info.completed;
  assertEquals(peer.isClosed, false);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() turns is_ssl into an https URL, HTTPS=on and the SSL variables", async () => {
  let seen: { url: string; env: Readonly<Record<string, string>> } | undefined;
  const { peer, slot } = openConnection((request, info) => {
    seen = { url: request.url, env: info.env };
    return new Response("");
  });
  peer.send(forwardRequest({
    isSsl: true,
    serverPort: 443,
    headers: [],
    serverName: "secure.test",
    attributes: {
      sslCipher: "TLS_AES_256_GCM_SHA384",
      sslSession: "abcd",
      sslCert: "-----BEGIN CERTIFICATE-----",
      sslKeySize: 256,
      requestAttributes: [["AJP_SSL_PROTOCOL", "TLSv1.3"]],
    },
  }));
  await answers(peer);
  assertEquals(seen!.url, "https://secure.test/");
  assertEquals(seen!.env.HTTPS, "on");
  assertEquals(seen!.env.REQUEST_SCHEME, "https");
  assertEquals(seen!.env.SSL_CIPHER, "TLS_AES_256_GCM_SHA384");
  assertEquals(seen!.env.SSL_SESSION_ID, "abcd");
  assertEquals(seen!.env.SSL_CLIENT_CERT, "-----BEGIN CERTIFICATE-----");
  assertEquals(seen!.env.SSL_CIPHER_USEKEYSIZE, "256");
  assertEquals(seen!.env.SSL_PROTOCOL, "TLSv1.3");
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() refuses a request without the secret or with a wrong one: 403, logged, closed", async () => {
  for (const [sent, reason] of [[null, "no secret"], ["wrong", "a wrong secret"]] as const) {
    let called = false;
    const { peer, logs } = openConnection(() => {
      called = true;
      return new Response("never");
    }, { secret: "right" });
    peer.send(forwardRequest({
      attributes: {
        ...(sent === null ? {} : { secret: sent }),
        requestAttributes: [["AJP_REMOTE_PORT", "1"]],
      },
    }));
    await peer.closed;
    const [answer] = parseAnswers(peer.received());
    assertEquals(answer!.status, 403);
    assertEquals(answer!.reuse, false);
    assertEquals(called, false);
    assert(
      logs.some((line) => line.includes(`secret: the request carries ${reason}`)),
      logs.join(),
    );
  }
  const { peer, slot } = openConnection(() => new Response("in"), { secret: "right" });
  peer.send(forwardRequest({ attributes: { secret: "right" } }));
  assertEquals((await answers(peer))[0]!.status, 200);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() refuses unknown request attributes unless the pattern allows them", async () => {
  const ghostcat = {
    requestAttributes: [["javax.servlet.include.request_uri", "/WEB-INF/web.xml"]] as [
      string,
      string,
    ][],
  };
  const refused = openConnection(() => new Response("never"));
  refused.peer.send(forwardRequest({ attributes: ghostcat }));
  await refused.peer.closed;
  assertEquals(parseAnswers(refused.peer.received())[0]!.status, 403);
  assert(refused.logs.some((line) => line.includes("allowedRequestAttributesPattern")));
  let env: Readonly<Record<string, string>> = {};
  const allowed = openConnection((_request, info) => {
    env = info.env;
    return new Response("ok");
  }, { allowedRequestAttributesPattern: /^javax\.servlet\./ });
  allowed.peer.send(forwardRequest({ attributes: ghostcat }));
  assertEquals((await answers(allowed.peer))[0]!.status, 200);
  assertEquals(env["javax.servlet.include.request_uri"], "/WEB-INF/web.xml");
  allowed.slot.abort("test over");
  await allowed.slot.done;
});

Deno.test("serveAjpConnection() answers CPING with CPONG, ignores SHUTDOWN, and serves requests in turn", async () => {
  let count = 0;
  const { peer, slot, logs } = openConnection((request) =>
    new Response(`${++count} ${new URL(request.url).pathname}`)
  );
  peer.send(concat(command(PREFIX_CODE.CPing), command(PREFIX_CODE.Shutdown)));
  await peer.waitFor(5);
  await settle(peer);
  assertEquals([...peer.received()], [0x41, 0x42, 0, 1, 9]);
  assert(logs.some((line) => line.includes("SHUTDOWN")));
  for (let i = 1; i <= 3; i++) {
    peer.send(forwardRequest({ requestUri: `/r${i}` }));
    await answers(peer, i);
    peer.send(command(PREFIX_CODE.CPing));
  }
  await settle(peer);
  const parsed = parseAnswers(peer.received());
  assertEquals(parsed.filter((a) => a.ended).map((a) => text(a.body)), ["1 /r1", "2 /r2", "3 /r3"]);
  assertEquals(parsed.reduce((n, a) => n + a.cpongs, 0), 4);
  assertEquals(peer.isClosed, false);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() reads a body: first packet unasked, then GET_BODY_CHUNK as needed", async () => {
  const body = new Uint8Array(30000).map((_, i) => (i * 7) & 0xff);
  const { peer, slot } = openConnection(async (request) => {
    const bytes = await request.bytes();
    return new Response(createHash("sha256").update(bytes).digest("hex"));
  });
  const packets = bodyPackets(body);
  peer.send(forwardRequest({
    method: "POST",
    headers: [["Host", "h"], ["Content-Length", String(body.length)]],
  }));
  peer.send(packets[0]!);
  for (let i = 1; i < packets.length; i++) {
    // Each further packet is sent only once the container asked for it.
    for (let turn = 0; turn < 100; turn++) {
      const asked = parseAnswers(peer.received()).flatMap((a) => a.getBodyChunks).length;
      if (asked >= i) break;
      await settle(peer);
    }
    const asked = parseAnswers(peer.received()).flatMap((a) => a.getBodyChunks);
    assertEquals(asked.length, i);
    assertEquals(asked[i - 1], 8186);
    peer.send(packets[i]!);
  }
  const [answer] = await answers(peer);
  assertEquals(text(answer!.body), createHash("sha256").update(body).digest("hex"));
  assertEquals(answer!.getBodyChunks.length, packets.length - 1); // none past Content-Length
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() asks for no more than bodyBufferSize ahead of the handler", async () => {
  const release = Promise.withResolvers<void>();
  const total = 200 * 8186;
  const { peer, slot } = openConnection(async (request) => {
    await release.promise;
    return new Response(String((await request.bytes()).length));
  }, { bodyBufferSize: 32768 });
  peer.send(forwardRequest({
    method: "POST",
    headers: [["Host", "h"], ["Content-Length", String(total)]],
  }));
  const chunk = bodyPackets(new Uint8Array(8186))[0]!;
  peer.send(chunk);
  let sent = 1;
  const feed = async (): Promise<void> => {
    for (let turn = 0; turn < 50; turn++) {
      await settle(peer);
      const asked = parseAnswers(peer.received()).flatMap((a) => a.getBodyChunks).length;
      if (asked < sent) break;
      while (sent <= asked && sent < 200) {
        peer.send(chunk);
        sent++;
      }
      if (sent >= 200) break;
    }
  };
  await feed();
  assert(sent * 8186 <= 32768 + 2 * 8186, `the container asked for ${sent} packets ahead`);
  release.resolve();
  while (sent < 200) await feed();
  const [answer] = await answers(peer);
  assertEquals(text(answer!.body), String(total));
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() reads a chunked body to its empty packet", async () => {
  const { peer, slot } = openConnection(async (request) =>
    new Response(`${(await request.bytes()).length}`)
  );
  peer.send(forwardRequest({
    method: "POST",
    headers: [["Host", "h"], ["Transfer-Encoding", "chunked"]],
  }));
  await peer.waitFor(7); // GET_BODY_CHUNK first: nothing comes unasked without Content-Length
  peer.send(bodyPackets(new Uint8Array(100))[0]!);
  await peer.waitFor(14);
  peer.send(endOfBody());
  const [answer] = await answers(peer);
  assertEquals(text(answer!.body), "100");
  assertEquals(answer!.getBodyChunks.length, 2);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() answers 400 on a Content-Length mismatch and 413 past maxBodyBytes", async () => {
  for (
    const [options, declared, sent, status] of [
      [{}, 100, 50, 400],
      [{}, 10, 20, 400],
      [{ maxBodyBytes: 1000 }, 5000, 5000, 413],
    ] as const
  ) {
    const { peer, slot } = openConnection(async (request) => {
      await request.arrayBuffer();
      return new Response("read it all");
    }, options);
    peer.send(forwardRequest({
      method: "POST",
      headers: [["Host", "h"], ["Content-Length", String(declared)]],
    }));
    peer.send(bodyPackets(new Uint8Array(sent))[0]!);
    if (sent < declared) {
      await peer.waitFor(7);
      peer.send(endOfBody());
    }
    const [answer] = await answers(peer);
    assertEquals(answer!.status, status, `${declared} vs ${sent}`);
    slot.abort("test over");
    await slot.done;
  }
});

Deno.test("serveAjpConnection() takes in the packet on its way when the handler skips the body, then reuses", async () => {
  let n = 0;
  const { peer, slot } = openConnection(() => new Response(`skipped ${++n}`));
  peer.send(forwardRequest({
    method: "POST",
    headers: [["Host", "h"], ["Content-Length", "20000"]],
  }));
  await settle(peer);
  assertEquals(parseAnswers(peer.received())[0]?.ended ?? false, false); // waits for the packet
  peer.send(bodyPackets(new Uint8Array(8186))[0]!);
  await answers(peer);
  peer.send(forwardRequest({ requestUri: "/next" }));
  const parsed = await answers(peer, 2);
  assertEquals(parsed.map((a) => text(a.body)), ["skipped 1", "skipped 2"]);
  assertEquals(parsed.map((a) => a.reuse), [true, true]);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() accepts lighttpd's raw body packets and its unasked empty packet", async () => {
  const { peer, slot } = openConnection(async (request) =>
    new Response(request.body ? text(await request.bytes()) : "none")
  );
  // lighttpd: no req_attributes, an empty packet after a request without a body.
  peer.send(concat(
    forwardRequest({ headers: [["Host", "h"], ["Content-Length", "0"]], attributes: {} }),
    new Uint8Array([0x12, 0x34, 0, 0]),
  ));
  await answers(peer);
  // lighttpd: body data right after the packet header, without the 2-byte chunk length.
  peer.send(concat(
    forwardRequest({
      method: "POST",
      headers: [["Host", "h"], ["Content-Length", "5"]],
      attributes: {},
    }),
    new Uint8Array([0x12, 0x34, 0, 5, ...new TextEncoder().encode("hello")]),
  ));
  const parsed = await answers(peer, 2);
  assertEquals(parsed.map((a) => text(a.body)), ["none", "hello"]);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() aborts request.signal when the front end closes mid-request", async () => {
  const started = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<unknown>();
  let completed: Promise<void> = Promise.resolve();
  const { peer, slot, logs } = openConnection((request, info) => {
    completed = info.completed;
    request.signal.addEventListener("abort", () => aborted.resolve(request.signal.reason));
    started.resolve();
    return new Response(new ReadableStream({ pull: () => new Promise(() => {}) }));
  });
  peer.send(forwardRequest());
  await started.promise;
  peer.end();
  assert(await aborted.promise instanceof RequestAbortedError);
  await slot.done;
  await assertRejects(() => completed, RequestAbortedError);
  assert(logs.some((line) => line.includes("closed the connection mid-request")));
});

Deno.test("serveAjpConnection() sends no body for HEAD, 204 and 304, and every Set-Cookie", async () => {
  for (const [method, status] of [["HEAD", 200], ["GET", 204], ["GET", 304]] as const) {
    const { peer, slot } = openConnection(() =>
      new Response(status === 200 ? "body" : null, { status, headers: { etag: '"x"' } })
    );
    peer.send(forwardRequest({ method }));
    const [answer] = await answers(peer);
    assertEquals(answer!.status, status);
    assertEquals(answer!.body.length, 0);
    slot.abort("test over");
    await slot.done;
  }
  const { peer, slot } = openConnection(() => {
    const headers = new Headers();
    headers.append("set-cookie", "a=1; Path=/");
    headers.append("set-cookie", "b=2; HttpOnly");
    return new Response("c", { headers });
  });
  peer.send(forwardRequest());
  const [answer] = await answers(peer);
  assertEquals(answer!.headers.filter(([n]) => n === "set-cookie").map(([, v]) => v), [
    "a=1; Path=/",
    "b=2; HttpOnly",
  ]);
  slot.abort("test over");
  await slot.done;
});

Deno.test("serveAjpConnection() answers a throwing handler with a generic 500 and calls onError", async () => {
  const errors: unknown[] = [];
  for (const debug of [false, true]) {
    const { peer, slot, logs } = openConnection(() => {
      throw new Error("secret detail");
    }, { debug, onError: (error) => void errors.push(error) });
    peer.send(forwardRequest());
    const [answer] = await answers(peer);
    assertEquals(answer!.status, 500);
    assertEquals(text(answer!.body).includes("secret detail"), debug);
    assert(logs.some((line) => line.includes("secret detail")));
    slot.abort("test over");
    await slot.done;
  }
  assertEquals(errors.length, 2);
});

Deno.test("serveAjpConnection() flushes streamed chunks as they come and closes on a failing body", async () => {
  const { peer, slot } = openConnection(() => {
    let i = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          const before = peer.received().length;
          if (i === 3) return controller.close();
          controller.enqueue(new TextEncoder().encode(`chunk${i++};`));
          await peer.waitFor(before + 1);
        },
      }),
    );
  });
  peer.send(forwardRequest());
  const [answer] = await answers(peer);
  assertEquals(text(answer!.body), "chunk0;chunk1;chunk2;");
  slot.abort("test over");
  await slot.done;
  const failing = openConnection(() =>
    new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("partial"));
        },
        pull(controller) {
          controller.error(new Error("producer broke"));
        },
      }),
    )
  );
  failing.peer.send(forwardRequest());
  await failing.slot.done;
  // No END_RESPONSE: the front end sees a closed connection, never a complete-looking answer.
  assertEquals(parseAnswers(failing.peer.received()).some((a) => a.ended), false);
  assert(failing.logs.some((line) => line.includes("the response body failed")));
});

Deno.test("serveAjpConnection() answers 503 with reuse 0 when overloaded, and closes on bad packets", async () => {
  const { peer } = openConnection(() => new Response("never"), { overloaded: true });
  peer.send(forwardRequest());
  await peer.closed;
  const [answer] = parseAnswers(peer.received());
  assertEquals([answer!.status, answer!.reuse], [503, false]);
  for (
    const [bytes, reason] of [
      [new Uint8Array([0x41, 0x42, 0, 1, 9]), /magic/],
      [new Uint8Array([0x12, 0x34, 0, 1, 42]), /prefix code "42"/],
      [new Uint8Array([0x12, 0x34, 0x20, 0, 2]), /packetSize \(8192\)/],
      [concat(forwardRequest(), command(PREFIX_CODE.CPing)), /did not ask for/],
    ] as const
  ) {
    const bad = openConnection(() => new Promise<Response>(() => {}));
    bad.peer.send(bytes);
    await bad.slot.done;
    assert(bad.logs.some((line) => reason.test(line)), bad.logs.join("\n"));
  }
});

Deno.test("serveAjpConnection() answers 431 past maxParamsPairs, naming the option", async () => {
  const { peer, logs } = openConnection(() => new Response("never"), { maxParamsPairs: 3 });
  peer.send(forwardRequest({
    headers: [["Host", "h"], ["A", "1"], ["B", "2"], ["C", "3"]],
  }));
  await peer.closed;
  assertEquals(parseAnswers(peer.received())[0]!.status, 431);
  assert(logs.some((line) => line.includes("maxParamsPairs (3)")));
});
