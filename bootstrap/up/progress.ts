// Showing a run: live per-node progress with listr2 on a terminal, plain numbered lines otherwise.
import { Listr, type ListrDefaultRenderer, type ListrSimpleRenderer, type ListrTaskWrapper } from "listr2";

import type { PlanStep } from "./step.ts";

/** What the runner tells the user. One reporter per run; `end` is always called. */
export interface Reporter {
  begin(plan: readonly PlanStep[]): void;
  stepSkipped(step: PlanStep, reason: string): void;
  stepUpToDate(step: PlanStep): void;
  stepStarted(step: PlanStep): void;
  stepProgress(step: PlanStep, line: string, node?: string): void;
  nodeUpToDate(step: PlanStep, node: string): void;
  nodeStarted(step: PlanStep, node: string): void;
  nodeDone(step: PlanStep, node: string, elapsedMs: number): void;
  nodeFailed(step: PlanStep, node: string, error: Error): void;
  stepDone(step: PlanStep, elapsedMs: number, summary: string | undefined): void;
  stepFailed(step: PlanStep, error: Error): void;
  end(): Promise<void>;
}

/** `1.2s`, `3m04s`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m${String(seconds).padStart(2, "0")}s`;
}

/**
 * One line per event, numbered by step, for logs, CI and pipes:
 * `[5/9] run   Initialise ...`, `        m-k8s | kubeadm init`, `[5/9] done  Initialise ... (1m02s)`.
 */
export class PlainReporter implements Reporter {
  readonly #write: (line: string) => void;
  #numbers = new Map<PlanStep, string>();

  constructor(write: (line: string) => void) {
    this.#write = write;
  }

  begin(plan: readonly PlanStep[]): void {
    const width = String(plan.length).length;
    plan.forEach((step, index) =>
      this.#numbers.set(step, `[${String(index + 1).padStart(width)}/${plan.length}]`),
    );
  }

  stepSkipped(step: PlanStep, reason: string): void {
    this.#line(step, "skip", `${step.title} (${reason})`);
  }

  stepUpToDate(step: PlanStep): void {
    this.#line(step, "ok", `${step.title} (already done)`);
  }

  stepStarted(step: PlanStep): void {
    this.#line(step, "run", step.title);
  }

  stepProgress(_step: PlanStep, line: string, node?: string): void {
    this.#write(`        ${node === undefined ? "" : `${node} | `}${line}`);
  }

  nodeUpToDate(step: PlanStep, node: string): void {
    this.stepProgress(step, "already done", node);
  }

  nodeStarted(step: PlanStep, node: string): void {
    this.stepProgress(step, "started", node);
  }

  nodeDone(step: PlanStep, node: string, elapsedMs: number): void {
    this.stepProgress(step, `done in ${formatDuration(elapsedMs)}`, node);
  }

  nodeFailed(step: PlanStep, node: string, error: Error): void {
    this.stepProgress(step, `FAILED: ${firstLine(error.message)}`, node);
  }

  stepDone(step: PlanStep, elapsedMs: number, summary: string | undefined): void {
    this.#line(step, "done", `${step.title} (${formatDuration(elapsedMs)}${summary ? `; ${summary}` : ""})`);
  }

  stepFailed(step: PlanStep, error: Error): void {
    this.#line(step, "FAIL", `${step.title}: ${firstLine(error.message)}`);
  }

  end(): Promise<void> {
    return Promise.resolve();
  }

  #line(step: PlanStep, verb: string, text: string): void {
    this.#write(`${this.#numbers.get(step) ?? "[?]"} ${verb.padEnd(4)}  ${text}`);
  }
}

type TaskView = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;

type Outcome =
  | { kind: "skipped"; reason: string }
  | { kind: "up-to-date" }
  | { kind: "done"; title: string }
  | { kind: "failed"; error: Error };

/** A step as the terminal shows it: its listr task (once started) and its nodes' latest lines. */
class StepView {
  readonly step: PlanStep;
  readonly outcome: Promise<Outcome>;
  settle!: (outcome: Outcome) => void;
  task: TaskView | undefined;
  readonly nodeLines = new Map<string, string>();
  lastLine = "";

  constructor(step: PlanStep) {
    this.step = step;
    this.outcome = new Promise((resolve) => (this.settle = resolve));
    if (step.scope === "node") for (const node of step.nodes) this.nodeLines.set(node.name, "waiting");
  }

