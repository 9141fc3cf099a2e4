// Reading the component map from the lab's API: nodes, pods, addon workloads, etcd's size and revision (client-node).
import type { KubeConfig } from "@kubernetes/client-node";

import { API_GROUP, API_VERSION } from "../../operator/api/common.ts";
import type { EtcdSnapshot } from "../../operator/api/etcdsnapshot.ts";
import { ETCDSNAPSHOT_PLURAL } from "../../operator/api/etcdsnapshot.ts";
import { LABCLUSTER_PLURAL } from "../../operator/api/labcluster.ts";
import type { ComponentsInput, EtcdFacts, MapNode, MapPod, MapWorkload } from "./components.ts";
import { RawJsonApi } from "./raw.ts";
import { CNI_DAEMONSETS } from "./trace/select.ts";

interface List<T> {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly items: T[];
}

interface WorkloadObject {
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec?: {
    readonly replicas?: number;
    readonly template?: { readonly spec?: { readonly containers?: readonly { readonly image?: string }[] } };
  };
  readonly status?: {
    readonly readyReplicas?: number;
    readonly desiredNumberScheduled?: number;
    readonly numberReady?: number;
  };
}

function workload(kind: MapWorkload["kind"], object: WorkloadObject | undefined): MapWorkload | undefined {
  if (object === undefined) return undefined;
  return {
    kind,
    namespace: object.metadata.namespace ?? "",
    name: object.metadata.name,
    desired:
      kind === "Deployment" ? (object.spec?.replicas ?? 1) : (object.status?.desiredNumberScheduled ?? 0),
    ready: kind === "Deployment" ? (object.status?.readyReplicas ?? 0) : (object.status?.numberReady ?? 0),
    ...(object.spec?.template?.spec?.containers?.[0]?.image === undefined
      ? {}
      : { image: object.spec.template.spec.containers[0].image }),
  };
}

/** The value of an unlabelled-enough Prometheus sample (`name{...} value`), summed over its series. */
export function metricValue(metrics: string, name: string): number | undefined {
  const values = metrics
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => Number(line.slice(line.lastIndexOf(" ") + 1)))
    .filter((value) => Number.isFinite(value));
  return values.length === 0 ? undefined : values.reduce((sum, value) => sum + value, 0);
}

/**
 * Everything the map shows except what the provider knows (host processes), read in parallel. Each part that
 * cannot be read (a CRD not installed yet, /metrics refused) is left out rather than failing the map.
 */
export async function readComponentsInput(
  config: KubeConfig,
  labClusterName: string,
  now: Date,
): Promise<Omit<ComponentsInput, "hostProcesses">> {
  const api = RawJsonApi.forConfig(config);
  const optional = <T>(promise: Promise<T>): Promise<T | undefined> => promise.catch(() => undefined);
  const [nodes, pods, daemonSets, coredns, metrics, namespaces, snapshots, labCluster, version] =
    await Promise.all([
      api.get<List<MapNode>>("/api/v1/nodes"),
      api.get<List<MapPod>>("/api/v1/pods"),
      api.get<List<WorkloadObject>>("/apis/apps/v1/daemonsets"),
      api.getIfExists<WorkloadObject>("/apis/apps/v1/namespaces/kube-system/deployments/coredns"),
      optional(api.getText("/metrics")),
      optional(api.get<List<unknown>>("/api/v1/namespaces", { limit: "1" })),
      optional(api.get<List<EtcdSnapshot>>(`/apis/${API_GROUP}/${API_VERSION}/${ETCDSNAPSHOT_PLURAL}`)),
      optional(
        api.getIfExists<ComponentsInput["labCluster"]>(
          `/apis/${API_GROUP}/${API_VERSION}/${LABCLUSTER_PLURAL}/${encodeURIComponent(labClusterName)}`,
        ),
      ),
      optional(api.get<{ gitVersion?: string }>("/version")),
    ]);
  const daemonSet = (names: readonly string[]) =>
    daemonSets.items.find((item) => names.includes(item.metadata.name));
  const newestVerified = (snapshots?.items ?? [])
    .filter((snapshot) => snapshot.status?.verification?.verified === true)
    .sort((a, b) => Date.parse(b.spec.createdAt) - Date.parse(a.spec.createdAt))[0];
  const dbSizeBytes =
    metrics === undefined ? undefined : metricValue(metrics, "apiserver_storage_size_bytes");
  const etcd: EtcdFacts = {
    ...(dbSizeBytes === undefined ? {} : { dbSizeBytes }),
    ...(namespaces?.metadata?.resourceVersion === undefined
      ? {}
      : { revision: namespaces.metadata.resourceVersion }),
    ...(newestVerified === undefined
      ? {}
      : {
          lastSnapshot: {
            name: newestVerified.metadata.name ?? "?",
            revision: newestVerified.spec.etcd?.revision,
            createdAt: newestVerified.spec.createdAt,
          },
        }),
  };
  const coreDns = workload("Deployment", coredns);
  const kubeProxy = workload("DaemonSet", daemonSet(["kube-proxy"]));
  const cni = workload("DaemonSet", daemonSet(CNI_DAEMONSETS));
  return {
    nodes: nodes.items,
    pods: pods.items,
    ...(coreDns === undefined ? {} : { coredns: coreDns }),
    ...(kubeProxy === undefined ? {} : { kubeProxy }),
    ...(cni === undefined ? {} : { cni }),
    etcd,
    ...(version?.gitVersion === undefined ? {} : { serverVersion: version.gitVersion }),
    ...(labCluster === undefined ? {} : { labCluster }),
    labClusterName,
    now,
  };
}
