// `npm run envtest:binaries`: finds or builds the control-plane binaries; progress on stderr, the directory on stdout.
import { ensureBinaries } from "./binaries.ts";
import { runNpmScript } from "./npm-script.ts";
import { progressPrinter } from "./progress.ts";

await runNpmScript(async (signal) => {
  const started = Date.now();
  const set = await ensureBinaries({ progress: progressPrinter(), signal });
  process.stderr.write(
    `binaries (${set.source}) ready after ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
  process.stdout.write(`${set.dir}\n`);
});
