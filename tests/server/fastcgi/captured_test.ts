// Byte streams captured from real nginx, Apache and lighttpd (tests/fixtures/fastcgi/*_post.bin,
// made by capture.ts there) replayed through the decoder and the connection engine.

import { assertEquals } from "@std/assert";
import { RecordDecoder } from "../../../server/fastcgi/record.ts";
import { parseWireAnswer } from "../../_helpers/fastcgi_wire.ts";
import { openConnection } from "./_harness.ts";

const fixtures = ["nginx_post", "apache_post", "lighttpd_post"];
const body = new Uint8Array(100_000).map((_, i) => i % 251);

async function load(name: string): Promise<Uint8Array> {
  return await Deno.readFile(new URL(`../../fixtures/fastcgi/${name}.bin`, import.meta.url));
}

function records(chunks: Uint8Array[]): string[] {
  const decoder = new RecordDecoder();
  const out: string[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    while (decoder.next()) {
      out.push(
        `${decoder.type}/${decoder.requestId}/${decoder.content.length}/${decoder.content[0]}`,
      );
    }
  }
  assertEquals(decoder.buffered, 0);
  return out;
}

for (const name of fixtures) {
  Deno.test(`RecordDecoder.next() decodes the ${name} capture split anywhere`, async () => {
    const bytes = await load(name);
    const whole = records([bytes]);
    // Every split in the head (BEGIN_REQUEST and PARAMS), then random chunkings of the whole.
    for (let split = 1; split < 2048; split++) {
      assertEquals(records([bytes.subarray(0, split), bytes.subarray(split)]), whole);
    }
    let seed = 7;
    for (let run = 0; run < 50; run++) {
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < bytes.length;) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const size = 1 + (seed % 9000);
        chunks.push(bytes.subarray(at, at + size));
        at += size;
      }
      assertEquals(records(chunks), whole);
    }
  });

  Deno.test(`serveFastCgiConnection() rebuilds the request from the ${name} capture`, async () => {
    const bytes = await load(name);
    let seen: Record<string, unknown> | undefined;
    const { peer } = openConnection(async (request, info) => {
      const url = new URL(request.url);
      seen = {
        method: request.method,
        path: url.pathname,
        search: url.search,
        multi: request.headers.get("x-multi"),
        cookie: request.headers.get("cookie"),
        type: request.headers.get("content-type"),
        length: request.headers.get("content-length"),
        body: await request.bytes(),
        protocol: info.protocol,
        remote: info.remoteAddr.hostname,
      };
      return new Response("ok");
    });
    peer.send(bytes);
    await peer.closed;
    assertEquals(parseWireAnswer(peer.received()).responses.get(1)?.status, 200);
    assertEquals(seen, {
      method: "POST",
      path: "/capture/caf%C3%A9",
      search: "?q=a%20b",
      multi: "a, b",
      cookie: "k=v",
      type: "application/octet-stream",
      length: "100000",
      body,
      protocol: "fastcgi",
      remote: "127.0.0.1",
    });
  });
}
