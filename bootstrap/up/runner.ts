// Executes a plan: skips what does not apply or is done, runs the rest in order, records progress.
import type { LabNode } from "../lab/config.ts";
import { CommandError, InterruptedError, StepError } from "../errors.ts";
import type { LabStep, NodeStep, PlanStep, RunContext } from "./step.ts";
import { stepKey } from "./step.ts";
import { abortReason } from "../process.ts";
import type { Reporter } from "./progress.ts";

/** What a run did, for the final line. */
export interface RunSummary {
  /** Steps (or nodes of node steps) that ran. */
  readonly ran: number;
  /** Steps or nodes found done already. */
  readonly upToDate: number;
  /** Steps the provider cannot do. */
  readonly skipped: number;
}

/**
 * Runs `plan` with `run`, reporting to `reporter`. A step is recorded in state.json right after it (or
 * each of its nodes) finishes, so an interrupted or failed run resumes where it stopped. A node step
 * runs its pending nodes with bounded concurrency; after a failure it starts no new node, lets the
 * running ones finish (and records them), then throws. Ctrl-C (run.signal) throws InterruptedError.
 */
export async function runPlan(
  plan: readonly PlanStep[],
  run: RunContext,
  reporter: Reporter,
): Promise<RunSummary> {
  const summary = { ran: 0, upToDate: 0, skipped: 0 };
  reporter.begin(plan);
  try {
    for (const step of plan) {
      throwIfAborted(run.signal);
      if (step.skipReason !== undefined) {
        reporter.stepSkipped(step, step.skipReason);
        summary.skipped++;
        continue;
      }
      const started = Date.now();
      try {
        if (step.scope === "lab") await runLabStep(step, run, reporter, summary, started);
        else await runNodeStep(step, run, reporter, summary, started);
      } catch (error) {
        const failure = namingTheStep(step, asError(error));
        reporter.stepFailed(step, failure);
        throw failure;
      }
    }
  } finally {
    await reporter.end();
  }
  return summary;
}

async function runLabStep(
  step: LabStep,
  run: RunContext,
  reporter: Reporter,
  summary: { ran: number; upToDate: number },
  started: number,
): Promise<void> {
  const digest = step.digest?.(run);
  const done = step.isDone ? await step.isDone(run) : run.state.isDone(stepKey(step), digest);
  if (done) {
    reporter.stepUpToDate(step);
    summary.upToDate++;
    return;
  }
  reporter.stepStarted(step);
  const result = await step.run(run, (line, node) => reporter.stepProgress(step, line, node));
  await run.state.markDone(stepKey(step), digest, run.now());
  summary.ran++;
  reporter.stepDone(step, Date.now() - started, typeof result === "string" ? result : undefined);
}

async function runNodeStep(
  step: NodeStep,
  run: RunContext,
  reporter: Reporter,
  summary: { ran: number; upToDate: number },
  started: number,
): Promise<void> {
  const pending: LabNode[] = [];
  const done: LabNode[] = [];
  for (const node of step.nodes) {
    const digest = step.digest?.(node, run);
    const isDone = step.isDone ? await step.isDone(node, run) : run.state.isDone(stepKey(step, node), digest);
    (isDone ? done : pending).push(node);
  }
  if (pending.length === 0) {
    reporter.stepUpToDate(step);
    summary.upToDate++;
    return;
  }
  reporter.stepStarted(step);
  for (const node of done) {
    reporter.nodeUpToDate(step, node.name);
    summary.upToDate++;
  }
  const failures: { node: LabNode; error: Error }[] = [];
  const queue = [...pending];
  const worker = async (): Promise<void> => {
    for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
      if (failures.length > 0 || run.signal.aborted) return;
      const nodeStarted = Date.now();
      reporter.nodeStarted(step, node.name);
      try {
        await step.run(node, run, (line) => reporter.stepProgress(step, line, node.name));
        await run.state.markDone(stepKey(step, node), step.digest?.(node, run), run.now());
        summary.ran++;
        reporter.nodeDone(step, node.name, Date.now() - nodeStarted);
      } catch (error) {
        const failure = asError(error);
        failures.push({ node, error: failure });
        reporter.nodeFailed(step, node.name, failure);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(step.concurrency, pending.length)) }, worker));
  throwIfAborted(run.signal);
  const interrupted = failures.find((failure) => failure.error instanceof InterruptedError);
  if (interrupted) throw interrupted.error;
  const [first, ...others] = failures;
  if (first !== undefined) {
    if (others.length === 0) throw first.error;
    const lines = failures.map(({ node, error }) => `  - ${node.name}: ${error.message}`);
    throw new StepError(step.id, `${failures.length} nodes failed:\n${lines.join("\n")}`, {
      cause: first.error,
    });
  }
  reporter.stepDone(step, Date.now() - started, undefined);
}

/** A failed command says what ran; as the run's error it also says in which step (and keeps the log). */
function namingTheStep(step: PlanStep, error: Error): Error {
  if (!(error instanceof CommandError)) return error;
  const message = error.message.replace(/ \(log: .*\)$/, "");
  return new StepError(step.id, message, {
    cause: error,
    ...(error.logPath === undefined ? {} : { logPath: error.logPath }),
    ...(error.hint === undefined ? {} : { hint: error.hint }),
  });
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new InterruptedError(abortReason(signal));
}
