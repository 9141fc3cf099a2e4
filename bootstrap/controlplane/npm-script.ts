// How the npm-script entry points (envtest:binaries, kit) run: Ctrl-C cancels in order, known errors become a message and an exit code.
import { KubelabError } from "../errors.ts";

/**
 * Runs `main` with an AbortSignal that SIGINT/SIGTERM abort. A KubelabError is printed with its hint and
 * sets its exit code (130 when interrupted); anything else is a bug and propagates with its stack.
 */
export async function runNpmScript(main: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const abort = new AbortController();
  // `on`, not `once`: with a listener of ours left in place, execa's exit hook (signal-exit) leaves the
  // signal to us, and the work is cancelled in order (locks released, temporary directories removed).
  const onSignal = (signal: NodeJS.Signals): void => abort.abort(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await main(abort.signal);
  } catch (error) {
    if (error instanceof KubelabError) {
      process.stderr.write(`error: ${error.message}\n${error.hint === undefined ? "" : `  ${error.hint}\n`}`);
      process.exitCode = abort.signal.aborted ? 130 : error.exitCode;
      return;
    }
    if (abort.signal.aborted) {
      process.stderr.write("interrupted\n");
      process.exitCode = 130;
      return;
    }
    throw error;
  }
}
