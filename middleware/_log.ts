// The middleware's default logger: the server's convention (warnings and errors to stderr,
// one line each), restated here because middleware imports only public server types.

import type { GatewayLogger, LogLevel } from "../server/types.ts";

/** Writes warnings and errors to stderr, one line each; debug and info lines are dropped. */
export const defaultLogger: GatewayLogger = (level: LogLevel, message: string): void => {
  if (level === "warn" || level === "error") console.error(`flup ${level}: ${message}`);
};

/** Logs a hit limit as one warning line that names the option. */
export function logLimit(log: GatewayLogger, option: string, limit: number, what: string): void {
  log("warn", `${option} (${limit}) reached: ${what}`);
}

/** The message of an error, for a log line. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Checks that an option is a whole number within bounds; throws a RangeError naming it. */
export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot use ${name} "${value}": it must be a whole number from ${min} to ${max}`,
    );
  }
  return value;
}
