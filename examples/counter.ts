/**
 * The session counter: "You have been here N times", counted in a server-side session named
 * by a cookie. Runs under `deno serve` and every flup gateway.
 *
 *     deno serve --host 127.0.0.1 --port 8000 --allow-net=127.0.0.1:8000 examples/counter.ts
 *     deno run --allow-net=127.0.0.1:9000 --allow-read=. cli.ts serve examples/counter.ts --fastcgi 127.0.0.1:9000
 *
 * Sessions live in this process's memory (`MemoryStore`), which refuses to start in a thread
 * or fork pool (each member would count on its own): there, use
 * `new SqliteStore("/var/lib/app/sessions.db")`, shared by every member.
 *
 * @module
 */

import { compose } from "../middleware/compose.ts";
import { errorPage } from "../middleware/error_page.ts";
import { MemoryStore } from "../middleware/memory_store.ts";
import { getSession, session } from "../middleware/session.ts";

/** The counter's session values. */
interface Visits {
  count: number;
}

const app = compose(errorPage(), session(new MemoryStore()))((request) => {
  const visits = getSession<Visits>(request);
  const count = (visits.get("count") ?? 0) + 1;
  visits.set("count", count);
  const times = count === 1 ? "1 time" : `${count} times`;
  return new Response(`You have been here ${times}.\n`, {
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
});

export default { fetch: app };
