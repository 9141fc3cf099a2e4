// The runner: skips, resumes from state.json, bounded node concurrency, failures recorded per node, Ctrl-C.
import { expect } from "chai";

import type { LabNode } from "../../../bootstrap/lab/config.ts";
import { CommandError, InterruptedError, StepError } from "../../../bootstrap/errors.ts";
import type { LabStep, NodeStep, PlanStep, RunContext } from "../../../bootstrap/up/step.ts";
import { PlainReporter } from "../../../bootstrap/up/progress.ts";
import { runPlan } from "../../../bootstrap/up/runner.ts";
import { LabState } from "../../../bootstrap/lab/state.ts";
import { labOf, testRunContext } from "../helpers.ts";

const lab = labOf();

function context(controller = new AbortController()): Promise<RunContext> {
  return testRunContext({ lab, signal: controller.signal });
}

function labStep(
  id: string,
  calls: string[],
  behaviour: () => Promise<void> = () => Promise.resolve(),
): LabStep {
  return {
    id,
    title: `step ${id}`,
    scope: "lab",
    async run() {
      calls.push(id);
      await behaviour();
    },
  };
}

function nodeStep(
  id: string,
  nodes: readonly LabNode[],
  concurrency: number,
  action: (node: LabNode) => Promise<void>,
): NodeStep {
  return { id, title: `step ${id}`, scope: "node", nodes, concurrency, run: (node) => action(node) };
}

function reporter(lines: string[] = []) {
  return { lines, reporter: new PlainReporter((line) => lines.push(line)) };
}

describe("up/runner", () => {
  it("runs steps in order, records each, and a second run does nothing", async () => {
    const run = await context();
    const calls: string[] = [];
    const plan: PlanStep[] = [labStep("a", calls), labStep("b", calls)];
    const first = await runPlan(plan, run, reporter().reporter);
    expect(calls).to.deep.equal(["a", "b"]);
    expect(first).to.deep.equal({ ran: 2, upToDate: 0, skipped: 0 });
    const again = await LabState.load(run.state.file);
    expect(again.isDone("a") && again.isDone("b")).to.equal(true);

    const { lines, reporter: second } = reporter();
    const summary = await runPlan(plan, { ...run, state: again }, second);
    expect(calls).to.deep.equal(["a", "b"]);
    expect(summary).to.deep.equal({ ran: 0, upToDate: 2, skipped: 0 });
    expect(lines).to.deep.equal(["[1/2] ok    step a (already done)", "[2/2] ok    step b (already done)"]);
  });

  it("shows skipped steps with their reason and does not run them", async () => {
    const run = await context();
    const calls: string[] = [];
    const { lines, reporter: plain } = reporter();
    await runPlan([{ ...labStep("a", calls), skipReason: "no shell" }], run, plain);
    expect(calls).to.deep.equal([]);
    expect(lines).to.deep.equal(["[1/1] skip  step a (no shell)"]);
  });

  it("re-runs a step whose input digest changed", async () => {
    const run = await context();
    const calls: string[] = [];
    let input = "one";
    const step: LabStep = { ...labStep("a", calls), digest: () => input };
    await runPlan([step], run, reporter().reporter);
    await runPlan([step], run, reporter().reporter);
    input = "two";
    await runPlan([step], run, reporter().reporter);
    expect(calls).to.deep.equal(["a", "a"]);
  });

  it("never runs more nodes at once than the step's concurrency", async () => {
    const run = await context();
    const workers = labOf({ workers: { count: 7 } }).workers;
    let running = 0;
    let peak = 0;
    const step = nodeStep("join", workers, 3, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
    });
    await runPlan([step], run, reporter().reporter);
    expect(peak).to.equal(3);
    for (const worker of workers) expect(run.state.isDone(`join:${worker.name}`)).to.equal(true);
  });

  it("after a node fails: starts no new node, records the ones that finished, names the node and step", async () => {
    const run = await context();
    const workers = labOf({ workers: { count: 5 } }).workers;
    const started: string[] = [];
    const step = nodeStep("prepare", workers, 2, async (node) => {
      started.push(node.name);
      await new Promise((resolve) => setTimeout(resolve, node.name === "w2-k8s" ? 5 : 30));
      if (node.name === "w2-k8s")
        throw new StepError("prepare", "exited with code 1", { node: node.name, logPath: "/x/w2-k8s.log" });
    });
    const { lines, reporter: plain } = reporter();
    try {
      await runPlan([step, labStep("after", [])], run, plain);
      expect.fail("the run must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message).to.equal(
        "prepare on w2-k8s failed: exited with code 1 (log: /x/w2-k8s.log)",
      );
    }
    expect(started).to.deep.equal(["w1-k8s", "w2-k8s"]);
    expect(run.state.isDone("prepare:w1-k8s")).to.equal(true);
    expect(run.state.isDone("prepare:w2-k8s")).to.equal(false);
    expect(run.state.isDone("after")).to.equal(false);
    expect(lines).to.include(
      "        w2-k8s | FAILED: prepare on w2-k8s failed: exited with code 1 (log: /x/w2-k8s.log)",
    );
    expect(lines.at(-1)).to.match(/^\[1\/2\] FAIL {2}step prepare: /);

    // The next run resumes: w1 is done, the rest run.
    const resumed: string[] = [];
    const retry = nodeStep("prepare", workers, 2, (node) => {
      resumed.push(node.name);
      return Promise.resolve();
    });
    await runPlan([retry], run, reporter().reporter);
    expect(resumed).to.deep.equal(["w2-k8s", "w3-k8s", "w4-k8s", "w5-k8s"]);
  });

  it("reports several failed nodes in one error", async () => {
    const run = await context();
    const step = nodeStep("join", lab.workers, 3, (node) =>
      Promise.reject(new StepError("join", "boom", { node: node.name })),
    );
    try {
      await runPlan([step], run, reporter().reporter);
      expect.fail("must fail");
    } catch (error) {
      expect((error as Error).message).to.contain("3 nodes failed:");
      for (const worker of lab.workers)
        expect((error as Error).message).to.contain(`join on ${worker.name} failed: boom`);
    }
  });

  it("Ctrl-C: the running step's work is not recorded and the run ends with InterruptedError", async () => {
    const controller = new AbortController();
    const run = await context(controller);
    const calls: string[] = [];
    const slow = labStep("slow", calls, async () => {
      controller.abort("SIGINT");
      await Promise.resolve();
      throw new InterruptedError("SIGINT");
    });
    try {
      await runPlan([labStep("first", calls), slow, labStep("never", calls)], run, reporter().reporter);
      expect.fail("must be interrupted");
    } catch (error) {
      expect(error).to.be.instanceOf(InterruptedError);
    }
    expect(calls).to.deep.equal(["first", "slow"]);
    const state = await LabState.load(run.state.file);
    expect(state.isDone("first")).to.equal(true);
    expect(state.isDone("slow")).to.equal(false);
  });

  it("a failed command becomes an error naming the step, keeping the command and the log", async () => {
    const run = await context();
    const failing = labStep("fetch-kubeconfig", [], () =>
      Promise.reject(
        new CommandError("vagrant ssh m-k8s (copy admin.conf)", "exited with code 1", {
          logPath: "/w/logs/m-k8s.log",
        }),
      ),
    );
    try {
      await runPlan([failing], run, reporter().reporter);
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message).to.equal(
        "fetch-kubeconfig failed: vagrant ssh m-k8s (copy admin.conf): exited with code 1 (log: /w/logs/m-k8s.log)",
      );
    }
  });
});
