// What every command shares: where the lab lives, its logger, its state, its provider, how it talks to the user.
import { dirname, isAbsolute, resolve } from "node:path";
import { createInterface } from "node:readline/promises";

import { loadLab, type Lab, type LabOverrides } from "../lab/config.ts";
import { StateError, UsageError } from "../errors.ts";
import { readTextIfExists } from "../files.ts";
import { addLogFile, createLogger, type Logger } from "../log.ts";
import { createProvider } from "../providers/index.ts";
import type { Provider, ProviderContext } from "../providers/provider.ts";
import { LabState } from "../lab/state.ts";
import { cliLogPath, createWorkDir, secureWorkDir, workDirFor, type WorkDir } from "../lab/workdir.ts";

/** Options every command accepts (`-c`, `--verbose`). */
export interface GlobalOptions {
  readonly config: string;
  readonly verbose?: boolean;
}

/** The process around a command: output, input, cancellation. Injected so commands stay testable. */
export interface CommandIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  /** Aborted by SIGINT/SIGTERM with the signal's name as reason. */
  readonly signal: AbortSignal;
  readonly env: NodeJS.ProcessEnv;
}

/** A command's view of its lab: paths, logger (console + .kubelab/logs/bootstrap.log), state. */
export interface LabSession {
  readonly configPath: string;
  readonly labDir: string;
  readonly workDir: WorkDir;
  readonly logger: Logger;
  readonly state: LabState;
  readonly io: CommandIo;
}

/**
 * Opens the lab next to `-c` (default ./lab.yaml): refuses a `.kubelab/` another user could write to
 * (secureWorkDir), reads state.json and writes nothing but tighter modes. Commands that change the lab call
 * `recordLog` once their input is valid.
 */
export async function openSession(global: GlobalOptions, io: CommandIo): Promise<LabSession> {
  const configPath = resolve(global.config);
  const workDir = workDirFor(configPath);
  await secureWorkDir(workDir);
  const logger = createLogger({ level: global.verbose === true ? "debug" : "info", stream: io.stderr });
  const state = await LabState.load(workDir.stateFile);
  return { configPath, labDir: dirname(configPath), workDir, logger, state, io };
}

/** From now on, the session's log also goes to .kubelab/logs/bootstrap.log. */
export function recordLog(session: LabSession, command: string): void {
  createWorkDir(session.workDir.root);
  addLogFile(session.logger, cliLogPath(session.workDir.root));
  session.logger.debug(`bootstrap ${command}: lab.yaml ${session.configPath}, pid ${process.pid}`);
}

/**
 * The lab to work on: the one recorded when the machines were created (what exists) when there is one,
 * else lab.yaml. Commands that act on existing machines (down, status, ssh) use this, so an edited
 * lab.yaml never makes them miss a VM.
 */
export async function existingOrConfiguredLab(session: LabSession): Promise<Lab> {
  return session.state.lab ?? (await loadLab(session.configPath, {}, true));
}

/** lab.yaml with the command-line overrides; a relative calico.manifest is made relative to lab.yaml. */
export async function configuredLab(session: LabSession, overrides: LabOverrides): Promise<Lab> {
  const lab = await loadLab(session.configPath, overrides, true);
  const manifest = lab.calico.manifest;
  if (manifest === undefined || isAbsolute(manifest)) return lab;
  return { ...lab, calico: { ...lab.calico, manifest: resolve(session.labDir, manifest) } };
}

/** The lab's admin kubeconfig (its text); a StateError saying to run `up` when the lab has none yet. */
export async function requireLabKubeconfig(session: LabSession, lab: Lab): Promise<string> {
  const text = await readTextIfExists(session.workDir.kubeconfigFile);
  if (text === undefined) {
    throw new StateError(`lab ${lab.name} has no kubeconfig yet (${session.workDir.kubeconfigFile})`, {
      hint: "run `bootstrap up` first",
    });
  }
  return text;
}

/**
 * Confirmation for a command that destroys or replaces something. With --yes it goes on; on a terminal it
 * asks `question` (yes: "y" or "yes"); without a terminal it refuses with a UsageError (`refusal`, exit 2)
 * before anything changed. `preamble`, what is about to happen, is printed whenever it goes on or asks.
 */
export async function confirm(
  io: CommandIo,
  options: { yes?: boolean; refusal: string; question: string; preamble?: string },
): Promise<boolean> {
  if (options.yes !== true && (io.stdin.isTTY !== true || io.stdout.isTTY !== true)) {
    throw new UsageError(options.refusal, { hint: "run it in a terminal to be asked, or pass --yes" });
  }
  if (options.preamble !== undefined) io.stdout.write(`${options.preamble}\n`);
  if (options.yes === true) return true;
  const prompt = createInterface({ input: io.stdin, output: io.stdout });
  try {
    const answer = await prompt.question(options.question, { signal: io.signal });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

export function providerFor(lab: Lab): Provider {
  return createProvider(lab.provider);
}

export function providerContextOf(
  session: LabSession,
  progress?: ProviderContext["progress"],
): ProviderContext {
  return {
    workDir: session.workDir.root,
    logger: session.logger,
    signal: session.io.signal,
    ...(progress ? { progress } : {}),
  };
}

/** Flushes the log file before the process exits. */
export function closeLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    logger.on("finish", () => resolve());
    logger.end();
    setTimeout(resolve, 500).unref();
  });
}

/** Reads a whole-second duration from the environment, or the default. */
export function secondsFromEnv(env: NodeJS.ProcessEnv, name: string, defaultSeconds: number): number {
  const value = Number(env[name]);
  return (Number.isFinite(value) && value > 0 ? value : defaultSeconds) * 1000;
}
