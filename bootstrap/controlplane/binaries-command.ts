// `npm run envtest:binaries`: finds or builds the control-plane binaries; progress on stderr, the directory on stdout.
import { KubelabError } from "../errors.ts";
import { ensureBinaries } from "./binaries.ts";
import { progressPrinter } from "./progress.ts";

async function main(): Promise<void> {
  const started = Date.now();
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
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
