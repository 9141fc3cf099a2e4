// `npm run kit [-- --arch arm64]`: builds or finds the offline kit; one line per piece on stderr, the kit's directory on stdout.
import { parseArgs } from "node:util";

import { runNpmScript } from "../controlplane/npm-script.ts";
import { progressPrinter } from "../controlplane/progress.ts";
import { buildKit, type KitPiece } from "./kit.ts";

function pieceLine(piece: KitPiece): string {
  const how = piece.source === "cache" ? "cached" : piece.source;
  return `kit: ${piece.name}: ${how} (${piece.seconds.toFixed(1)}s) ${piece.detail}`;
}

await runNpmScript(async (signal) => {
  const { values } = parseArgs({ options: { arch: { type: "string" } } });
  const started = Date.now();
  const kit = await buildKit({
    arch: values.arch,
    progress: progressPrinter(),
    onPiece: (piece) => process.stderr.write(`${pieceLine(piece)}\n`),
    signal,
  });
  const made = kit.pieces.filter((piece) => piece.source !== "cache").length;
  process.stderr.write(
    `kit (linux/${kit.arch}) ready after ${((Date.now() - started) / 1000).toFixed(1)}s: ` +
      (made === 0 ? "everything was cached" : `${made} of ${kit.pieces.length} pieces made`) +
      `; apt repository ${kit.paths.repository}\n`,
  );
  process.stdout.write(`${kit.paths.root}\n`);
});
