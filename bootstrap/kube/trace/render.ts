// A trace's timeline as text for a terminal, JSON for scripts, and a mermaid sequence diagram for notes (pure).
import type { Participant, Timeline, TimePrecision, TraceStep } from "./timeline.ts";

/** The JSON document of `-o json`: the timeline as built, with a version so scripts can rely on the shape. */
export function renderTraceJson(timeline: Timeline): string {
  return `${JSON.stringify({ apiVersion: "kubelab.dev/v1alpha1", kind: "Trace", ...timeline }, null, 2)}\n`;
}

/** "+0s", "+1.250s", "+2m05s": an offset shown no finer than the time it comes from. */
export function formatOffset(offsetMs: number, precision: TimePrecision | undefined): string {
  if (precision === "microsecond") {
    return offsetMs >= 60_000
      ? `+${Math.floor(offsetMs / 60_000)}m${((offsetMs % 60_000) / 1000).toFixed(3).padStart(6, "0")}s`
      : `+${(offsetMs / 1000).toFixed(3)}s`;
  }
  const seconds = Math.round(offsetMs / 1000);
  return seconds >= 60
    ? `+${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`
    : `+${seconds}s`;
}

function offsetOf(step: Pick<TraceStep, "offsetMs" | "precision">): string {
  return step.offsetMs === undefined ? "-" : formatOffset(step.offsetMs, step.precision);
}

function describeSubject(timeline: Timeline): string {
  const { subject, pod, node } = timeline;
  const named = `${subject.kind} ${subject.namespace === undefined ? "" : `${subject.namespace}/`}${subject.name}`;
  const podPart = pod === undefined || subject.kind === "Pod" ? "" : `: Pod ${pod.name}`;
  const nodePart =
    node === undefined
      ? ""
      : ` on ${node.name} (kubelet ${node.kubeletVersion ?? "?"}, runtime ${node.containerRuntimeVersion ?? "?"}` +
        `${node.internalIP === undefined ? "" : `, ${node.internalIP}`})`;
  return `${named}${podPart}${nodePart}`;
}

/** What a learner reads: one line per step (offset, component, what), the evidence under it, the outcome. */
export function renderTraceText(timeline: Timeline): string {
  const lines = [`Trace of ${describeSubject(timeline)}`];
  if (timeline.origin !== undefined) lines.push(`Times are relative to ${timeline.origin}.`);
  lines.push("");
  const timeWidth = Math.max(4, ...timeline.steps.map((step) => offsetOf(step).length));
  const componentWidth = Math.max(9, ...timeline.steps.map((step) => step.component.length));
  const indent = " ".repeat(2 + timeWidth + 2 + componentWidth + 2);
  lines.push(`  ${"TIME".padEnd(timeWidth)}  ${"COMPONENT".padEnd(componentWidth)}  WHAT`);
  for (const step of timeline.steps) {
    const mark = step.warning ? "! " : "";
    lines.push(
      `  ${offsetOf(step).padEnd(timeWidth)}  ${step.component.padEnd(componentWidth)}  ${mark}${step.what}`,
    );
    lines.push(
      `${indent}[${step.untimed === undefined ? step.evidence : `${step.untimed}; ${step.evidence}`}]`,
    );
  }
  lines.push("");
  const outcome = timeline.outcome;
  const at =
    outcome.offsetMs === undefined
      ? ""
      : ` at ${formatOffset(outcome.offsetMs, /\.\d+/.test(outcome.time ?? "") ? "microsecond" : "second")}`;
  const where =
    outcome.state === "Failed" && outcome.component !== undefined ? ` in ${outcome.component}` : "";
  const reason = outcome.reason === undefined ? "" : ` (${outcome.reason})`;
  lines.push(`Outcome: ${outcome.state}${where}${reason}${at}: ${outcome.message}`);
  if (timeline.notes.length > 0) {
    lines.push("Notes:");
    for (const note of timeline.notes) lines.push(`  - ${note}.`);
  }
  return `${lines.join("\n")}\n`;
}

/** Mermaid ends a message at a newline or ";" and reads "#" as an entity: keep messages on one plain line. */
function mermaidText(text: string): string {
  return text
    .replace(/[\r\n]+/g, " ")
    .replace(/;/g, ",")
    .replace(/#/g, "no. ");
}

/**
 * A sequenceDiagram GitHub renders: the participants in the order of the path (client, kube-apiserver,
 * etcd, controllers, scheduler, kubelet, runtime, CNI), one message per step with its offset, implied
 * steps as dashed arrows, and a note where the pod stopped.
 */
export function renderTraceMermaid(timeline: Timeline): string {
  const order: readonly Participant[] = [
    "client",
    "apiserver",
    "etcd",
    "controller",
    "scheduler",
    "kubelet",
    "runtime",
    "cni",
  ];
  const used = new Set<Participant>(timeline.steps.flatMap((step) => [step.from, step.to]));
  const lines = ["```mermaid", "sequenceDiagram"];
  for (const participant of order.filter((p) => used.has(p))) {
    lines.push(`  participant ${participant} as ${mermaidText(timeline.participants[participant])}`);
  }
  for (const step of timeline.steps) {
    const arrow = step.untimed === undefined ? "->>" : "-->>";
    const when = step.offsetMs === undefined ? "(not timed)" : offsetOf(step);
    lines.push(
      `  ${step.from}${arrow}${step.to}: ${mermaidText(`${when} ${step.warning ? "! " : ""}${step.what}`)}`,
    );
  }
  const outcome = timeline.outcome;
  const last = timeline.steps.at(-1);
  if (last !== undefined) {
    const over =
      outcome.state === "Failed" ? (timeline.steps.filter((s) => s.warning).at(-1) ?? last).from : last.to;
    lines.push(
      `  Note over ${over}: ${mermaidText(`${outcome.state}${outcome.reason === undefined ? "" : ` (${outcome.reason})`}: ${outcome.message}`)}`,
    );
  }
  lines.push("```");
  return `${lines.join("\n")}\n`;
}
