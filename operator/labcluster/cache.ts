// What the operator caches of each LabCluster: enough for mappers, nothing more (reconciles read it live).
import {
  BOOTSTRAP_MANAGER,
  LABCLUSTER_PLURAL,
  labClusterSpecSchema,
  MANAGED_BY_LABEL,
  type LabClusterSpec,
} from "../api/labcluster.ts";
import { API_GROUP, API_VERSION } from "../api/common.ts";
import { resourcePath } from "../runtime/client.ts";

/** A LabCluster in the informer's cache. */
export interface CachedLabCluster {
  readonly metadata: { readonly name: string; readonly uid?: string; readonly generation?: number };
  /** metadata.creationTimestamp: the oldest acts when bootstrap made none (actingLabCluster). */
  readonly createdAt: string | undefined;
  /** Labelled as bootstrap labels the LabCluster of the lab it made. */
  readonly madeByBootstrap: boolean;
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
  const metadata = (raw.metadata ?? {}) as {
    name?: string;
    uid?: string;
    generation?: number;
    creationTimestamp?: string;
    labels?: Record<string, string>;
  };
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
    createdAt: metadata.creationTimestamp,
    madeByBootstrap: metadata.labels?.[MANAGED_BY_LABEL] === BOOTSTRAP_MANAGER,
    spec: spec.success ? spec.data : undefined,
    unhealthyNodes,
  };
}

/**
 * The LabCluster that acts for the cluster, when there are several (one lab per cluster): the one bootstrap
 * made, else the oldest; ties by name, so every replica and every reconcile picks the same. LabClusters
 * whose spec this operator cannot read are not candidates (they cannot act). Undefined when none is.
 */
export function actingLabCluster(labClusters: Iterable<CachedLabCluster>): CachedLabCluster | undefined {
  let acting: CachedLabCluster | undefined;
  for (const candidate of labClusters) {
    if (candidate.spec !== undefined && (acting === undefined || actsBefore(candidate, acting)))
      acting = candidate;
  }
  return acting;
}

function actsBefore(a: CachedLabCluster, b: CachedLabCluster): boolean {
  if (a.madeByBootstrap !== b.madeByBootstrap) return a.madeByBootstrap;
  const created = (labCluster: CachedLabCluster) =>
    labCluster.createdAt === undefined ? Infinity : Date.parse(labCluster.createdAt);
  if (created(a) !== created(b)) return created(a) < created(b);
  return a.metadata.name < b.metadata.name;
}
