// `bootstrap --help` and `--version` start-up, beside the floor measured in the same run: a bare `node -e 0`.
import { fileURLToPath } from "node:url";
import { execa } from "execa";

import { fixed, median, percentile, registerBench, type BenchTable } from "../framework.ts";

const BOOTSTRAP = fileURLToPath(new URL("../../bin/bootstrap.js", import.meta.url));
/** The issue's target: within 300 ms, or at most 4x a bare Node start measured beside it. */
const TARGET_MS = 300;
const TARGET_RATIO = 4;

interface Sample {
  readonly ms: number;
  readonly rssMB: number;
}

/** One run of `node args` under GNU time: wall time from here, peak RSS from time's %M (KiB). */
async function sample(args: readonly string[]): Promise<Sample> {
  const started = process.hrtime.bigint();
  const result = await execa("/usr/bin/time", ["-f", "%M", process.execPath, ...args], { reject: false });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.exitCode !== 0)
    throw new Error(`node ${args.join(" ")} exited ${result.exitCode}: ${result.stderr}`);
  const kib = Number(result.stderr.trim().split("\n").at(-1));
  return { ms, rssMB: kib / 1024 };
}

registerBench({
  name: "cli/startup",
  description: `bootstrap --help and --version: <= ${TARGET_MS} ms or <= ${TARGET_RATIO}x a bare node start`,
  async run(context) {
    const trials = Number(context.option("trials", "15"));
    const commands = {
      "node -e 0 (floor)": ["-e", "0"],
      "bootstrap --help": [BOOTSTRAP, "--help"],
      "bootstrap --version": [BOOTSTRAP, "--version"],
    } as const;
    const samples = new Map<string, Sample[]>(Object.keys(commands).map((name) => [name, []]));
    // Interleaved, so machine load hits every command alike; the first round warms the file cache.
    for (let trial = 0; trial <= trials; trial++) {
      for (const [name, args] of Object.entries(commands)) {
        const result = await sample(args);
        if (trial > 0) samples.get(name)!.push(result);
      }
      if (context.signal.aborted) break;
    }
    const floor = median(samples.get("node -e 0 (floor)")!.map((s) => s.ms));
    const rows = [...samples].map(([name, list]) => {
      const ms = list.map((s) => s.ms);
      return [
        name,
        fixed(median(ms), 0),
        fixed(percentile(ms, 90), 0),
        fixed(median(ms) / floor, 2),
        fixed(median(list.map((s) => s.rssMB)), 0),
      ];
    });
    const notes = ["help", "version"].map((command) => {
      const value = median(samples.get(`bootstrap --${command}`)!.map((s) => s.ms));
      const met = value <= TARGET_MS || value <= TARGET_RATIO * floor;
      return `--${command}: median ${fixed(value, 0)} ms = ${fixed(value / floor, 2)}x the floor (target <= ${TARGET_MS} ms or <= ${TARGET_RATIO}x): ${context.target(`--${command} start-up`, met)}.`;
    });
    const table: BenchTable = {
      title: `CLI start-up, ${trials} interleaved trials each (Node ${process.version})`,
      columns: ["command", "median ms", "p90 ms", "x floor", "peak RSS MB"],
      rows,
      notes,
    };
    return [table];
  },
});
