// The Accept-Encoding negotiation behind gzip(): q-values per RFC 9110 section 12.5.3.

import { assertEquals } from "@std/assert";
import { chooseEncoding, parseAcceptEncoding } from "../../middleware/_accept_encoding.ts";

const both = ["gzip", "deflate"];

Deno.test("chooseEncoding() follows q-values, the wildcard and the server's order", () => {
  const cases: [string | null, string | null][] = [
    [null, null],
    ["", null],
    ["gzip", "gzip"],
    ["GZIP", "gzip"],
    ["x-gzip", "gzip"],
    ["deflate", "deflate"],
    ["gzip, deflate, br", "gzip"],
    ["deflate, gzip", "gzip"], // equal weights: the server's order
    ["gzip;q=0.5, deflate", "deflate"],
    ["gzip;q=0", null],
    ["gzip;q=0.000, deflate;q=0", null],
    ["gzip;Q=0", null],
    ["gzip ; q=0", null],
    ["*", "gzip"],
    ["*;q=0", null],
    ["*;q=0, deflate", "deflate"],
    ["gzip;q=0, *", "deflate"],
    ["identity", null],
    ["br", null],
    ["gzip;q=1.0", "gzip"],
    ["gzip;q=0.001", "gzip"],
    ["x-gzip;q=0, gzip", null], // one coding named twice: the refusal stands
    ["gzip;q=2", null], // malformed q: the member is ignored
    ["gzip;q=0.0001", null],
    ["gzip;q=abc, deflate", "deflate"],
    ["gzip;level=9", "gzip"],
    ["gz@ip, deflate", "deflate"],
  ];
  for (const [header, expected] of cases) {
    assertEquals(chooseEncoding(header, both), expected, `Accept-Encoding: ${header}`);
  }
  assertEquals(chooseEncoding("gzip, deflate", ["deflate", "gzip"]), "deflate");
});

Deno.test("parseAcceptEncoding() keeps valid members with their weights", () => {
  assertEquals(parseAcceptEncoding("gzip;q=0.8, , *;q=0.1, bad;q=x"), [
    { coding: "gzip", q: 0.8 },
    { coding: "*", q: 0.1 },
  ]);
});
