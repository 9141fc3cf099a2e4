// `bootstrap status`: the nodes as the provider and the API server see them, the LabCluster, how far `up` got.
import { buildPlan, PHASES } from "../up/plan.ts";
import { stepKey } from "../up/step.ts";
import { planCapabilities } from "../providers/provider.ts";
import { readTextIfExists } from "../files.ts";
import {
  closeLogger,
  existingOrConfiguredLab,
  openSession,
  providerContextOf,
  providerFor,
  type CommandIo,
  type GlobalOptions,
  type LabSession,
} from "./common.ts";
import { operatorSummary } from "./lab-summary.ts";
import type { Lab } from "../lab/config.ts";
import { labClusterName } from "../kube/labcluster.ts";
import type { Provider } from "../providers/provider.ts";

export interface StatusOptions {
  /** Also print the component map (kube/components.ts). */
  readonly components?: boolean;
}

/**
 * Prints a table of nodes (provider phase, Kubernetes readiness) and the next step of `up`; with
 * --components, then the lab's component map once the API answers.
 */
export async function status(
  global: GlobalOptions,
  io: CommandIo,
  options: StatusOptions = {},
): Promise<void> {
  const session = await openSession(global, io);
  try {
    const lab = await existingOrConfiguredLab(session);
    const provider = providerFor(lab);
    const context = providerContextOf(session);
    await provider.preflight(lab, context);
    const machines = new Map((await provider.status(lab, context)).map((node) => [node.name, node]));
    const haveKubeconfig = (await readTextIfExists(session.workDir.kubeconfigFile)) !== undefined;
    const { loadKubeConfig, readNodeReadiness } = await import("../kube/client.ts");
    const readiness = haveKubeconfig
      ? await readNodeReadiness(loadKubeConfig(session.workDir.kubeconfigFile), 5000)
      : undefined;

    const out = (line: string) => io.stdout.write(`${line}\n`);
    const created = session.state.lab !== undefined;
    out(
      `Lab ${lab.name}: provider ${lab.provider}, Kubernetes ${lab.kubernetes.version}, work dir ${session.workDir.root}`,
    );
    const rows = [
      ["NODE", "ROLE", "IP", "MACHINE", "KUBERNETES"],
      ...lab.nodes.map((node) => {
        const machine = machines.get(node.name);
        const kubernetes = !haveKubeconfig
          ? "-"
          : readiness === undefined
            ? "API unreachable"
            : readiness.has(node.name)
              ? readiness.get(node.name) === true
                ? "Ready"
                : "NotReady"
              : "not registered";
        return [node.name, node.role, node.ip, machine?.detail ?? machine?.phase ?? "unknown", kubernetes];
      }),
    ];
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    for (const row of rows)
      out(
        row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("  ")
          .trimEnd(),
      );

    const plan = buildPlan(
      { lab, capabilities: planCapabilities(provider), providerName: provider.name },
      PHASES,
    );
    const next = plan.find(
      (step) =>
        step.skipReason === undefined &&
        step.id !== "render-files" &&
        (step.scope === "lab"
          ? !session.state.isDone(stepKey(step))
          : step.nodes.some((node) => !session.state.isDone(stepKey(step, node)))),
    );
    // The operator's view, once the API answers: the LabCluster and where the operator runs.
    if (created && readiness !== undefined) {
      for (const line of await operatorSummary(session, lab, provider)) out(line);
    }
    if (options.components === true) {
      if (readiness === undefined) {
        out("Components: the API server did not answer (or the lab has no kubeconfig yet).");
      } else {
        for (const line of await componentLines(session, lab, provider)) out(line);
      }
    }
    if (!created) out("Not created yet: run `bootstrap up`.");
    else if (next !== undefined)
      out(`Unfinished: next step is ${next.id} (${next.title}); run \`bootstrap up\` to resume.`);
    else out("All steps of `bootstrap up` are done.");
  } finally {
    await closeLogger(session.logger);
  }
}

/** The component map's lines: what the API shows, plus the host processes of a lab that runs its control plane so. */
async function componentLines(session: LabSession, lab: Lab, provider: Provider): Promise<string[]> {
  const { loadKubeConfig } = await import("../kube/client.ts");
  const { readComponentsInput } = await import("../kube/components-read.ts");
  const { renderComponentMap } = await import("../kube/components.ts");
  const input = await readComponentsInput(
    loadKubeConfig(session.workDir.kubeconfigFile),
    labClusterName(lab),
    new Date(),
  );
  const hostProcesses = await provider.local?.controlPlaneProcesses(providerContextOf(session));
  return renderComponentMap({ ...input, ...(hostProcesses === undefined ? {} : { hostProcesses }) });
}
