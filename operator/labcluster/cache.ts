// What the operator caches of each LabCluster: enough for mappers, nothing more (reconciles read it live).
import { LABCLUSTER_PLURAL, labClusterSpecSchema, type LabClusterSpec } from "../api/labcluster.ts";
import { API_GROUP, API_VERSION } from "../api/common.ts";
import { resourcePath } from "../runtime/client.ts";

/** A LabCluster in the informer's cache. */
export interface CachedLabCluster {
  readonly metadata: { readonly name: string; readonly uid?: string; readonly generation?: number };
  /** The spec with defaults; undefined when it does not parse (the reconcile reports why). */
  readonly spec: LabClusterSpec | undefined;
  /** Nodes its status reports as not healthy: their Lease renewals may be recoveries (leaseToLabCluster). */
  readonly unhealthyNodes: readonly string[];
}

/** The collection path of LabClusters. */
export const LABCLUSTERS_PATH = resourcePath({
  group: API_GROUP,
  version: API_VERSION,
  plural: LABCLUSTER_PLURAL,
});

/** The path of one LabCluster (cluster-scoped: the key is its name). */
export function labClusterPath(name: string, subresource?: string): string {
  return resourcePath({
    group: API_GROUP,
    version: API_VERSION,
    plural: LABCLUSTER_PLURAL,
    name,
    ...(subresource === undefined ? {} : { subresource }),
  });
}

/** The informer transform of LabClusters. */
export function toCachedLabCluster(raw: Record<string, unknown>): CachedLabCluster {
  const metadata = (raw.metadata ?? {}) as { name?: string; uid?: string; generation?: number };
  const spec = labClusterSpecSchema.safeParse(raw.spec ?? {});
  const status = (raw.status ?? {}) as { nodes?: { name?: string; ready?: boolean }[] };
  const unhealthyNodes = (status.nodes ?? [])
    .filter((node) => node.ready === false && typeof node.name === "string")
    .map((node) => node.name as string);
  return {
    metadata: {
      name: metadata.name ?? "",
      ...(metadata.uid === undefined ? {} : { uid: metadata.uid }),
      ...(metadata.generation === undefined ? {} : { generation: metadata.generation }),
    },
    spec: spec.success ? spec.data : undefined,
    unhealthyNodes,
  };
}
