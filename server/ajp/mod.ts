/**
 * AJP 1.3: the pure packet codecs (framing and data types, FORWARD_REQUEST, the response
 * packets) and the AJP gateway server for Apache `mod_proxy_ajp`, `mod_jk` and lighttpd
 * `mod_ajp13`.
 *
 * @example Decode a CPING split anywhere and answer CPONG
 * ```ts
 * import { encodeCpong, PacketDecoder, PREFIX_CODE } from "@flup/flup/ajp";
 * import { assertEquals } from "@std/assert";
 *
 * const decoder = new PacketDecoder();
 * for (const byte of [0x12, 0x34, 0, 1, 10]) decoder.push(new Uint8Array([byte]));
 * assertEquals(decoder.next(), true);
 * assertEquals(decoder.payload[0], PREFIX_CODE.CPing);
 * const answer = new Uint8Array(5);
 * encodeCpong(answer, 0);
 * assertEquals([...answer], [0x41, 0x42, 0, 1, 9]);
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./packet.ts";
export * from "./forward_request.ts";
export * from "./response.ts";
export * from "./server.ts";
