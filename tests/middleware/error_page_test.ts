// errorPage(): the generic page with a request id, the debug page (escaped), the onError
// hook and its rate limit, non-Response returns, and errors inside a body stream.

import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "@std/assert";
import { mock } from "node:test";
import { errorPage, type ErrorReport } from "../../middleware/error_page.ts";
import type { GatewayInfo, Handler } from "../../server/types.ts";

const info = {} as GatewayInfo;
const request = () => new Request("http://localhost/path?q=1", { method: "POST" });

function collect(): { lines: string[]; log: (level: string, line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (level, line) => lines.push(`${level} ${line}`) };
}

const failing: Handler = () => {
  throw new Error("secret <b>detail</b>");
};

Deno.test("errorPage() answers a throw with a generic 500 that shows only a request id, and logs the error with it", async () => {
  const { lines, log } = collect();
  const response = await errorPage({ log })(failing)(request(), info);
  assertEquals(response.status, 500);
  assertEquals(response.headers.get("content-type"), "text/html; charset=utf-8");
  assertEquals(response.headers.get("cache-control"), "no-store");
  const id = response.headers.get("x-request-id") ?? "";
  assertMatch(id, /^[0-9a-f]{16}$/);
  const page = await response.text();
  assertStringIncludes(page, id);
  assertEquals(page.includes("secret"), false);
  assertEquals(lines.length, 1);
  assertStringIncludes(
    lines[0] ?? "",
    `error POST /path failed, request id ${id}: Error: secret <b>detail</b>`,
  );
  assertStringIncludes(lines[0] ?? "", "error_page_test.ts"); // the stack
});

Deno.test("errorPage() catches rejections and non-Response returns too", async () => {
  const { lines, log } = collect();
  const rejecting = errorPage({ log })(() => Promise.reject(new RangeError("nope")));
  assertEquals((await rejecting(request(), info)).status, 500);
  const wrong = errorPage({ log })((() => "text") as unknown as Handler);
  const response = await wrong(request(), info);
  await response.body?.cancel();
  assertEquals(response.status, 500);
  assertStringIncludes(lines[1] ?? "", "returned a string, not a Response");
});

Deno.test("errorPage({ debug: true }) shows the error, stack and cause HTML-escaped, and warns at creation", async () => {
  const { lines, log } = collect();
  const middleware = errorPage({ debug: true, log });
  assertEquals(lines, [
    "warn errorPage: debug is on, clients see error details (never in production)",
  ]);
  const response = await middleware(() => {
    throw new Error("<script>alert(1)</script>", { cause: new TypeError("root & cause") });
  })(new Request("http://localhost/a?<x>"), info);
  const page = await response.text();
  assertEquals(response.status, 500);
  assertEquals(page.includes("<script>alert"), false);
  assertStringIncludes(page, "&lt;script&gt;alert(1)&lt;/script&gt;");
  assertStringIncludes(page, "TypeError: root &amp; cause");
  assertStringIncludes(page, "error_page_test.ts");
  assertStringIncludes(page, "http://localhost/a?%3Cx%3E");
});

Deno.test("errorPage() passes errors to onError at most once per onErrorInterval, counting the others", async () => {
  // Time is mocked (Date only): the interval is measured with Date.now().
  mock.timers.enable({ apis: ["Date"], now: Date.now() });
  try {
    const { lines, log } = collect();
    const reports: ErrorReport[] = [];
    const handler = errorPage({
      log,
      onError: (report) => void reports.push(report),
      onErrorInterval: 200,
    })(failing);
    for (let i = 0; i < 3; i++) await (await handler(request(), info)).body?.cancel();
    assertEquals(reports.length, 1);
    assertEquals(reports[0]?.suppressed, 0);
    assertEquals(reports[0]?.duringBody, false);
    assertMatch(reports[0]?.requestId ?? "", /^[0-9a-f]{16}$/);
    assertStringIncludes(
      lines[1] ?? "",
      "not passed to onError: onErrorInterval (200) not elapsed",
    );
    mock.timers.tick(220);
    await (await handler(request(), info)).body?.cancel();
    assertEquals(reports.length, 2);
    assertEquals(reports[1]?.suppressed, 2);
  } finally {
    mock.timers.reset();
  }
});

Deno.test("errorPage() logs an onError hook that fails, and still answers", async () => {
  const { lines, log } = collect();
  const hookDone = Promise.withResolvers<void>();
  const handler = errorPage({
    log,
    onErrorInterval: 0,
    onError: () => {
      queueMicrotask(() => hookDone.resolve());
      throw new Error("mail server down");
    },
  })(failing);
  assertEquals((await handler(request(), info)).status, 500);
  await hookDone.promise;
  await Promise.resolve();
  assert(
    lines.some((line) => line === "error errorPage: onError failed: Error: mail server down"),
    lines.join("\n"),
  );
});

Deno.test("errorPage() reports an error inside a body stream and fails the stream", async () => {
  const { lines, log } = collect();
  const reports: ErrorReport[] = [];
  const handler = errorPage({ log, onError: (report) => void reports.push(report) })(() =>
    new Response(
      new ReadableStream({
        pull(controller) {
          controller.enqueue(new TextEncoder().encode("partial"));
          controller.error(new Error("disk gone"));
        },
      }),
    )
  );
  const response = await handler(request(), info);
  assertEquals(response.status, 200);
  let failure: unknown;
  try {
    await response.text();
  } catch (error) {
    failure = error;
  }
  assert(failure instanceof Error && failure.message === "disk gone");
  assertEquals(reports[0]?.duringBody, true);
  assertStringIncludes(lines[0] ?? "", "body stream of POST /path failed");
});

Deno.test("errorPage() passes good responses through, with their status and headers", async () => {
  const handler = errorPage()(() => new Response("fine", { status: 201, headers: { "x-a": "1" } }));
  const response = await handler(request(), info);
  assertEquals([response.status, response.headers.get("x-a"), await response.text()], [
    201,
    "1",
    "fine",
  ]);
  assertEquals(
    (await errorPage()(() => new Response(null, { status: 204 }))(request(), info)).status,
    204,
  );
});

Deno.test("errorPage() takes a custom production page and checks onErrorInterval", async () => {
  const handler = errorPage({ log: () => {}, page: (id) => `<p>Oops ${id}</p>` })(failing);
  const response = await handler(request(), info);
  assertEquals(await response.text(), `<p>Oops ${response.headers.get("x-request-id")}</p>`);
  assertThrows(() => errorPage({ onErrorInterval: -1 }), RangeError, "onErrorInterval");
});
