// Timeouts of the clients without a timer per request: exchanges register a deadline, and one
// interval per client (running only while something is watched) expires the ones past it.
// A timer per request costs more than the rest of a small request's client work.

/** Something with a deadline. */
export interface Watched {
  /** When to expire (ms since the epoch); `Infinity` for never. */
  deadline: number;
  /** Called once the deadline has passed. */
  expire(): void;
}

/** Checks the deadlines of registered items every `tick` milliseconds. */
export class Watchdog {
  #items = new Set<Watched>();
  #tick: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopWhenIdle = false;

  /**
   * @param tick How often deadlines are checked: a timeout fires at most this late.
   */
  constructor(tick: number) {
    this.#tick = tick;
  }

  /** Starts watching `item` (its `deadline` may change while watched). */
  add(item: Watched): void {
    this.#items.add(item);
    if (this.#timer === undefined) {
      this.#timer = setInterval(this.#sweep, this.#tick);
      // In-flight requests keep the process alive by their reads; idle ones should not.
      Deno.unrefTimer(this.#timer);
    }
  }

  /**
   * Stops watching `item`. The interval stops at its next tick when nothing is left (at once
   * after {@linkcode Watchdog.stopIfIdle}).
   */
  delete(item: Watched): void {
    this.#items.delete(item);
    if (this.#stopWhenIdle && this.#items.size === 0) this.stop();
  }

  #sweep = (): void => {
    const now = Date.now();
    for (const item of this.#items) {
      if (item.deadline <= now) {
        this.#items.delete(item);
        item.expire();
      }
    }
    if (this.#items.size === 0) this.stop();
  };

  /** Stops the interval as soon as nothing is watched (the owner is closing). */
  stopIfIdle(): void {
    this.#stopWhenIdle = true;
    if (this.#items.size === 0) this.stop();
  }

  /** Stops the interval now (watched items are forgotten). */
  stop(): void {
    this.#items.clear();
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** The check interval for a set of timeouts: a quarter of the shortest, within 10 ms..250 ms. */
export function tickFor(...timeouts: number[]): number {
  return Math.min(250, Math.max(10, Math.floor(Math.min(...timeouts) / 4)));
}
