// `bootstrap trace`: a pod's path through the components (API server, etcd, controllers, scheduler, kubelet...).
import { randomBytes } from "node:crypto";

import { ExitCode, InterruptedError, UsageError } from "../errors.ts";
import { abortReason } from "../process.ts";
import { TRACE_NAMESPACE, traceDeployment, traceLabels } from "../kube/trace/new-deployment.ts";
import type { TraceKind, TraceReader } from "../kube/trace/read.ts";
import { renderTraceJson, renderTraceMermaid, renderTraceText } from "../kube/trace/render.ts";
import { buildTimeline, type Timeline } from "../kube/trace/timeline.ts";
import {
  closeLogger,
  existingOrConfiguredLab,
  openSession,
  requireLabKubeconfig,
  type CommandIo,
  type GlobalOptions,
} from "./common.ts";

export type TraceOutput = "text" | "json" | "mermaid";

export interface TraceOptions {
  readonly namespace?: string;
  readonly output?: TraceOutput;
  readonly watch?: boolean;
  /** `--new IMAGE`: create a Deployment of one pod running IMAGE and follow it. */
  readonly new?: string;
  readonly rm?: boolean;
  /** How long --watch follows before it gives up, in seconds. */
  readonly timeout?: number;
}

const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;

/** `pod NAME`, `deployment NAME`, `pod/NAME`, `deploy/NAME`... as kubectl spells them. */
export function parseTraceTarget(words: readonly string[]): { kind: TraceKind; name: string } {
  const [first, second, ...rest] = words;
  const [kindWord, name] =
    first?.includes("/") === true && second === undefined ? first.split("/", 2) : [first, second];
  const kind = kindWord === undefined ? undefined : KIND_WORDS[kindWord.toLowerCase()];
  if (kind === undefined || name === undefined || name === "" || rest.length > 0) {
    throw new UsageError(
      `trace needs "pod NAME" or "deployment NAME"${words.length > 0 ? `, not "${words.join(" ")}"` : ""}`,
      {
        hint: "bootstrap trace pod web-7d8f-x2k4q -n default, bootstrap trace deployment web, or bootstrap trace --new nginx:1.27",
      },
    );
  }
  return { kind, name };
}

const KIND_WORDS: Readonly<Record<string, TraceKind>> = {
  pod: "Pod",
  pods: "Pod",
  po: "Pod",
  deployment: "Deployment",
  deployments: "Deployment",
  deploy: "Deployment",
};

/**
 * Prints the trace of a pod or Deployment (or of a Deployment it creates with --new) and returns the exit
 * code: 0 when the pod is Ready or Succeeded (or, without --watch, still on its way), 1 when it stopped at a
 * step (the trace names it) or --watch gave up waiting.
 */
export async function trace(
  global: GlobalOptions,
  words: readonly string[],
  options: TraceOptions,
  io: CommandIo,
): Promise<number> {
  if (options.new !== undefined && words.length > 0) {
    throw new UsageError("--new creates what it traces: give either --new IMAGE or pod/deployment NAME");
  }
  if (options.rm === true && options.new === undefined) throw new UsageError("--rm goes with --new IMAGE");
  const target = options.new === undefined ? parseTraceTarget(words) : undefined;
  const session = await openSession(global, io);
  try {
    const lab = await existingOrConfiguredLab(session);
    await requireLabKubeconfig(session, lab);
    const { loadKubeConfig } = await import("../kube/client.ts");
    const { TraceReader } = await import("../kube/trace/read.ts");
    const reader = new TraceReader(loadKubeConfig(session.workDir.kubeconfigFile));
    const output = options.output ?? "text";
    const timeoutMs = (options.timeout ?? DEFAULT_WATCH_TIMEOUT_SECONDS) * 1000;

    if (target !== undefined) {
      const namespace = options.namespace ?? "default";
      const timeline =
        options.watch === true
          ? await follow(reader, target.kind, namespace, target.name, output, io, timeoutMs)
          : await readOnce(reader, target.kind, namespace, target.name);
      if (options.watch !== true) io.stdout.write(render(timeline, output));
      return exitCodeOf(timeline, options.watch === true);
    }

    const namespace = options.namespace ?? TRACE_NAMESPACE;
    const name = `trace-${randomBytes(3).toString("hex")}`;
    const deployment = traceDeployment(name, namespace, options.new!);
    const createdNamespace = await reader.ensureNamespace(namespace, traceLabels());
    await reader.createDeployment(namespace, deployment);
    const say = (line: string): void => {
      // With -o json or mermaid, stdout is the document alone.
      (output === "text" ? io.stdout : io.stderr).write(`${line}\n`);
    };
    say(
      `Created Deployment ${namespace}/${name} (1 pod, image ${options.new!})` +
        `${createdNamespace ? ` in the new namespace ${namespace}` : ""}; following it (Ctrl-C stops).`,
    );
    let timeline: Timeline | undefined;
    try {
      timeline = await follow(reader, "Deployment", namespace, name, output, io, timeoutMs);
    } finally {
      if (options.rm === true) {
        await reader.deleteDeployment(namespace, name);
        say(`Deleted Deployment ${namespace}/${name} (--rm).`);
      } else {
        say(
          `Delete it with: kubectl -n ${namespace} delete deployment ${name}` +
            ` (or everything trace made: kubectl delete namespace ${namespace})`,
        );
      }
    }
    return exitCodeOf(timeline, true);
  } finally {
    await closeLogger(session.logger);
  }
}

