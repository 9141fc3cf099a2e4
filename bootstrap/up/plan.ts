// `up` as a plan: the order of its phases, the pure plan they make for a lab, and the plan as text.
import type { LabState } from "../lab/state.ts";
import { addonBundlesStep, calicoStep, kubeRouterStep } from "./steps/addons.ts";
import {
  fetchKubeconfigStep,
  joinWorkersStep,
  kubeadmInitStep,
  revokeJoinTokenStep,
} from "./steps/kubeadm.ts";
import {
  createNodesStep,
  installPackagesStep,
  nodesReadyStep,
  prepareNodesStep,
  renderFilesStep,
} from "./steps/nodes.ts";
import {
  crdsStep,
  labClusterReadyStep,
  labClusterStep,
  operatorImageStep,
  operatorProcessStep,
  operatorStep,
} from "./steps/operator.ts";
import { stepKey, type PlanInput, type PlanStep, type StepFactory } from "./step.ts";

/**
 * The phases of `up`, in order: each is a function from the plan input to a step. The kubeconfig is fetched
 * right after `kubeadm init` because Calico, and everything after it, is applied through the API from the
 * host. Once the nodes are Ready: the CRDs, the operator (its Deployment, or a local process where the
 * nodes cannot run it), the addon bundles it restores from, the LabCluster, and the wait for it to be Ready.
 */
export const PHASES: readonly StepFactory[] = [
  renderFilesStep,
  createNodesStep,
  prepareNodesStep,
  installPackagesStep,
  kubeadmInitStep,
  fetchKubeconfigStep,
  calicoStep,
  kubeRouterStep,
  joinWorkersStep,
  revokeJoinTokenStep,
  nodesReadyStep,
  crdsStep,
  operatorImageStep,
  operatorStep,
  operatorProcessStep,
  addonBundlesStep,
  labClusterStep,
  labClusterReadyStep,
];

/** The plan for a lab: pure, so `--dry-run` and tests can list it without touching anything. */
export function buildPlan(input: PlanInput, phases: readonly StepFactory[] = PHASES): PlanStep[] {
  return phases.flatMap((phase) => phase(input) ?? []);
}

/**
 * The plan as text, one line per step (and its nodes): `  3. prepare-nodes  Prepare ... [m-k8s, w1-k8s]`,
 * with `(skipped: reason)` or `(done)` from state.json. Pure, for --dry-run and golden files.
 */
export function formatPlan(plan: readonly PlanStep[], state: Pick<LabState, "isDone">): string[] {
  const idWidth = Math.max(...plan.map((step) => step.id.length));
  return plan.map((step, index) => {
    const number = `${String(index + 1).padStart(2)}.`;
    const nodes =
      step.scope === "node" ? ` [${step.nodes.map((node) => node.name).join(", ") || "no nodes"}]` : "";
    let status = "";
    if (step.skipReason !== undefined) status = `  (skipped: ${step.skipReason})`;
    else if (
      step.scope === "lab"
        ? state.isDone(stepKey(step))
        : step.nodes.length > 0 && step.nodes.every((node) => state.isDone(stepKey(step, node)))
    ) {
      status = "  (done)";
    }
    return `  ${number} ${step.id.padEnd(idWidth)}  ${step.title}${nodes}${status}`;
  });
}
