/**
 * flup's publisher example: an index page that greets the logged-in user, with a login and a
 * logout, the user kept in a session. Runs under `deno serve` and every flup gateway.
 *
 *     deno serve --host 127.0.0.1 --port 8000 --allow-net=127.0.0.1:8000 examples/publisher_hello.ts
 *     deno run --allow-net=127.0.0.1:9000 --allow-read=. cli.ts serve examples/publisher_hello.ts --fastcgi 127.0.0.1:9000
 *
 * `/` shows the greeting or the login form, `POST /login` (field `username`) logs in, and
 * `POST /logout` logs out; both move the session to a new id and redirect (303) to `/`.
 *
 * @module
 */

import { compose } from "../middleware/compose.ts";
import { errorPage } from "../middleware/error_page.ts";
import { MemoryStore } from "../middleware/memory_store.ts";
import { session } from "../middleware/session.ts";
import { expose } from "../publisher/expose.ts";
import { moduleResolver } from "../publisher/module_resolver.ts";
import { publisher } from "../publisher/publisher.ts";
import { Redirect } from "../publisher/redirect.ts";
import type { Transaction } from "../publisher/transaction.ts";

/** Escapes text for HTML. */
function _escape(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function _page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body>${body}</body></html>
`;
}

/** The published functions: `/`, `/login` and `/logout`. */
export const pages = {
  index(transaction: Transaction): string {
    const user = transaction.session?.get("user");
    if (typeof user === "string") {
      return _page(
        "Hello",
        `<h1>Hello, ${_escape(user)}!</h1>
<form method="post" action="logout"><button>Log out</button></form>`,
      );
    }
    return _page(
      "Log in",
      `<h1>Hello, stranger!</h1>
<form method="post" action="login">
<label>Your name <input name="username" required maxlength="64"></label>
<button>Log in</button></form>`,
    );
  },

  login: expose(
    { params: { username: "required" }, methods: ["POST"] },
    (transaction, { username }) => {
      const name = username.trim().slice(0, 64);
      if (name === "") {
        transaction.response.status = 400;
        return _page("Log in", '<p>Please give a name. <a href=".">Back</a></p>');
      }
      // A new id at each change of privilege: an id seen before logging in is worth nothing.
      transaction.session?.regenerate();
      transaction.session?.set("user", name);
      return new Redirect("./");
    },
  ),

  logout: expose({ methods: ["POST"] }, (transaction) => {
    transaction.session?.destroy();
    return new Redirect("./");
  }),
};

const app = compose(errorPage(), session(new MemoryStore()))(publisher(moduleResolver(pages)));

export default { fetch: app };
