// `npm run bench [-- --only <text>] [--list] [--strict] [--set key=value]...`: runs every bench/**/*.bench.ts case;
// --strict exits 1 when a case missed a target it recorded with context.target().
import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { formatTable, registeredBenches, verdict, type BenchContext } from "./framework.ts";

const BENCH_DIRECTORY = fileURLToPath(new URL(".", import.meta.url));

async function benchFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await benchFiles(path)));
    else if (entry.name.endsWith(".bench.ts")) files.push(path);
  }
  return files.sort();
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: "string", multiple: true },
      list: { type: "boolean", default: false },
      set: { type: "string", multiple: true },
      strict: { type: "boolean", default: false },
    },
  });
  for (const file of await benchFiles(BENCH_DIRECTORY)) await import(pathToFileURL(file).href);
  const selected = registeredBenches().filter(
    (benchCase) => values.only === undefined || values.only.some((text) => benchCase.name.includes(text)),
  );
  if (values.list) {
    for (const benchCase of registeredBenches())
      process.stdout.write(`${benchCase.name}  ${benchCase.description}\n`);
    return 0;
  }
  if (selected.length === 0) {
    process.stderr.write(
      `no benchmark matches ${JSON.stringify(values.only)}; see npm run bench -- --list\n`,
    );
    return 2;
  }
  const options = new Map(
    (values.set ?? []).map((pair) => {
      const index = pair.indexOf("=");
      return index === -1 ? [pair, "true"] : [pair.slice(0, index), pair.slice(index + 1)];
    }),
  );
  const abort = new AbortController();
  process.once("SIGINT", () => abort.abort());
  let failures = 0;
  const missed: string[] = [];
  for (const benchCase of selected) {
    const started = Date.now();
    process.stderr.write(`\n==> ${benchCase.name}: ${benchCase.description}\n`);
    const context: BenchContext = {
      log: (line) => process.stderr.write(`    ${line}\n`),
      option: (key, fallback) => options.get(key) ?? fallback,
      signal: abort.signal,
      target: (what, met) => {
        if (!met) missed.push(`${benchCase.name}: ${what}`);
        return verdict(met);
      },
    };
    try {
      const tables = await benchCase.run(context);
      for (const table of tables) process.stdout.write(`\n${formatTable(table)}`);
      process.stderr.write(`    (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    } catch (error) {
      failures++;
      process.stderr.write(`    FAILED: ${(error as Error).stack ?? String(error)}\n`);
    }
  }
  process.stderr.write(
    `\n${selected.length - failures} of ${selected.length} benchmarks ran (${relative(process.cwd(), BENCH_DIRECTORY) || "."})\n`,
  );
  for (const target of missed) process.stderr.write(`target MISSED: ${target}\n`);
  if (failures > 0) return 1;
  return values.strict && missed.length > 0 ? 1 : 0;
}

process.exitCode = await main();
