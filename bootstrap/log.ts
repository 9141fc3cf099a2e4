// The CLI's winston logger: short human lines on stderr, full JSON records in .kubelab/logs/bootstrap.log.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import winston from "winston";

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** JSON log file; its directory is created. Omit for no file (tests, `--help`). */
  readonly file?: string;
  /** Console verbosity: `info` by default, `debug` with `--verbose`, `warn` with `--quiet`. */
  readonly level?: "debug" | "info" | "warn" | "error";
  /** Console stream; stderr so that stdout stays for command output (kubeconfig, status --output json). */
  readonly stream?: NodeJS.WritableStream;
}

/**
 * Creates the CLI logger. Console lines carry no timestamps or levels for `info` (they are the CLI's
 * voice); warnings and errors are prefixed. The file always records everything at debug level.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const transports: winston.transport[] = [
    new winston.transports.Stream({
      stream: options.stream ?? process.stderr,
      level: options.level ?? "info",
      format: winston.format.printf(({ level, message }) =>
        level === "info" || level === "debug" ? String(message) : `${level}: ${String(message)}`,
      ),
    }),
  ];
  if (options.file !== undefined) transports.push(fileTransport(options.file));
  return winston.createLogger({ level: "debug", transports });
}

/**
 * Starts recording `logger` into `file` (JSON, debug level; the directory is created). Commands call it
 * once their input is valid, so a rejected lab.yaml leaves no trace on disk.
 */
export function addLogFile(logger: Logger, file: string): void {
  logger.add(fileTransport(file));
}

function fileTransport(file: string): winston.transport {
  mkdirSync(dirname(file), { recursive: true });
  return new winston.transports.File({
    filename: file,
    level: "debug",
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  });
}

/** A logger that drops everything, for library code called without one. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true });
}
