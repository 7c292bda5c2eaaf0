// Test helpers: AJP requests as a web server writes them, and answers parsed back.

import { MAGIC_TO_SERVER, PREFIX_CODE } from "../../../server/ajp/constants.ts";
import {
  encodeForwardRequest,
  encodeRequestBodyChunk,
  encodeServerCommand,
  type ForwardRequestInit,
  forwardRequestLength,
} from "../../../server/ajp/forward_request.ts";
import { PacketDecoder } from "../../../server/ajp/packet.ts";
import { type ContainerPacket, decodeContainerPacket } from "../../../server/ajp/response.ts";

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A FORWARD_REQUEST packet as mod_proxy_ajp sends it (with AJP_REMOTE_PORT). */
export function forwardRequest(init: Partial<ForwardRequestInit> = {}): Uint8Array {
  const full: ForwardRequestInit = {
    method: "GET",
    requestUri: "/",
    remoteAddr: "192.0.2.7",
    serverName: "example.test",
    serverPort: 8080,
    headers: [["Host", "example.test:8080"]],
    attributes: { requestAttributes: [["AJP_REMOTE_PORT", "51234"]] },
    ...init,
  };
  const out = new Uint8Array(forwardRequestLength(full));
  encodeForwardRequest(out, 0, full);
  return out;
}

/** Request body packets (spec format) for `data`, split in `size` chunks. */
export function bodyPackets(data: Uint8Array, size = 8186): Uint8Array[] {
  const packets: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += size) {
    const chunk = data.subarray(at, at + size);
    const out = new Uint8Array(chunk.length + 6);
    encodeRequestBodyChunk(out, 0, chunk);
    packets.push(out);
  }
  return packets;
}

/** The empty body packet that ends a body (12 34 00 02 00 00). */
export function endOfBody(): Uint8Array {
  const out = new Uint8Array(6);
  encodeRequestBodyChunk(out, 0, new Uint8Array(0));
  return out;
}

/** A one-byte command packet (CPING, SHUTDOWN). */
export function command(prefix: number = PREFIX_CODE.CPing): Uint8Array {
  const out = new Uint8Array(5);
  encodeServerCommand(out, 0, prefix);
  return out;
}

/** A response as the front end would rebuild it. */
export interface WireResponse {
  status: number;
  reason: string;
  headers: [string, string][];
  body: Uint8Array;
  ended: boolean;
  reuse: boolean | null;
  getBodyChunks: number[];
  cpongs: number;
}

/** Parses every packet the container wrote, split into responses at END_RESPONSE. */
export function parseAnswers(bytes: Uint8Array, packetSize = 65536): WireResponse[] {
  const decoder = new PacketDecoder({ magic: MAGIC_TO_SERVER, packetSize: packetSize + 4 });
  decoder.push(bytes);
  const answers: WireResponse[] = [];
  let current: WireResponse | null = null;
  const body: Uint8Array[] = [];
  const start = (): WireResponse => {
    current ??= {
      status: 0,
      reason: "",
      headers: [],
      body: new Uint8Array(0),
      ended: false,
      reuse: null,
      getBodyChunks: [],
      cpongs: 0,
    };
    return current;
  };
  while (decoder.next()) {
    const packet: ContainerPacket = decodeContainerPacket(decoder.payload);
    const answer = start();
    if (packet.type === "headers") {
      answer.status = packet.status;
      answer.reason = packet.reason;
      answer.headers = packet.headers;
    } else if (packet.type === "body") body.push(packet.data.slice());
    else if (packet.type === "get-body") answer.getBodyChunks.push(packet.length);
    else if (packet.type === "cpong") answer.cpongs++;
    else {
      answer.ended = true;
      answer.reuse = packet.reuse;
      answer.body = concat(...body);
      body.length = 0;
      answers.push(answer);
      current = null;
    }
  }
  if (current) {
    (current as WireResponse).body = concat(...body);
    answers.push(current);
  }
  return answers;
}
