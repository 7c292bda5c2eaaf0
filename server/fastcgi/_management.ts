// Records the connection answers without running the handler: FCGI_GET_VALUES_RESULT and
// refusals (UNKNOWN_ROLE, CANT_MPX_CONN, OVERLOADED).

import { encodeCgiHead, encodeLatin1 } from "../_respond.ts";
import type { ResolvedOptions } from "../_options.ts";
import { NULL_REQUEST_ID, RECORD_TYPE, VALUE_NAME } from "./constants.ts";
import { decodeParams, encodeParams } from "./params.ts";
import { encodedStreamLength, encodeEndRequest, encodeRecord, encodeStream } from "./record.ts";

/** What GET_VALUES answers are computed from. */
export interface ValuesSource {
  options: ResolvedOptions;
  maxRequestsPerConnection: number;
}

/**
 * FCGI_GET_VALUES_RESULT for the names asked (spec section 4.1): only the variables the server
 * knows, with truthful values; unknown names are left out as the spec says.
 */
export function encodeGetValuesResult(content: Uint8Array, source: ValuesSource): Uint8Array {
  const names = decodeParams(content, { maxBytes: 65535, maxPairs: 100 });
  const { options, maxRequestsPerConnection } = source;
  const known: Record<string, string> = {
    [VALUE_NAME.MaxConns]: String(options.maxConnections),
    [VALUE_NAME.MaxReqs]: String(options.maxConnections * maxRequestsPerConnection),
    [VALUE_NAME.MpxsConns]: maxRequestsPerConnection > 1 ? "1" : "0",
  };
  const pairs: [string, string][] = [];
  for (let i = 0; i < names.length; i += 2) {
    const value = known[names[i]!];
    if (value !== undefined) pairs.push([names[i]!, value]);
  }
  const body = encodeParams(pairs);
  const out = new Uint8Array(encodedStreamLength(body.length));
  encodeRecord(out, 0, RECORD_TYPE.GetValuesResult, NULL_REQUEST_ID, body);
  return out;
}

/** END_REQUEST with `protocolStatus`, after a short CGI response when one is given. */
export function encodeRefusal(
  id: number,
  protocolStatus: number,
  response: Response | null,
): Uint8Array {
  if (!response) {
    const out = new Uint8Array(16);
    encodeEndRequest(out, 0, id, 0, protocolStatus);
    return out;
  }
  const head = encodeLatin1(encodeCgiHead(response) + "Service Unavailable\n");
  response.body?.cancel().catch(() => {});
  const out = new Uint8Array(encodedStreamLength(head.length) + 8 + 16);
  let at = encodeStream(out, 0, RECORD_TYPE.Stdout, id, head);
  at = encodeStream(out, at, RECORD_TYPE.Stdout, id, new Uint8Array(0));
  encodeEndRequest(out, at, id, 0, protocolStatus);
  return out;
}
