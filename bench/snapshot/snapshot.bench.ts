// Snapshot agent benchmarks: save time vs plain `etcdctl snapshot save`, the cost of verify, and agent memory.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

import { Etcdutl } from "../../operator/snapshot/etcdutl.ts";
import { verifySnapshotFile } from "../../operator/snapshot/verify.ts";
import { loadData, startTestEtcd, type TestEtcd } from "../../test/integration/snapshot-etcd.ts";
import { fixed, median, registerBench, type BenchContext } from "../framework.ts";

const AGENT_PROCESS = fileURLToPath(new URL("./agent-process.ts", import.meta.url));
const MIB = 1024 * 1024;
/** GNU time reports a child's peak RSS; optional (the etcdctl/etcdutl RSS columns say "-" without it). */
const GNU_TIME = "/usr/bin/time";

interface AgentRun {
  readonly wallMs: number;
  readonly stepMs: number;
  readonly maxRssBytes: number;
  readonly sizeBytes: number;
}

/**
 * How the agent process is started. `cold`: plain `node`, every module compiled (and its types stripped)
 * on start. `tuned`: as the CronJob runs it, with Node's compile cache warm (NODE_COMPILE_CACHE, which an
 * image can ship) and a 1 MiB young generation (--max-semi-space-size=1), which frees the stream's dead
 * buffers sooner.
 */
type Launch = "cold" | "tuned";

/** Runs the agent in its own process (Node's start included in wallMs, as for etcdctl). */
async function runAgent(
  etcd: TestEtcd,
  mode: "save" | "take" | "idle",
  dir: string,
  scratch: string,
  launch: Launch,
): Promise<AgentRun> {
  const request = { mode, connection: etcd.connection, dir, etcdutl: etcd.etcdutl, workDir: scratch };
  const flags = launch === "tuned" ? ["--max-semi-space-size=1"] : [];
  const env = launch === "tuned" ? { NODE_COMPILE_CACHE: join(scratch, "node-compile-cache") } : {};
  const command = [process.execPath, ...flags, AGENT_PROCESS, JSON.stringify(request)];
  // The agent reports its own peak RSS (RUSAGE_SELF: etcdutl children excluded). Linux carries ru_maxrss
  // across fork and exec, so a child of this large bench process would start at the bench's RSS: GNU time
  // in between makes the agent's parent a small one. Without GNU time the figure is an upper bound.
  const started = performance.now();
  const result = existsSync(GNU_TIME)
    ? await execa(GNU_TIME, ["-f", "%M", "-o", "/dev/null", ...command], { timeout: 30 * 60_000, env })
    : await execa(command[0]!, command.slice(1), { timeout: 30 * 60_000, env });
  const wallMs = performance.now() - started;
  const line = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}") as Omit<AgentRun, "wallMs">;
  return { wallMs, ...line };
}

/** `etcdctl snapshot save` with the same credentials; peak RSS through GNU time when it exists. */
async function runEtcdctl(etcd: TestEtcd, file: string): Promise<{ wallMs: number; maxRssBytes: number }> {
  const args = [
    `--endpoints=${etcd.endpoint}`,
    `--cacert=${etcd.connection.caCertPath}`,
    `--cert=${etcd.connection.certPath}`,
    `--key=${etcd.connection.keyPath}`,
    "snapshot",
    "save",
    file,
  ];
  return timed(etcd.etcdctl, args);
}

async function timed(command: string, args: string[]): Promise<{ wallMs: number; maxRssBytes: number }> {
  const rssFile = join(tmpdir(), `kubelab-bench-${randomBytes(4).toString("hex")}.rss`);
  const withTime = existsSync(GNU_TIME);
  const started = performance.now();
  if (withTime) {
    await execa(GNU_TIME, ["-f", "%M", "-o", rssFile, command, ...args], { timeout: 30 * 60_000 });
  } else {
    await execa(command, args, { timeout: 30 * 60_000 });
  }
  const wallMs = performance.now() - started;
  const maxRssBytes = withTime ? Number((await readFile(rssFile, "utf8")).trim()) * 1024 : Number.NaN;
  await rm(rssFile, { force: true });
  return { wallMs, maxRssBytes };
}

