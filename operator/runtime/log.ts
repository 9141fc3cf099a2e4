// The operator's logs: one JSON object per line on stdout (winston), as log collectors expect.
import winston from "winston";

export type Logger = winston.Logger;

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * JSON lines with `time`, `level`, `msg`-style `message` and the context of child loggers (controller,
 * key, reconcileId, informer). `stream` defaults to stdout; tests pass their own.
 */
export function createOperatorLogger(
  options: { level?: LogLevel; stream?: NodeJS.WritableStream; defaultMeta?: Record<string, unknown> } = {},
): Logger {
  return winston.createLogger({
    level: options.level ?? "info",
    defaultMeta: options.defaultMeta,
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
}

/** A logger that drops everything, for library code called without one (unit tests). */
export function silentOperatorLogger(): Logger {
  return winston.createLogger({ silent: true });
}
