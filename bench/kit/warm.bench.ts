// The offline kit's warm path: buildKit on a built kit, beside what verifying every cached file by sha256 would cost.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

import { buildKit } from "../../bootstrap/kit/kit.ts";
import { fixed, median, percentile, registerBench, type BenchContext } from "../framework.ts";

const TARGET_WARM_MS = 1_000;

async function sha256Everything(dir: string): Promise<{ bytes: number; ms: number }> {
  const started = performance.now();
  let bytes = 0;
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    if (!(await stat(path)).isFile()) continue;
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    hash.digest();
  }
  return { bytes, ms: performance.now() - started };
}

registerBench({
  name: "kit/warm",
  description: `npm run kit's work on a built kit (target p99 < ${TARGET_WARM_MS} ms), beside a full sha256 pass`,
  async run(context: BenchContext) {
    const trials = Number(context.option("trials", "10"));
    context.log("kit/warm: building or finding the kit once (cold: minutes)");
    const first = await buildKit({ signal: context.signal });
    const made = first.pieces.filter((piece) => piece.source !== "cache").map((piece) => piece.name);
    const times: number[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const started = performance.now();
      const kit = await buildKit({ signal: context.signal });
      times.push(performance.now() - started);
      if (kit.pieces.some((piece) => piece.source !== "cache")) throw new Error("a warm run made a piece");
    }
    const full = await sha256Everything(first.paths.bin);
    const p99 = percentile(times, 99);
    return [
      {
        title: "kit: warm buildKit (everything cached)",
        columns: ["what", "median ms", "p99 ms", "runs"],
        rows: [
          ["buildKit on a built kit", fixed(median(times)), fixed(p99), trials],
          [
            `peer: sha256 of every kit binary (${fixed(full.bytes / 2 ** 20, 0)} MiB)`,
            fixed(full.ms),
            "-",
            1,
          ],
        ],
        notes: [
          `target p99 < ${TARGET_WARM_MS} ms: ${context.target(`warm buildKit p99 < ${TARGET_WARM_MS} ms`, p99 < TARGET_WARM_MS)}`,
          made.length === 0 ? "the kit was already built" : `first run made: ${made.join(", ")}`,
          "cached files are trusted when their ctime is the one recorded at their last sha256 check",
        ],
      },
    ];
  },
});
