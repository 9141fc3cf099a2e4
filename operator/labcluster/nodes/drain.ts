// Draining a node: evict its pods through the Eviction API, as `kubectl drain --ignore-daemonsets` does.
import { ApiError, isNotFound } from "../../errors.ts";
import { resourcePath, type KubeClient } from "../../runtime/client.ts";

/** How far a drain got in one pass. */
export interface DrainProgress {
  /** Evictions accepted in this pass. */
  readonly evicted: number;
  /** Evictions a PodDisruptionBudget refused (429) in this pass: retried on the next pass; 0 means drained. */
  readonly blocked: number;
  /** Evicted pods not gone yet. Not waited for: a dead kubelet never confirms their end, and their
   * controllers already replaced them (a terminating pod does not count as a replica). */
  readonly terminating: number;
  /** Pods without a controller (namespace/name): never evicted, since nothing would recreate them. */
  readonly unmanaged: readonly string[];
}

interface PodObject {
  metadata: {
    name: string;
    namespace: string;
    deletionTimestamp?: string;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; controller?: boolean }[];
  };
  status?: { phase?: string };
}

/**
 * Which pods of a node a drain evicts: not mirror pods, not DaemonSet pods, not finished pods, not pods
 * without a controller; pods already terminating were evicted (or deleted) before.
 */
export function classifyPod(pod: PodObject): "skip" | "unmanaged" | "terminating" | "evict" {
  if (pod.metadata.annotations?.["kubernetes.io/config.mirror"] !== undefined) return "skip";
  const controller = pod.metadata.ownerReferences?.find((owner) => owner.controller === true);
  if (controller?.kind === "DaemonSet") return "skip";
  if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return "skip";
  if (pod.metadata.deletionTimestamp !== undefined) return "terminating";
  if (controller === undefined) return "unmanaged";
  return "evict";
}

/**
 * One pass of a drain: lists the node's pods and asks the Eviction API to evict each evictable one. The API
 * server enforces PodDisruptionBudgets (429 TooManyRequests when an eviction would break one), so a drain
 * never takes down more than a budget allows; refused evictions are retried by the next pass. Pods are never
 * deleted directly. Done when every evictable pod was evicted: their termination is not awaited.
 */
export async function drainNode(
  client: KubeClient,
  nodeName: string,
  signal: AbortSignal,
): Promise<DrainProgress> {
  const pods = await client.get<{ items?: PodObject[] }>("/api/v1/pods", {
    query: { fieldSelector: `spec.nodeName=${nodeName}` },
    signal,
  });
  let evicted = 0;
  let blocked = 0;
  let terminating = 0;
  const unmanaged: string[] = [];
  for (const pod of pods.items ?? []) {
    const kind = classifyPod(pod);
    if (kind === "skip") continue;
    if (kind === "unmanaged") {
      unmanaged.push(`${pod.metadata.namespace}/${pod.metadata.name}`);
      continue;
    }
    if (kind === "terminating") {
      terminating++;
      continue;
    }
    const path = resourcePath({
      group: "",
      version: "v1",
      plural: "pods",
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      subresource: "eviction",
    });
    try {
      await client.create(
        path,
        {
          apiVersion: "policy/v1",
          kind: "Eviction",
          metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace },
        },
        { signal },
      );
      evicted++;
    } catch (error) {
      if (isNotFound(error)) continue;
      if (error instanceof ApiError && error.statusCode === 429) {
        blocked++;
        continue;
      }
      throw error;
    }
  }
  return { evicted, blocked, terminating, unmanaged };
}
