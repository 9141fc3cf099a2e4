// Runs external programs (vagrant, ...) through execa: with a timeout, cancellable, every line logged.
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import { execa } from "execa";

import { CommandError, InterruptedError, MissingToolError } from "./errors.ts";
import { redactTokens } from "./provision/token.ts";

export interface RunProcessOptions {
  /** Hard limit; the child is stopped (killSignal, then SIGKILL) and a CommandError says so. */
  readonly timeoutMs: number;
  /** Aborted on Ctrl-C: the child is stopped the same way and InterruptedError is thrown. */
  readonly signal: AbortSignal;
  /** Appended to: the command line, every output line (bootstrap tokens redacted) and the outcome. */
  readonly logFile: string;
  readonly cwd?: string;
  /** Added to the inherited environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Each output line as it arrives (stdout and stderr), for live progress. Not called for secret stdout. */
  readonly onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /** stdout carries a secret (a kubeconfig): it is returned but never logged nor passed to onLine. */
  readonly secretStdout?: boolean;
  /** How to ask the child to stop; vagrant cleans up half-made VMs on SIGINT. Default SIGTERM. */
  readonly killSignal?: NodeJS.Signals;
  /** Grace period between killSignal and SIGKILL. Default 10 s. */
  readonly forceKillAfterMs?: number;
  /** When the program is missing: the install advice, turning ENOENT into MissingToolError (exit 2). */
  readonly missingToolHint?: string;
  /** Short name of the command in errors ("vagrant up m-k8s"); default the program and its arguments. */
  readonly label?: string;
  /** A file streamed to the child's stdin (an image archive for `ctr images import -`); default no stdin. */
  readonly stdinFile?: string;
}

export interface ProcessResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `file args` to completion. Resolves on exit code 0. Rejects with InterruptedError when
 * `signal` aborts, CommandError on a timeout or a non-zero exit (message ends with the last output line
 * and the log path), MissingToolError when the program is not installed and a hint was given.
 */
export async function runProcess(
  file: string,
  args: readonly string[],
  options: RunProcessOptions,
): Promise<ProcessResult> {
  const label = options.label ?? [file, ...args].join(" ");
  if (options.signal.aborted) throw new InterruptedError(abortReason(options.signal));
  const log = openLog(options.logFile);
  const started = Date.now();
  log.write(
    `\n$ ${redactTokens(label)}  [${new Date(started).toISOString()}, timeout ${seconds(options.timeoutMs)}]\n`,
  );
  let lastLine = "";
  const tap = (stream: "stdout" | "stderr") =>
    function* (line: unknown): Generator<string, void, void> {
      const text = String(line);
      const safe = redactTokens(text);
      log.write(stream === "stderr" ? `! ${safe}\n` : `${safe}\n`);
      if (safe.trim() !== "") lastLine = safe.trim();
      options.onLine?.(safe, stream);
      yield text;
    };
  const result = await execa(file, [...args], {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    killSignal: options.killSignal ?? "SIGTERM",
    forceKillAfterDelay: options.forceKillAfterMs ?? 10_000,
    ...(options.stdinFile === undefined ? { stdin: "ignore" as const } : { inputFile: options.stdinFile }),
    stdout: options.secretStdout === true ? "pipe" : { transform: tap("stdout") },
    stderr: { transform: tap("stderr") },
    reject: false,
  });
  const elapsed = seconds(Date.now() - started);
  if (result.isCanceled || options.signal.aborted) {
    log.write(`# interrupted after ${elapsed}\n`);
    await closeLog(log);
    throw new InterruptedError(abortReason(options.signal));
  }
  if (result.timedOut) {
    log.write(`# timed out after ${elapsed}\n`);
    await closeLog(log);
    throw new CommandError(label, `timed out after ${seconds(options.timeoutMs)}`, {
      logPath: options.logFile,
    });
  }
  if ("code" in result && result.code === "ENOENT") {
    log.write(`# ${file}: not found on PATH\n`);
    await closeLog(log);
    if (options.missingToolHint !== undefined) throw new MissingToolError(file, options.missingToolHint);
    throw new CommandError(label, `${file} is not installed or not on PATH`, { logPath: options.logFile });
  }
  if (result.failed) {
    const how =
      result.exitCode === undefined
        ? `was killed (${result.signal ?? "unknown signal"})`
        : `exited with code ${result.exitCode}`;
    log.write(`# ${how} after ${elapsed}\n`);
    await closeLog(log);
    throw new CommandError(label, lastLine === "" ? how : `${how}: ${lastLine}`, {
      logPath: options.logFile,
    });
  }
  log.write(`# ok after ${elapsed}\n`);
  await closeLog(log);
  return { stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** The reason a run was interrupted ("SIGINT"), as given to AbortController.abort(reason). */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === "string") return reason;
  if (reason instanceof Error && reason.name !== "AbortError") return reason.message;
  return "SIGINT";
}

function openLog(path: string): WriteStream {
  mkdirSync(dirname(path), { recursive: true });
  return createWriteStream(path, { flags: "a" });
}

function closeLog(log: WriteStream): Promise<void> {
  return new Promise((resolve) => log.end(resolve));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
}
