// The lab as the operator reports it (its LabCluster) and where the operator runs, for `up` and `status`.
import { OPERATOR_NAMESPACE } from "../../operator/api/addons/bundle.ts";
import type { Lab } from "../lab/config.ts";
import { describeLabCluster, labClusterName } from "../kube/labcluster.ts";
import type { Provider } from "../providers/provider.ts";
import { providerContextOf, type LabSession } from "./common.ts";

/** How long the summary waits for the API server: a dead lab must not hang `status`. */
const API_TIMEOUT_MS = 5000;

/**
 * Lines about the LabCluster (Ready, nodes ready/expected, addons, last and next backup) when the API
 * answers, a line saying why not otherwise, and, for a provider that runs the operator locally, its pid
 * and log. Never throws for an unreachable lab: it is a report.
 */
export async function operatorSummary(session: LabSession, lab: Lab, provider: Provider): Promise<string[]> {
  const lines: string[] = [];
  const { loadKubeConfig, readLabCluster } = await import("../kube/client.ts");
  let labCluster;
  try {
    labCluster = await readLabCluster(
      loadKubeConfig(session.workDir.kubeconfigFile),
      labClusterName(lab),
      API_TIMEOUT_MS,
    );
  } catch {
    labCluster = undefined;
  }
  if (labCluster === undefined) {
    lines.push(`LabCluster ${labClusterName(lab)}: not found, or the API server did not answer`);
  } else {
    lines.push(...describeLabCluster(labCluster, new Date()));
  }
  if (provider.local !== undefined) {
    const local = await provider.local.operatorStatus(lab, providerContextOf(session)).catch(() => undefined);
    lines.push(
      local === undefined
        ? "Operator: not started yet (bootstrap up starts it)"
        : `Operator: ${local.detail}; log ${local.logPath}`,
    );
  } else {
    lines.push(
      `Operator: Deployment ${OPERATOR_NAMESPACE}/kubelab-operator (kubectl -n ${OPERATOR_NAMESPACE} get pods)`,
    );
  }
  return lines;
}
