// examples/guess.ts: a binary search finds the number in at most 7 guesses; bad guesses
// get a 400 and keep the game.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import game from "../../examples/guess.ts";
import { type Client, testOverHttpAndFastCgi } from "./_harness.ts";

/** Plays one game by bisection; returns the number of guesses it took. */
async function play(player: Client): Promise<number> {
  let low = 1;
  let high = 100;
  for (let guesses = 1; guesses <= 7; guesses++) {
    const guess = Math.floor((low + high) / 2);
    const response = await player.post("/", { guess: String(guess) });
    assertEquals(response.status, 200);
    const page = await response.text();
    if (page.includes("Correct!")) {
      assertStringIncludes(page, `It was ${guess}; you took ${guesses} guess`);
      return guesses;
    }
    if (page.includes(`${guess} is too low`)) low = guess + 1;
    else if (page.includes(`${guess} is too high`)) high = guess - 1;
    else throw new Error(`unexpected page: ${page}`);
    assertStringIncludes(page, `Guesses so far: ${guesses}.`);
  }
  throw new Error("not found in 7 guesses");
}

testOverHttpAndFastCgi(
  "examples/guess.ts answers too low / too high until the number is found",
  () => ({ handler: game.fetch }),
  async (newClient) => {
    const player = newClient();
    const [status, page] = await player.text("/");
    assertEquals(status, 200);
    assertStringIncludes(page, "I am thinking of a number from 1 to 100.");
    for (const bad of ["0", "101", "abc", "5.5", ""]) {
      const response = await player.post("/", { guess: bad });
      assertEquals(response.status, 400, bad);
      assertStringIncludes(await response.text(), "Please guess a whole number from 1 to 100.");
    }
    assert((await play(player)) <= 7);
    // A new number: the next game is played the same way.
    assert((await play(player)) <= 7);
    // Another player has a game of their own.
    const other = newClient();
    assertStringIncludes((await other.text("/"))[1], "I am thinking of a number");
    assertEquals((await other.text("/", { method: "PUT" }))[0], 405);
  },
);
