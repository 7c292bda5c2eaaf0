/**
 * The number guessing game: the server picks a number from 1 to 100 and answers each guess
 * (a POST form) with "too low" or "too high" until it is found. The number and the count of
 * guesses live in a session. Runs under `deno serve` and every flup gateway.
 *
 *     deno serve --host 127.0.0.1 --port 8000 --allow-net=127.0.0.1:8000 examples/guess.ts
 *     deno run --allow-net=127.0.0.1:9000 --allow-read=. cli.ts serve examples/guess.ts --fastcgi 127.0.0.1:9000
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

/** The highest number the server picks. */
const HIGHEST = 100;

/** A number from 1 to HIGHEST, from the CSPRNG (without modulo bias worth noting here). */
function pick(): number {
  const [value = 0] = crypto.getRandomValues(new Uint32Array(1));
  return (value % HIGHEST) + 1;
}

function page(message: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Guess the number</title></head>
<body><h1>Guess the number</h1>
<p>${message}</p>
<form method="post" action="./">
<label>Your guess <input name="guess" type="number" min="1" max="${HIGHEST}" required autofocus></label>
<button>Guess</button></form>
</body></html>
`;
}

const game = {
  index: expose(
    { params: { guess: "optional" }, methods: ["GET", "POST"] },
    (transaction, { guess }) => {
      const state = transaction.session;
      if (state === null) throw new Error("guess.ts needs the session middleware");
      let secret = state.get("secret");
      if (typeof secret !== "number") {
        secret = pick();
        state.set("secret", secret);
        state.set("tries", 0);
      }
      if (transaction.request.method !== "POST") {
        return page(`I am thinking of a number from 1 to ${HIGHEST}.`);
      }
      const number = Number(guess);
      if (guess === undefined || !/^\d{1,3}$/.test(guess) || number < 1 || number > HIGHEST) {
        transaction.response.status = 400;
        return page(`Please guess a whole number from 1 to ${HIGHEST}.`);
      }
      const tries = Number(state.get("tries") ?? 0) + 1;
      state.set("tries", tries);
      if (number < secret) return page(`${number} is too low. Guesses so far: ${tries}.`);
      if (number > secret) return page(`${number} is too high. Guesses so far: ${tries}.`);
      state.set("secret", pick());
      state.set("tries", 0);
      return page(
        `Correct! It was ${number}; you took ${tries} ${tries === 1 ? "guess" : "guesses"}. ` +
          "I have picked a new number.",
      );
    },
  ),
};

const app = compose(errorPage(), session(new MemoryStore()))(publisher(moduleResolver(game)));

export default { fetch: app };
