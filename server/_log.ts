// The default logger and the one place limit and timeout hits are worded.

import type { GatewayLogger, LogLevel } from "./types.ts";

/** Writes warnings and errors to stderr, one line each; debug and info lines are dropped. */
export const defaultLogger: GatewayLogger = (level: LogLevel, message: string): void => {
  if (level === "warn" || level === "error") console.error(`flup ${level}: ${message}`);
};

/** Logs a hit limit or timeout as one warning line that names the option. */
export function logLimit(
  log: GatewayLogger,
  option: string,
  limit: number,
  what: string,
): void {
  log("warn", `${option} (${limit}) reached: ${what}`);
}
