// `npm run envtest:binaries`: finds or builds the control-plane binaries; progress on stderr, the directory on stdout.
import { KubelabError } from "../errors.ts";
import { ensureBinaries } from "./binaries.ts";
import { progressPrinter } from "./progress.ts";

async function main(): Promise<void> {
  const started = Date.now();
  const abort = new AbortController();
  // `on`, not `once`: with a listener of ours left in place, execa's exit hook (signal-exit) leaves the
  // signal to us, and the build is cancelled in order (lock released, temporary directory removed).
  const onSignal = (signal: NodeJS.Signals): void => abort.abort(signal);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const set = await ensureBinaries({ progress: progressPrinter(), signal: abort.signal });
    process.stderr.write(
      `binaries (${set.source}) ready after ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
    );
    process.stdout.write(`${set.dir}\n`);
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

await main();
