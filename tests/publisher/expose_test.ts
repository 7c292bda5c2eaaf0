// expose(): declared params and methods, checked at once.

import { assertEquals, assertThrows } from "@std/assert";
import { exposureOf } from "../../publisher/_exposed.ts";
import { expose, type ParamKind } from "../../publisher/expose.ts";
import type { Transaction } from "../../publisher/transaction.ts";

Deno.test("expose() records params and upper-cased methods, adds HEAD to GET, keeps the name", () => {
  function greet(_t: Transaction, { name }: { name: string }) {
    return name;
  }
  const endpoint = expose({ params: { name: "required" }, methods: ["get", "POST"] }, greet);
  assertEquals(exposureOf(endpoint), {
    methods: ["GET", "POST", "HEAD"],
    params: { name: "required" },
  });
  assertEquals(endpoint.name, "greet");
  assertEquals(exposureOf(expose({}, () => 1))?.methods, ["GET", "HEAD", "POST"]);
  assertEquals(exposureOf(() => 1), undefined);
  assertEquals(endpoint({} as Transaction, { name: "ada" }), "ada");
});

Deno.test("expose() refuses unknown kinds, bad methods and non-functions", () => {
  assertThrows(
    () => expose({ params: { a: "number" as ParamKind } }, () => 1),
    TypeError,
    '"number"',
  );
  assertThrows(() => expose({ methods: ["GET POST"] }, () => 1), TypeError, "method");
  assertThrows(() => expose({}, "x" as unknown as () => unknown), TypeError);
});

Deno.test("expose() types the arguments from the params (compile-time check)", () => {
  const endpoint = expose(
    { params: { a: "required", b: "optional", c: "list", d: "file" } },
    (_t, args) => {
      const a: string = args.a;
      const b: string | undefined = args.b;
      const c: string[] = args.c;
      const d: File = args.d;
      // @ts-expect-error: an undeclared argument does not exist
      const e = args.e;
      return [a, b, c, d, e];
    },
  );
  assertEquals(typeof endpoint, "function");
});
