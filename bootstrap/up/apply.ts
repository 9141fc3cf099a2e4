// How steps talk to the lab's API: the client, loaded on first use, and server-side apply as bootstrap.
import type { KubernetesObject } from "@kubernetes/client-node";

import type { Progress, RunContext } from "./step.ts";

/** Server-side applies `objects` to the lab through its admin kubeconfig, as step `step`. */
export async function applyToLab(
  run: RunContext,
  step: string,
  objects: readonly KubernetesObject[],
  progress: Progress,
): Promise<void> {
  const { applyManifests, loadKubeConfig } = await kubeClient();
  await applyManifests(loadKubeConfig(run.workDir.kubeconfigFile), objects, {
    step,
    signal: run.signal,
    timeoutMs: run.apiTimeoutMs,
    progress: (line) => progress(line),
  });
}

/** The Kubernetes client, loaded when a step first talks to the API (it takes ~0.4 s to load). */
export function kubeClient() {
  return import("../kube/client.ts");
}
