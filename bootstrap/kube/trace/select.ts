// Which objects a trace follows: a Deployment's current ReplicaSet, its newest pod, the CNI agent on a node (pure).
import type { CniAgent, TracedObject, TracedPod } from "./objects.ts";

/** The DaemonSets of the CNIs a lab may run: Calico, kube-router, Flannel, Cilium, kind's kindnet, Weave, Antrea. */
export const CNI_DAEMONSETS: readonly string[] = [
  "calico-node",
  "kube-router",
  "kube-flannel-ds",
  "cilium",
  "kindnet",
  "weave-net",
  "antrea-agent",
];

/** A pod as listed for a node: enough to tell a CNI agent and whether it is Ready. */
export interface ListedPod {
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly ownerReferences?: readonly { readonly kind: string; readonly name: string }[];
  };
  readonly spec?: { readonly nodeName?: string };
  readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}

function ownedBy(object: TracedObject, ownerUid: string): boolean {
  return (object.metadata.ownerReferences ?? []).some(
    (reference) => reference.uid === ownerUid && reference.controller === true,
  );
}

function newestFirst(a: TracedObject, b: TracedObject): number {
  return (
    Date.parse(b.metadata.creationTimestamp) - Date.parse(a.metadata.creationTimestamp) ||
    b.metadata.name.localeCompare(a.metadata.name)
  );
}

/**
 * The Deployment's current ReplicaSet: of those it controls, the one with the highest
 * deployment.kubernetes.io/revision (the deployment controller's own mark), the newest on a tie.
 */
export function currentReplicaSet<T extends TracedObject>(
  replicaSets: readonly T[],
  deploymentUid: string,
): T | undefined {
  const revision = (object: TracedObject): number =>
    Number(object.metadata.annotations?.["deployment.kubernetes.io/revision"] ?? 0) || 0;
  return replicaSets
    .filter((replicaSet) => ownedBy(replicaSet, deploymentUid))
    .sort((a, b) => revision(b) - revision(a) || newestFirst(a, b))[0];
}

/** The newest pod `ownerUid` controls (the one a learner just made come and go). */
export function newestOwnedPod(pods: readonly TracedPod[], ownerUid: string): TracedPod | undefined {
  return pods.filter((pod) => ownedBy(pod, ownerUid)).sort(newestFirst)[0];
}

/** The CNI's agent among the pods of a node: a pod of one of CNI_DAEMONSETS. */
export function cniAgentOf(pods: readonly ListedPod[]): CniAgent | undefined {
  const pod = pods.find((candidate) =>
    (candidate.metadata.ownerReferences ?? []).some(
      (reference) => reference.kind === "DaemonSet" && CNI_DAEMONSETS.includes(reference.name),
    ),
  );
  if (pod === undefined) return undefined;
  return {
    namespace: pod.metadata.namespace ?? "",
    name: pod.metadata.name,
    ready: pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
  };
}
