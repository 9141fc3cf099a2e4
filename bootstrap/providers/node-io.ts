// What every provider with a node shell does the same way: script progress, failures named by node and step, copied secrets.
import { execa } from "execa";

import { CommandError, InterruptedError, MissingToolError, StepError } from "../errors.ts";
import { FileMode, writeFileAtomic } from "../files.ts";
import { abortReason } from "../process.ts";
import type { ProviderContext } from "./provider.ts";

/**
 * The live-progress tap of a node script: the rendered scripts mark their steps with "==> "; everything
 * else (apt, kubeadm, etcdutl) goes to the node's log only.
 */
export function scriptMarkers(node: string, context: ProviderContext): (line: string) => void {
  return (line) => {
    if (line.startsWith("==> ")) context.progress?.(node, line.slice(4));
  };
}

/**
 * A command that failed on a node, as the failure of the step it served: a StepError naming the step, the
 * node, the command's last words and the node's log. Anything but a CommandError is returned unchanged.
 */
export function asStepFailure(
  error: unknown,
  step: string,
  node: string,
  logPath: string,
  options: { command?: string; hint?: string } = {},
): unknown {
  if (!(error instanceof CommandError)) return error;
  let message = error.message.replace(/ \(log: .*\)$/, "");
  // A long command line (all its flags) stays in the log; the message may name it shortly.
  if (options.command !== undefined && message.startsWith(`${error.command}: `)) {
    message = `${options.command}: ${message.slice(error.command.length + 2)}`;
  }
  return new StepError(step, message, {
    node,
    logPath,
    cause: error,
    ...(options.hint === undefined ? {} : { hint: options.hint }),
  });
}

/**
 * Writes what was read from a file on a node to `localPath`, atomically and owner-only (callers copy
 * secrets such as admin.conf). An empty read is a CommandError: a missing newline is added, nothing else.
 */
export async function writeCopiedFile(
  content: string,
  localPath: string,
  from: { node: string; remotePath: string; logPath: string },
): Promise<void> {
  if (content.trim() === "") {
    throw new CommandError(`copy ${from.remotePath} from ${from.node}`, "the file is empty", {
      logPath: from.logPath,
    });
  }
  await writeFileAtomic(localPath, content.endsWith("\n") ? content : `${content}\n`, FileMode.secret);
}

/**
 * Runs `file args` with the user's terminal attached (`bootstrap ssh`) and resolves with its exit code.
 * No timeout: the terminal is the user's and so is the duration. MissingToolError (with `installHint`)
 * when the program is not installed; InterruptedError when the context is aborted.
 */
export async function runInteractive(
  file: string,
  args: readonly string[],
  context: ProviderContext,
  options: { installHint: string; env?: Record<string, string> },
): Promise<number> {
  const result = await execa(file, [...args], {
    cwd: context.workDir,
    ...(options.env === undefined ? {} : { env: options.env }),
    stdio: "inherit",
    cancelSignal: context.signal,
    reject: false,
  });
  if ("code" in result && result.code === "ENOENT") throw new MissingToolError(file, options.installHint);
  if (result.isCanceled) throw new InterruptedError(abortReason(context.signal));
  return result.exitCode ?? 1;
}
