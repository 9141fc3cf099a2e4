// Showing a run: exact plain lines for logs and CI, and the listr2 live view driven on a real pseudo-terminal.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import type { LabStep, NodeStep } from "../../../bootstrap/up/step.ts";
import { formatDuration, PlainReporter } from "../../../bootstrap/up/progress.ts";
import { labOf, NODE, REPO, tempDir } from "../helpers.ts";

const lab = labOf({ workers: { count: 2 } });
const labStep: LabStep = { id: "init", title: "Initialise", scope: "lab", run: () => Promise.resolve() };
const nodeStep: NodeStep = {
  id: "prepare",
  title: "Prepare",
  scope: "node",
  nodes: lab.nodes,
  concurrency: 2,
  run: () => Promise.resolve(),
};

describe("up/progress", () => {
  it("formats durations for people", () => {
    expect(formatDuration(1234)).to.equal("1.2s");
    expect(formatDuration(64_000)).to.equal("1m04s");
    expect(formatDuration(3_600_000)).to.equal("60m00s");
  });

  it("plain reporter: one numbered line per event, node lines indented and named", () => {
    const lines: string[] = [];
    const reporter = new PlainReporter((line) => lines.push(line));
    reporter.begin([labStep, nodeStep]);
    reporter.stepStarted(labStep);
    reporter.stepProgress(labStep, "kubeadm init", "m-k8s");
    reporter.stepDone(labStep, 61_000, "summary");
    reporter.stepStarted(nodeStep);
    reporter.nodeUpToDate(nodeStep, "m-k8s");
    reporter.nodeStarted(nodeStep, "w1-k8s");
    reporter.nodeDone(nodeStep, "w1-k8s", 2500);
    reporter.nodeFailed(nodeStep, "w2-k8s", new Error("prepare on w2-k8s failed: exit 1\nmore"));
    reporter.stepFailed(nodeStep, new Error("prepare on w2-k8s failed: exit 1"));
    expect(lines).to.deep.equal([
      "[1/2] run   Initialise",
      "        m-k8s | kubeadm init",
      "[1/2] done  Initialise (1m01s; summary)",
      "[2/2] run   Prepare",
      "        m-k8s | already done",
      "        w1-k8s | started",
      "        w1-k8s | done in 2.5s",
      "        w2-k8s | FAILED: prepare on w2-k8s failed: exit 1",
      "[2/2] FAIL  Prepare: prepare on w2-k8s failed: exit 1",
    ]);
  });

  it("listr2 view on a terminal: per-node lines under a running step, results, and it always finishes", async function () {
    this.timeout(30_000);
    const dir = await tempDir();
    const driver = join(dir, "driver.ts");
    await writeFile(
      driver,
      `import { ListrReporter } from ${JSON.stringify(join(REPO, "bootstrap/up/progress.ts"))};
const nodes = [{ name: "m-k8s" }, { name: "w1-k8s" }];
const steps = [
  { id: "files", title: "Render files", scope: "lab" },
  { id: "skipme", title: "Skipped step", scope: "lab", skipReason: "no shell" },
  { id: "prepare", title: "Prepare nodes", scope: "node", nodes, concurrency: 2 },
  { id: "calico", title: "Apply Calico", scope: "lab" },
  { id: "never", title: "Never reached", scope: "lab" },
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const r = new ListrReporter();
r.begin(steps);
r.stepStarted(steps[0]); await sleep(50); r.stepDone(steps[0], 50, "12 files");
r.stepSkipped(steps[1], "no shell");
r.stepStarted(steps[2]);
r.nodeStarted(steps[2], "m-k8s"); r.nodeStarted(steps[2], "w1-k8s");
r.stepProgress(steps[2], "loading br_netfilter", "m-k8s"); await sleep(150);
r.nodeDone(steps[2], "m-k8s", 1000); r.nodeFailed(steps[2], "w1-k8s", new Error("prepare on w1-k8s failed: boom")); await sleep(150);
r.stepDone(steps[2], 1100, undefined);
r.stepStarted(steps[3]); r.stepProgress(steps[3], "applied 10/12 objects"); await sleep(150);
r.stepFailed(steps[3], new Error("calico failed: API down"));
await r.end();
console.log("END-OF-DRIVER");
`,
    );
    const result = await execa("script", ["-qec", `stty cols 120 rows 40; ${NODE} ${driver}`, "/dev/null"], {
      reject: false,
      env: { TERM: "xterm", COLUMNS: "120", LINES: "40" },
    });
    const escape = String.fromCharCode(27);
    const screen = result.stdout.replaceAll(new RegExp(`${escape}\\[[0-9;?]*[A-Za-z]`, "g"), "");
    expect(result.exitCode, screen).to.equal(0);
    expect(screen).to.contain("END-OF-DRIVER");
    expect(screen).to.contain("Render files (0.1s; 12 files)");
    expect(screen).to.match(/Skipped step.*no shell/);
    expect(screen).to.contain("loading br_netfilter");
    expect(screen).to.match(/m-k8s\s+✔ done in 1\.0s/);
    expect(screen).to.match(/w1-k8s\s+✖ prepare on w1-k8s failed: boom/);
    expect(screen).to.contain("applied 10/12 objects");
    expect(screen).to.contain("calico failed: API down");
  });
});
