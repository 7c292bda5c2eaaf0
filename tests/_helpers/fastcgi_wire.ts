// A minimal FastCGI front end for tests: builds request record streams and parses what a
// server answers. Built on the codec under test, so byte-level codec tests stand separately.

import {
  encodeBeginRequest,
  encodedStreamLength,
  encodeParams,
  encodeStream,
  FLAG,
  RECORD_TYPE,
  RecordDecoder,
  ROLE,
} from "../../server/fastcgi/mod.ts";
import { decodeEndRequestBody } from "../../server/fastcgi/record.ts";

/** What a test request is made of. */
export interface WireRequest {
  id?: number;
  role?: number;
  keepConn?: boolean;
  params: Record<string, string> | [string, string][];
  stdin?: Uint8Array | null;
  data?: Uint8Array | null;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Encodes one stream (data records then the empty end record). */
export function streamRecords(type: number, id: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(encodedStreamLength(data.length) + (data.length ? 8 : 0));
  let at = encodeStream(out, 0, type, id, data);
  if (data.length) at = encodeStream(out, at, type, id, new Uint8Array(0));
  return out.subarray(0, at);
}

/** Encodes a whole request: BEGIN_REQUEST, PARAMS, STDIN (and DATA for filters). */
export function encodeWireRequest(request: WireRequest): Uint8Array {
  const id = request.id ?? 1;
  const begin = new Uint8Array(16);
  encodeBeginRequest(
    begin,
    0,
    id,
    request.role ?? ROLE.Responder,
    request.keepConn ? FLAG.KeepConn : 0,
  );
  const pairs = Array.isArray(request.params) ? request.params : Object.entries(request.params);
  const parts = [begin, streamRecords(RECORD_TYPE.Params, id, encodeParams(pairs))];
  if (request.stdin !== null) {
    parts.push(streamRecords(RECORD_TYPE.Stdin, id, request.stdin ?? new Uint8Array(0)));
  }
  if (request.data) parts.push(streamRecords(RECORD_TYPE.Data, id, request.data));
  return concat(parts);
}

/** One request's answer as parsed from the server's records. */
export interface WireResponse {
  stdout: Uint8Array;
  stderr: string;
  ended: boolean;
  appStatus: number;
  protocolStatus: number;
  /** The CGI status from the Status: line (200 when absent). */
  status: number;
  /** Header lines, lower-case names, in order. */
  headers: [string, string][];
  /** Bytes after the blank line. */
  body: Uint8Array;
}

/** Other records the server sent, by type. */
export interface WireAnswer {
  responses: Map<number, WireResponse>;
  management: { type: number; content: Uint8Array }[];
}

/** Parses every whole record in `bytes`. */
export function parseWireAnswer(bytes: Uint8Array): WireAnswer {
  const decoder = new RecordDecoder();
  decoder.push(bytes);
  const responses = new Map<number, WireResponse>();
  const management: { type: number; content: Uint8Array }[] = [];
  const stdoutParts = new Map<number, Uint8Array[]>();
  while (decoder.next()) {
    const { type, requestId } = decoder;
    const content = decoder.content.slice();
    if (requestId === 0) {
      management.push({ type, content });
      continue;
    }
    let response = responses.get(requestId);
    if (!response) {
      response = {
        stdout: new Uint8Array(0),
        stderr: "",
        ended: false,
        appStatus: 0,
        protocolStatus: -1,
        status: 0,
        headers: [],
        body: new Uint8Array(0),
      };
      responses.set(requestId, response);
      stdoutParts.set(requestId, []);
    }
    if (type === RECORD_TYPE.Stdout) stdoutParts.get(requestId)!.push(content);
    else if (type === RECORD_TYPE.Stderr) response.stderr += new TextDecoder().decode(content);
    else if (type === RECORD_TYPE.EndRequest) {
      const end = decodeEndRequestBody(content);
      response.ended = true;
      response.appStatus = end.appStatus;
      response.protocolStatus = end.protocolStatus;
    }
  }
  for (const [id, response] of responses) {
    response.stdout = concat(stdoutParts.get(id)!);
    const text = new TextDecoder("latin1").decode(response.stdout);
    const split = text.indexOf("\r\n\r\n");
    if (split >= 0) {
      for (const line of text.slice(0, split).split("\r\n")) {
        const colon = line.indexOf(":");
        response.headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
      }
      response.body = response.stdout.subarray(split + 4);
      const status = response.headers.find(([name]) => name === "status")?.[1];
      response.status = status ? Number(status.split(" ")[0]) : 200;
    }
  }
  return { responses, management };
}

/** Typical nginx params for a GET of `uri`. */
export function nginxParams(
  uri: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const [path, query = ""] = uri.split("?", 2) as [string, string?];
  return {
    QUERY_STRING: query,
    REQUEST_METHOD: "GET",
    CONTENT_TYPE: "",
    CONTENT_LENGTH: "",
    SCRIPT_NAME: path,
    REQUEST_URI: uri,
    DOCUMENT_URI: path,
    DOCUMENT_ROOT: "/srv",
    SERVER_PROTOCOL: "HTTP/1.1",
    REQUEST_SCHEME: "http",
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_SOFTWARE: "nginx/1.22.1",
    REMOTE_ADDR: "192.0.2.7",
    REMOTE_PORT: "51234",
    SERVER_ADDR: "127.0.0.1",
    SERVER_PORT: "8080",
    SERVER_NAME: "localhost",
    HTTP_HOST: "example.test:8080",
    ...extra,
  };
}

/** Sends `bytes` over a fresh TCP connection, reads until the server closes, returns it all. */
export async function exchangeOverTcp(
  port: number,
  bytes: Uint8Array,
  hostname = "127.0.0.1",
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname, port });
  try {
    const reading = new Response(conn.readable).bytes();
    const writer = conn.writable.getWriter();
    await writer.write(bytes);
    writer.releaseLock();
    return await reading;
  } finally {
    try {
      conn.close();
    } catch { /* closed by the readable */ }
  }
}
