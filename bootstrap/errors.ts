// The bootstrap CLI's named errors and the exit codes they map to (one top-level catch in cli.ts).

/** Exit codes of `bootstrap`, documented in `bootstrap --help` and the README. */
export const ExitCode = {
  ok: 0,
  /** Something failed while running: a node step, a provider command, the API server. */
  failure: 1,
  /** Bad input: lab.yaml, flags, or a missing tool the user must install. Nothing was changed. */
  badInput: 2,
  /** Interrupted by SIGINT/SIGTERM; children were stopped and state left consistent. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Base class: every error the CLI knows how to explain. `exitCode` decides the process exit status. */
export abstract class KubelabError extends Error {
  abstract readonly exitCode: ExitCode;
  /** The next thing the user can do, printed after the message. */
  readonly hint: string | undefined;

  constructor(message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

export interface ConfigProblem {
  /** YAML path of the offending value, such as `workers.nodes[1].ip`; empty for the whole document. */
  readonly path: string;
  readonly message: string;
}

/** lab.yaml is invalid. Carries every problem at once, each with its YAML path. */
export class ConfigError extends KubelabError {
  readonly exitCode = ExitCode.badInput;
  readonly source: string;
  readonly problems: readonly ConfigProblem[];

  /** `options.summary` replaces the first line ("SOURCE is not a valid lab"). */
  constructor(
    source: string,
    problems: readonly ConfigProblem[],
    options: { cause?: unknown; hint?: string; summary?: string } = {},
  ) {
    const lines = problems.map((p) => `  - ${p.path === "" ? "(document)" : p.path}: ${p.message}`);
    super(`${options.summary ?? `${source} is not a valid lab`}:\n${lines.join("\n")}`, {
      ...options,
      hint: options.hint ?? "fix the fields above (see `bootstrap init` for a commented example)",
    });
    this.source = source;
    this.problems = problems;
  }
}

/** A flag or argument is wrong (unknown node name, bad version...). */
export class UsageError extends KubelabError {
  readonly exitCode = ExitCode.badInput;
}

/**
 * A program the chosen provider needs is not installed (vagrant, kind, go). The message is one line
 * that says what to install: `vagrant is not installed or not on PATH: install Vagrant (URL) ...`.
 */
export class MissingToolError extends KubelabError {
  readonly exitCode = ExitCode.badInput;
  readonly tool: string;

  constructor(tool: string, installHint: string) {
    super(`${tool} is not installed or not on PATH: ${installHint}`);
    this.tool = tool;
  }
}

/** A step of the plan failed on a node. Names the node, the step and the log to read. */
export class StepError extends KubelabError {
  readonly exitCode = ExitCode.failure;
  readonly step: string;
  readonly node: string | undefined;
  readonly logPath: string | undefined;

  constructor(
    step: string,
    message: string,
    options: { node?: string; logPath?: string; cause?: unknown; hint?: string } = {},
  ) {
    const where = options.node === undefined ? step : `${step} on ${options.node}`;
    const log = options.logPath === undefined ? "" : ` (log: ${options.logPath})`;
    super(`${where} failed: ${message}${log}`, options);
    this.step = step;
    this.node = options.node;
    this.logPath = options.logPath;
  }
}

/** An external command failed or timed out. */
export class CommandError extends KubelabError {
  readonly exitCode = ExitCode.failure;
  readonly command: string;
  readonly logPath: string | undefined;

  constructor(
    command: string,
    message: string,
    options: { logPath?: string; cause?: unknown; hint?: string } = {},
  ) {
    super(
      `${command}: ${message}${options.logPath === undefined ? "" : ` (log: ${options.logPath})`}`,
      options,
    );
    this.command = command;
    this.logPath = options.logPath;
  }
}

/** The lab is not in a state the command can work with (not created yet, created by another provider...). */
export class StateError extends KubelabError {
  readonly exitCode = ExitCode.failure;
}

/** The user pressed Ctrl-C or the process got SIGTERM. */
export class InterruptedError extends KubelabError {
  readonly exitCode = ExitCode.interrupted;

  constructor(signal: string) {
    super(`interrupted by ${signal}`, { hint: "run the same command again to resume where it stopped" });
  }
}

/**
 * An image could not be built, read or loaded: a bad layer entry, an archive that is not an OCI image, a
 * Dockerfile stage bootstrap cannot assemble, or a base image neither the registry, a mirror nor an archive
 * given on the command line provides (the hint says which to provide).
 */
export class ImageError extends KubelabError {
  readonly exitCode = ExitCode.failure;
}

/**
 * A registry answered with an error, refused the credentials, or sent content whose digest is not the one
 * asked for (never used: a corrupted or tampered blob is an error, not a retry).
 */
export class RegistryError extends KubelabError {
  readonly exitCode = ExitCode.failure;
  /** The HTTP status, when the registry answered. */
  readonly status: number | undefined;

  constructor(message: string, options: { status?: number; cause?: unknown; hint?: string } = {}) {
    super(message, options);
    this.status = options.status;
  }
}