async function readOnce(
  reader: TraceReader,
  kind: TraceKind,
  namespace: string,
  name: string,
): Promise<Timeline> {
  return buildTimeline(await reader.read(kind, namespace, name), { kind, namespace, name });
}

const RENDERERS: Readonly<Record<TraceOutput, (timeline: Timeline) => string>> = {
  text: renderTraceText,
  json: renderTraceJson,
  mermaid: renderTraceMermaid,
};

function render(timeline: Timeline, output: TraceOutput): string {
  return RENDERERS[output](timeline);
}

/**
 * Follows the object live: a watch on the namespace's pods and Events triggers a fresh read (at most every
 * 200 ms), until the pod is Ready, Succeeded or Failed, `timeoutMs` passed, or Ctrl-C. Text on a terminal is
 * redrawn in place; text elsewhere gets each new step appended; JSON and mermaid print the last state only.
 */
async function follow(
  reader: TraceReader,
  kind: TraceKind,
  namespace: string,
  name: string,
  output: TraceOutput,
  io: CommandIo,
  timeoutMs: number,
): Promise<Timeline> {
  const draw = drawer(output, io);
  let latest = await readOnce(reader, kind, namespace, name);
  draw(latest, false);
  if (latest.outcome.state !== "InProgress") {
    draw(latest, true);
    return latest;
  }
  return new Promise<Timeline>((resolve, reject) => {
    let stopWatch: (() => void) | undefined;
    const timers: { timeout?: NodeJS.Timeout; poll?: NodeJS.Timeout } = {};
    let reading = false;
    let again = false;
    let finished = false;
    const finish = (error?: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timers.timeout);
      clearInterval(timers.poll);
      io.signal.removeEventListener("abort", onAbort);
      stopWatch?.();
      draw(latest, true);
      if (error === undefined) resolve(latest);
      else reject(error instanceof Error ? error : new Error("trace: reading failed", { cause: error }));
    };
    const refresh = async (): Promise<void> => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          latest = await readOnce(reader, kind, namespace, name);
          if (!finished) draw(latest, false);
        } while (again && !finished);
      } catch (error) {
        finish(error);
        return;
      } finally {
        reading = false;
      }
      if (latest.outcome.state !== "InProgress") finish();
    };
    const schedule = (): void => {
      if (!finished) setTimeout(() => void refresh(), 200).unref();
    };
    const onAbort = (): void => finish(new InterruptedError(abortReason(io.signal)));
    io.signal.addEventListener("abort", onAbort, { once: true });
    timers.timeout = setTimeout(() => {
      io.stderr.write(
        `trace: still ${latest.outcome.state} after ${Math.round(timeoutMs / 1000)}s; gave up following (--timeout)\n`,
      );
      finish();
    }, timeoutMs);
    // A safety net for a watch that could not start or was closed: read again every 5 s.
    timers.poll = setInterval(schedule, 5000);
    void reader
      .watchNamespace(namespace, schedule, () => {})
      .then((stop) => {
        if (finished) stop();
        else stopWatch = stop;
      });
  });
}

/** Draws successive states of a followed trace; `final` is the last call. */
function drawer(output: TraceOutput, io: CommandIo): (timeline: Timeline, final: boolean) => void {
  if (output !== "text") {
    return (timeline, final) => {
      if (final) io.stdout.write(render(timeline, output));
    };
  }
  if (io.stdout.isTTY === true) {
    let previousLines = 0;
    let previousText = "";
    return (timeline) => {
      const text = render(timeline, "text");
      if (text === previousText) return;
      // Move to the start of the previous drawing and clear from there down, then draw again.
      if (previousLines > 0) io.stdout.write(`\x1b[${previousLines}F\x1b[J`);
      io.stdout.write(text);
      previousText = text;
      // Rows on the screen, not lines: a line wider than the terminal wraps onto more rows.
      const columns = io.stdout.columns > 0 ? io.stdout.columns : 80;
      previousLines = text
        .split("\n")
        .slice(0, -1)
        .reduce((rows, line) => rows + Math.max(1, Math.ceil(line.length / columns)), 0);
    };
  }
  const printed = new Set<string>();
  let headerDone = false;
  return (timeline, final) => {
    const lines = render(timeline, "text").split("\n");
    const blank = lines.indexOf("");
    if (!headerDone) {
      // The header and the column titles, once.
      io.stdout.write(`${lines.slice(0, blank + 2).join("\n")}\n`);
      headerDone = true;
    }
    const stepLines = lines.slice(blank + 2, lines.indexOf("", blank + 1));
    for (let index = 0; index + 1 < stepLines.length; index += 2) {
      const key = `${stepLines[index]!.trim()}\n${stepLines[index + 1]!.trim()}`;
      if (printed.has(key)) continue;
      printed.add(key);
      io.stdout.write(`${stepLines[index]}\n${stepLines[index + 1]}\n`);
    }
    if (final) io.stdout.write(`${lines.slice(lines.indexOf("", blank + 1)).join("\n")}`);
  };
}

function exitCodeOf(timeline: Timeline | undefined, watched: boolean): number {
  const state = timeline?.outcome.state;
  if (state === "Ready" || state === "Succeeded") return ExitCode.ok;
  if (state === "InProgress" && !watched) return ExitCode.ok;
  return ExitCode.failure;
}