  /** The lines under the title: one per node for node steps, else the latest progress line. */
  output(): string {
    if (this.step.scope === "lab") return this.lastLine;
    const width = Math.max(...[...this.nodeLines.keys()].map((name) => name.length));
    return [...this.nodeLines].map(([node, line]) => `${node.padEnd(width)}  ${line}`).join("\n");
  }

  refresh(): void {
    if (this.task !== undefined) this.task.output = this.output();
  }
}

/**
 * Live view on a terminal with listr2: one task per step, and under a running node step one line per
 * node (its latest progress). listr2 only draws: the runner keeps running the steps, and each task waits
 * for its step's outcome. listr2's own signal handling is off; Ctrl-C is the CLI's.
 */
export class ListrReporter implements Reporter {
  #views = new Map<PlanStep, StepView>();
  #listr: Promise<unknown> | undefined;

  begin(plan: readonly PlanStep[]): void {
    const views = plan.map((step) => new StepView(step));
    for (const view of views) this.#views.set(view.step, view);
    const listr = new Listr<unknown, "default", "simple">(
      views.map((view) => ({
        title: view.step.title,
        rendererOptions: {
          outputBar: view.step.scope === "node" ? Math.max(1, view.step.nodes.length) : 1,
        },
        task: async (_context: unknown, task: TaskView) => {
          view.task = task;
          view.refresh();
          const outcome = await view.outcome;
          switch (outcome.kind) {
            case "skipped":
              task.title = `${view.step.title} (skipped: ${outcome.reason})`;
              task.skip();
              return;
            case "up-to-date":
              task.title = `${view.step.title} (already done)`;
              return;
            case "done":
              task.title = outcome.title;
              return;
            case "failed":
              throw outcome.error;
          }
        },
      })),
      {
        registerSignalListeners: false,
        exitOnError: true,
        rendererOptions: { collapseErrors: false },
      },
    );
    this.#listr = listr.run().catch(() => undefined);
  }

  stepSkipped(step: PlanStep, reason: string): void {
    this.#view(step).settle({ kind: "skipped", reason });
  }

  stepUpToDate(step: PlanStep): void {
    this.#view(step).settle({ kind: "up-to-date" });
  }

  stepStarted(step: PlanStep): void {
    this.#view(step).refresh();
  }

  stepProgress(step: PlanStep, line: string, node?: string): void {
    const view = this.#view(step);
    if (node !== undefined && view.nodeLines.has(node)) view.nodeLines.set(node, line);
    else view.lastLine = node === undefined ? line : `${node}: ${line}`;
    view.refresh();
  }

  nodeUpToDate(step: PlanStep, node: string): void {
    this.stepProgress(step, "✔ already done", node);
  }

  nodeStarted(step: PlanStep, node: string): void {
    this.stepProgress(step, "started", node);
  }

  nodeDone(step: PlanStep, node: string, elapsedMs: number): void {
    this.stepProgress(step, `✔ done in ${formatDuration(elapsedMs)}`, node);
  }

  nodeFailed(step: PlanStep, node: string, error: Error): void {
    this.stepProgress(step, `✖ ${firstLine(error.message)}`, node);
  }

  stepDone(step: PlanStep, elapsedMs: number, summary: string | undefined): void {
    const extra = summary === undefined ? "" : `; ${summary}`;
    this.#view(step).settle({ kind: "done", title: `${step.title} (${formatDuration(elapsedMs)}${extra})` });
  }

  stepFailed(step: PlanStep, error: Error): void {
    this.#view(step).settle({ kind: "failed", error });
  }

  async end(): Promise<void> {
    // Steps never reached (after a failure or Ctrl-C) are settled so listr2 can finish drawing.
    for (const view of this.#views.values()) view.settle({ kind: "skipped", reason: "not run" });
    await this.#listr;
  }

  #view(step: PlanStep): StepView {
    const view = this.#views.get(step);
    if (view === undefined) throw new Error(`step ${step.id} is not part of the reported plan`);
    return view;
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

/** The reporter for this terminal: live listr2 view on a TTY, plain lines otherwise. */
export function createReporter(stream: NodeJS.WriteStream = process.stdout): Reporter {
  if (stream.isTTY === true && process.env.CI === undefined && process.env.TERM !== "dumb")
    return new ListrReporter();
  return new PlainReporter((line) => stream.write(`${line}\n`));
}