async function withEtcd<T>(
  context: BenchContext,
  sizeMb: number,
  body: (etcd: TestEtcd, scratch: string) => Promise<T>,
): Promise<T> {
  const etcd = await startTestEtcd({ unsafeNoFsync: true });
  const scratch = await mkdtemp(join(tmpdir(), "kubelab-snapshot-bench-"));
  try {
    const started = performance.now();
    await loadData(etcd.client, sizeMb * MIB, { prefix: "bench" });
    const status = await etcd.client.status();
    context.log(
      `etcd ${etcd.endpoint}: loaded ${sizeMb} MiB in ${fixed((performance.now() - started) / 1000)} s ` +
        `(db ${fixed(status.dbSize / MIB)} MiB)`,
    );
    return await body(etcd, scratch);
  } finally {
    await etcd.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

const mib = (bytes: number): string => fixed(bytes / MIB);
const seconds = (ms: number): string => fixed(ms / 1000, 2);

registerBench({
  name: "snapshot/save-vs-etcdctl",
  description:
    "agent save vs `etcdctl snapshot save` on one etcd with >= 100 MiB (median of 5, target <= 1.2x), and the cost of verify",
  async run(context) {
    const sizeMb = Number(context.option("sizeMb", "128"));
    const trials = Number(context.option("trials", "5"));
    return withEtcd(context, sizeMb, async (etcd, scratch) => {
      const runs = { etcdctl: [] as number[], cold: [] as number[], tuned: [] as number[] };
      const stepMs: number[] = [];
      let sizeBytes = 0;
      const tools = ["etcdctl", "cold", "tuned"] as const;
      // One untimed round first: the database in the page cache for all, the compile cache warm.
      for (let trial = -1; trial < trials; trial++) {
        const dir = await mkdtemp(join(scratch, "save-"));
        // Rotate the order, so that no tool always runs right after the same other one.
        const order = tools.map((_, index) => tools[(index + trial + 1) % tools.length]!);
        for (const tool of order) {
          let wallMs: number;
          if (tool === "etcdctl") {
            wallMs = (await runEtcdctl(etcd, join(dir, "etcdctl.db"))).wallMs;
            await rm(join(dir, "etcdctl.db"), { force: true });
          } else {
            const run = await runAgent(etcd, "save", dir, scratch, tool);
            await rm(join(dir, "bench.db"), { force: true });
            sizeBytes = run.sizeBytes;
            wallMs = run.wallMs;
            if (trial >= 0) stepMs.push(run.stepMs);
          }
          if (trial >= 0) runs[tool].push(wallMs);
        }
        await rm(dir, { recursive: true, force: true });
        if (trial >= 0) {
          context.log(
            `trial ${trial + 1}: ` +
              tools.map((tool) => `${tool} ${seconds(runs[tool].at(-1)!)} s`).join(", "),
          );
        }
      }

      // Verify: the trial restore (default) and status-only, on one saved file; then whole CronJob runs.
      const dir = await mkdtemp(join(scratch, "verify-"));
      await runAgent(etcd, "save", dir, scratch, "tuned");
      const file = join(dir, "bench.db");
      const etcdutl = new Etcdutl({ command: etcd.etcdutl, logFile: join(scratch, "etcdutl.log") });
      const restoreMs: number[] = [];
      const statusMs: number[] = [];
      for (let trial = 0; trial < trials; trial++) {
        for (const trialRestore of [true, false]) {
          const report = await verifySnapshotFile(file, {}, { etcdutl, workDir: scratch, trialRestore });
          if (!report.ok) throw new Error(`verification failed: ${report.message}`);
          (trialRestore ? restoreMs : statusMs).push(report.durationMs);
        }
      }
      const takeMs: number[] = [];
      for (let trial = 0; trial < trials; trial++) {
        takeMs.push((await runAgent(etcd, "take", dir, scratch, "tuned")).wallMs);
      }

      const etcdctl = median(runs.etcdctl);
      const versus = (values: readonly number[]): string => fixed(median(values) / etcdctl, 2);
      const rate = (values: readonly number[]): string => fixed(sizeBytes / MIB / (median(values) / 1000));
      const ratio = median(runs.tuned) / etcdctl;
      const save = median(runs.tuned);
      const versusSave = (values: readonly number[]): string => fixed(median(values) / save, 2);
      return [
        {
          title:
            `etcd snapshot save, ${mib(sizeBytes)} MiB snapshot ` +
            `(${sizeMb} MiB of values; median of ${trials}, each run a fresh process)`,
          columns: ["tool", "median s", "min s", "max s", "MiB/s", "x etcdctl"],
          rows: [
            ["etcdctl snapshot save", ...stats(runs.etcdctl), rate(runs.etcdctl), "1.00"],
            ["agent save, cold Node start", ...stats(runs.cold), rate(runs.cold), versus(runs.cold)],
            ["agent save, tuned start", ...stats(runs.tuned), rate(runs.tuned), versus(runs.tuned)],
            ["  the save step alone", ...stats(stepMs), rate(stepMs), versus(stepMs)],
          ],
          notes: [
            `agent (tuned) / etcdctl = ${fixed(ratio, 2)}x (target <= 1.2x: ${context.target("agent save (tuned) <= 1.2x etcdctl", ratio <= 1.2)}). ` +
              "Tuned: Node's compile cache warm and --max-semi-space-size=1, as the CronJob runs it. " +
              "The agent also computes the file's sha256, checks etcd's sha256 trailer and fsyncs the " +
              "directory; etcdctl does none of these. The save step alone: connect, stream, hash, write, fsync.",
          ],
        },
        {
          title: `verify cost, same snapshot (median of ${trials})`,
          columns: ["step", "median s", "min s", "max s", "x save"],
          rows: [
            ["status only (etcdutl snapshot status)", ...stats(statusMs), versusSave(statusMs)],
            ["trial restore (status, restore, status)", ...stats(restoreMs), versusSave(restoreMs)],
            ["whole run: save + verify + record + prune", ...stats(takeMs), versusSave(takeMs)],
          ],
        },
      ];
    });
  },
});

registerBench({
  name: "snapshot/agent-rss",
  description: "agent peak RSS by snapshot size (target < 100 MB at 1 GiB: memory must not grow with size)",
  async run(context) {
    const sizes = context
      .option("sizesMb", "128,1024")
      .split(",")
      .map(Number)
      .sort((a, b) => a - b);
    const largest = sizes.at(-1) ?? 128;
    const rows: (string | number)[][] = [];
    let largestTuned = 0;
    await withEtcd(context, sizes[0] ?? largest, async (etcd, scratch) => {
      let loaded = sizes[0] ?? largest;
      // Warms the compile cache of the tuned runs, and shows what Node and the modules take by themselves.
      await runAgent(etcd, "idle", scratch, scratch, "tuned");
      const idleCold = await runAgent(etcd, "idle", scratch, scratch, "cold");
      const idleTuned = await runAgent(etcd, "idle", scratch, scratch, "tuned");
      rows.push([
        "nothing (modules loaded)",
        "-",
        mib(idleCold.maxRssBytes),
        mib(idleTuned.maxRssBytes),
        "-",
        "-",
        "-",
      ]);
      for (const sizeMb of sizes) {
        if (sizeMb > loaded) {
          const started = performance.now();
          await loadData(etcd.client, (sizeMb - loaded) * MIB, { prefix: `more-${sizeMb}` });
          loaded = sizeMb;
          context.log(`loaded up to ${sizeMb} MiB in ${fixed((performance.now() - started) / 1000)} s`);
        }
        const dir = await mkdtemp(join(scratch, "rss-"));
        const cold = await runAgent(etcd, "save", dir, scratch, "cold");
        await rm(join(dir, "bench.db"));
        const tuned = await runAgent(etcd, "save", dir, scratch, "tuned");
        const etcdctl = await runEtcdctl(etcd, join(dir, "etcdctl.db"));
        const restoreDir = await mkdtemp(join(scratch, "restore-"));
        const etcdutl = await timed(etcd.etcdutl, [
          "snapshot",
          "restore",
          join(dir, "bench.db"),
          `--data-dir=${join(restoreDir, "etcd")}`,
        ]);
        await rm(restoreDir, { recursive: true, force: true });
        const take = await runAgent(etcd, "take", dir, scratch, "tuned");
        await rm(dir, { recursive: true, force: true });
        context.log(
          `${sizeMb} MiB: save RSS cold ${mib(cold.maxRssBytes)} MiB, tuned ${mib(tuned.maxRssBytes)} MiB, ` +
            `whole run ${mib(take.maxRssBytes)} MiB`,
        );
        if (sizeMb === largest) largestTuned = Math.max(tuned.maxRssBytes, take.maxRssBytes);
        rows.push([
          `${sizeMb} MiB of values`,
          mib(tuned.sizeBytes),
          mib(cold.maxRssBytes),
          mib(tuned.maxRssBytes),
          mib(take.maxRssBytes),
          mib(etcdctl.maxRssBytes),
          mib(etcdutl.maxRssBytes),
        ]);
      }
    });
    const met = largestTuned < 100 * 1000 * 1000;
    return [
      {
        title: "peak RSS (MiB) of one process, by snapshot size",
        columns: [
          "saved",
          "snapshot MiB",
          "agent save, cold",
          "agent save, tuned",
          "agent save+verify+record, tuned",
          "etcdctl save",
          "etcdutl restore",
        ],
        rows,
        notes: [
          `largest: ${largest} MiB of values; agent (tuned, save and whole run) peak ${mib(largestTuned)} MiB = ` +
            `${fixed(largestTuned / 1e6)} MB (target < 100 MB: ${context.target("agent peak RSS < 100 MB", met)}` +
            `${largest >= 1024 ? "" : "; measured below 1 GiB"}). ` +
            "The first row is Node 24 with the agent's modules loaded and nothing done: most of the total. " +
            "etcdutl runs as a separate child during verify; its RSS is its own.",
        ],
      },
    ];
  },
});

function stats(values: readonly number[]): string[] {
  return [seconds(median(values)), seconds(Math.min(...values)), seconds(Math.max(...values))];
}
