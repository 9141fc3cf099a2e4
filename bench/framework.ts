// The benchmark framework: bench files register cases, `npm run bench` runs them and prints their tables.

/** A table a case reports: printed as Markdown, so it can be pasted into notes as is. */
export interface BenchTable {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  /** Lines printed under the table: targets met or missed, how it was measured. */
  readonly notes?: readonly string[];
}

/** What a running case gets. */
export interface BenchContext {
  /** Progress lines (stderr); tables go to stdout. */
  log(line: string): void;
  /** `--set key=value` options, for sizes and trial counts. */
  option(key: string, fallback: string): string;
  /**
   * Records a target (`what`: "--help <= 4x bare node") as met or missed and returns "met" or "MISSED" for
   * the table's notes. `npm run bench -- --strict` exits 1 when any target was missed.
   */
  target(what: string, met: boolean): string;
  readonly signal: AbortSignal;
}

export interface BenchCase {
  /** Unique, `area/name`: `operator/silent-node`. `--only` matches a substring of it. */
  readonly name: string;
  /** One line: what is measured and against which target. */
  readonly description: string;
  run(context: BenchContext): Promise<readonly BenchTable[]>;
}

const registry: BenchCase[] = [];

/** Registers a case; bench files call this at import time. */
export function registerBench(benchCase: BenchCase): void {
  if (registry.some((existing) => existing.name === benchCase.name)) {
    throw new Error(`benchmark ${benchCase.name} is registered twice`);
  }
  registry.push(benchCase);
}

/** Every registered case, in registration order. */
export function registeredBenches(): readonly BenchCase[] {
  return registry;
}

/** The median (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The p-th percentile by the nearest-rank method (p99 of 100 samples is the 99th smallest). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** A number with `digits` decimals, or "-" for NaN. */
export function fixed(value: number, digits = 1): string {
  return Number.isNaN(value) ? "-" : value.toFixed(digits);
}

/** "met" / "MISSED" for a target line. */
export function verdict(met: boolean): string {
  return met ? "met" : "MISSED";
}

/** The table as Markdown with aligned columns. */
export function formatTable(table: BenchTable): string {
  const cells = [table.columns.map(String), ...table.rows.map((row) => row.map(String))];
  const widths = table.columns.map((_, column) =>
    Math.max(...cells.map((row) => (row[column] ?? "").length)),
  );
  const line = (row: readonly string[]) =>
    `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(" | ")} |`;
  const separator = `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`;
  const notes = (table.notes ?? []).map((note) => `\n${note}`).join("");
  return `### ${table.title}\n\n${line(cells[0]!)}\n${separator}\n${cells.slice(1).map(line).join("\n")}\n${notes}\n`;
}
