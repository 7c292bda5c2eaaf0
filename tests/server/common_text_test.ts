// decodeCommonText(): the table of common CGI names and values answers exactly the strings the
// plain decoder would, including near misses that share a table entry's length and end bytes.

import { assertEquals } from "@std/assert";
import { decodeCommonText } from "../../server/_common_text.ts";
import { decodeText } from "../../server/_text.ts";

const encoder = new TextEncoder();

/** Decodes `text` at an offset inside a larger buffer with both decoders. */
function both(text: string): [string, string] {
  const bytes = encoder.encode(`xx${text}yy`);
  const end = bytes.length - 2;
  return [decodeCommonText(bytes, 2, end), decodeText(bytes, 2, end)];
}

Deno.test("decodeCommonText() agrees with decodeText() on table entries and near misses", () => {
  const texts = [
    "HTTP_HOST",
    "HTTP_HOZT", // same length, first and last byte as HTTP_HOST
    "SCGI",
    "SCXI",
    "1",
    "2",
    "GET",
    "GOT",
    "CONTENT_LENGTH",
    "CONTENT_LENGTx",
    "",
    "café",
    "application/json",
    "application/jsan",
  ];
  for (const text of texts) {
    const [common, plain] = both(text);
    assertEquals(common, text);
    assertEquals(common, plain);
  }
});
