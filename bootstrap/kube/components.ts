// The lab's component map for `bootstrap status --components`: nodes, control plane, addons, etcd, what the operator guards (pure).
import type { HostProcess } from "../providers/provider.ts";
import type { LiveLabCluster } from "./labcluster.ts";
import { CNI_DAEMONSETS } from "./trace/select.ts";

/** The parts of a Node the map shows, as the API serves them. */
export interface MapNode {
  readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>> };
  readonly spec?: { readonly podCIDR?: string };
  readonly status?: {
    readonly addresses?: readonly { readonly type: string; readonly address: string }[];
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
    readonly nodeInfo?: { readonly kubeletVersion?: string; readonly containerRuntimeVersion?: string };
  };
}

/** The parts of a Pod the map shows. */
export interface MapPod {
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly ownerReferences?: readonly { readonly kind: string; readonly name: string }[];
  };
  readonly spec?: {
    readonly nodeName?: string;
    readonly containers?: readonly { readonly image?: string }[];
  };
  readonly status?: {
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
    readonly containerStatuses?: readonly {
      readonly restartCount?: number;
      readonly state?: { readonly running?: { readonly startedAt?: string } };
    }[];
  };
}

/** A Deployment or DaemonSet, reduced to what the map says of it. */
export interface MapWorkload {
  readonly kind: "Deployment" | "DaemonSet";
  readonly namespace: string;
  readonly name: string;
  readonly desired: number;
  readonly ready: number;
  readonly image?: string;
}

/** What etcd's state is known as through the API, each with where it came from. */
export interface EtcdFacts {
  /** apiserver_storage_size_bytes of the API server's /metrics: its reading of etcd's database size. */
  readonly dbSizeBytes?: number;
  /** The resourceVersion of a fresh list: the revision of etcd the API server read (opaque by contract). */
  readonly revision?: string;
  /** The newest verified EtcdSnapshot. */
  readonly lastSnapshot?: { readonly name: string; readonly revision?: number; readonly createdAt?: string };
}

export interface ComponentsInput {
  readonly nodes: readonly MapNode[];
  readonly pods: readonly MapPod[];
  readonly coredns?: MapWorkload;
  readonly kubeProxy?: MapWorkload;
  readonly cni?: MapWorkload;
  readonly etcd: EtcdFacts;
  readonly serverVersion?: string;
  readonly labCluster?: LiveLabCluster & {
    readonly spec?: { readonly addons?: Readonly<Record<string, { readonly mode?: string } | undefined>> };
  };
  readonly labClusterName: string;
  /** Set where the control plane runs as host processes (sim): no static pods exist. */
  readonly hostProcesses?: readonly HostProcess[];
  readonly now: Date;
}

const CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane";
/** The static pods kubeadm writes on a control plane, by their `component` label. */
export const STATIC_COMPONENTS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
] as const;

/** The Mirror pod of a static pod: the kubelet marks it with config.mirror and makes the Node its owner. */
function isMirrorPod(pod: MapPod): boolean {
  return (
    pod.metadata.annotations?.["kubernetes.io/config.mirror"] !== undefined ||
    (pod.metadata.ownerReferences ?? []).some((owner) => owner.kind === "Node")
  );
}

function isReady(conditions: readonly { type: string; status: string }[] | undefined): boolean {
  return conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

function ownedByDaemonSet(pod: MapPod, names: readonly string[]): boolean {
  return (pod.metadata.ownerReferences ?? []).some(
    (owner) => owner.kind === "DaemonSet" && names.includes(owner.name),
  );
}

/** "45s", "12m", "3h", "2d": an age as kubectl prints it. */
export function formatAge(fromIso: string | undefined, now: Date): string {
  if (fromIso === undefined) return "-";
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(fromIso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 2 * 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** "944 KiB", "12.3 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function table(rows: readonly (readonly string[])[], indent = "  "): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    `${indent}${row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ")}`.trimEnd(),
  );
}

function podCell(pod: MapPod | undefined): string {
  if (pod === undefined) return "-";
  return `${pod.metadata.name}${isReady(pod.status?.conditions) ? "" : " (not Ready)"}`;
}

function workloadLine(label: string, workload: MapWorkload | undefined, missing: string): string {
  if (workload === undefined) return `  ${label.padEnd(10)}  ${missing}`;
  return (
    `  ${label.padEnd(10)}  ${workload.kind} ${workload.namespace}/${workload.name}: ${workload.ready}/${workload.desired} ready` +
    `${workload.image === undefined ? "" : `, image ${workload.image}`}`
  );
}

/**
 * The component map, one screen: every node with its kubelet, runtime, addresses, CNI agent and kube-proxy
 * pod; the control plane's static pods (image, age of the running container, restarts, Ready), or on a lab
 * without them (sim) the host processes in their place, said so; CoreDNS, kube-proxy and the CNI; etcd's
 * size and revision with where each figure comes from; and the addons and backups the operator guards.
 */
export function renderComponentMap(input: ComponentsInput): string[] {
  const lines: string[] = [];
  const simulated = input.nodes.some((node) =>
    node.status?.nodeInfo?.containerRuntimeVersion?.startsWith("kwok"),
  );
  lines.push(`Components (API server ${input.serverVersion ?? "version unknown"}):`);

  const podsOn = (node: string) => input.pods.filter((pod) => pod.spec?.nodeName === node);
  const cniNames = input.cni === undefined ? CNI_DAEMONSETS : [input.cni.name];
  lines.push("Nodes:");
  lines.push(
    ...table([
      ["NODE", "ROLE", "READY", "KUBELET", "RUNTIME", "INTERNAL-IP", "POD-CIDR", "CNI POD", "KUBE-PROXY POD"],
      ...input.nodes.map((node) => {
        const pods = podsOn(node.metadata.name);
        return [
          node.metadata.name,
          node.metadata.labels?.[CONTROL_PLANE_ROLE] !== undefined ? "control-plane" : "worker",
          isReady(node.status?.conditions) ? "Ready" : "NotReady",
          node.status?.nodeInfo?.kubeletVersion ?? "?",
          node.status?.nodeInfo?.containerRuntimeVersion ?? "?",
          node.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? "?",
          node.spec?.podCIDR ?? "-",
          podCell(pods.find((pod) => ownedByDaemonSet(pod, cniNames))),
          podCell(pods.find((pod) => ownedByDaemonSet(pod, ["kube-proxy"]))),
        ];
      }),
    ]),
  );
  if (simulated) {
    lines.push(
      "  (KWOK nodes: kwok answers for the kubelet and the runtime; no container runs, pods only look Running)",
    );
  }

  const staticPods = input.pods.filter((pod) => pod.metadata.namespace === "kube-system" && isMirrorPod(pod));
  if (staticPods.length > 0) {
    lines.push("Control plane (static pods, from /etc/kubernetes/manifests on the node):");
    const componentOf = (pod: MapPod) => pod.metadata.labels?.component ?? pod.metadata.name;
    const rank = (pod: MapPod) => {
      const index = (STATIC_COMPONENTS as readonly string[]).indexOf(componentOf(pod));
      return index < 0 ? STATIC_COMPONENTS.length : index;
    };
    lines.push(
      ...table([
        ["COMPONENT", "NODE", "IMAGE", "AGE", "RESTARTS", "READY"],
        ...[...staticPods]
          .sort((a, b) => rank(a) - rank(b) || a.metadata.name.localeCompare(b.metadata.name))
          .map((pod) => {
            const statuses = pod.status?.containerStatuses ?? [];
            return [
              componentOf(pod),
              pod.spec?.nodeName ?? "?",
              pod.spec?.containers?.[0]?.image ?? "?",
              formatAge(statuses[0]?.state?.running?.startedAt, input.now),
              String(statuses.reduce((sum, status) => sum + (status.restartCount ?? 0), 0)),
              isReady(pod.status?.conditions) ? "True" : "False",
            ];
          }),
      ]),
    );
  } else if (input.hostProcesses !== undefined) {
    lines.push(
      "Control plane: no static pods. On this lab it runs as processes on the host, supervised by bootstrap:",
    );
    lines.push(
      ...table([
        ["COMPONENT", "PID", "RUNNING"],
        ...input.hostProcesses.map((process) => [
          process.component,
          process.pid === undefined ? "-" : String(process.pid),
          process.running ? "yes" : "no",
        ]),
      ]),
    );
  } else {
    lines.push(
      "Control plane: no static pods found in kube-system (a kubeadm control plane has kube-apiserver, etcd, " +
        "kube-controller-manager and kube-scheduler there)",
    );
  }

  lines.push("Addons:");
  lines.push(workloadLine("CoreDNS", input.coredns, "not found (kube-system/coredns)"));
  lines.push(
    workloadLine(
      "kube-proxy",
      input.kubeProxy,
      simulated
        ? "not installed: sim has no kube-proxy (Services get ClusterIPs, nothing routes them)"
        : "not found (kube-system/kube-proxy)",
    ),
  );
  lines.push(workloadLine("CNI", input.cni, `no DaemonSet of a known CNI (${CNI_DAEMONSETS.join(", ")})`));

  const etcd = input.etcd;
  const facts = [
    etcd.dbSizeBytes === undefined
      ? "db size unknown (no apiserver_storage_size_bytes in /metrics)"
      : `db ${formatBytes(etcd.dbSizeBytes)} (apiserver_storage_size_bytes: the API server's reading of etcd's status)`,
    etcd.revision === undefined
      ? "revision unknown"
      : `revision ${etcd.revision} (resourceVersion of a fresh list: etcd's revision as the API server read it)`,
  ];
  lines.push("etcd:");
  for (const fact of facts) lines.push(`  ${fact}`);
  lines.push(
    etcd.lastSnapshot === undefined
      ? "  last snapshot: none (bootstrap backup takes one)"
      : `  last snapshot: ${etcd.lastSnapshot.name}${
          etcd.lastSnapshot.revision === undefined ? "" : ` at revision ${etcd.lastSnapshot.revision}`
        }${etcd.lastSnapshot.createdAt === undefined ? "" : `, ${formatAge(etcd.lastSnapshot.createdAt, input.now)} ago`}`,
  );

  const labCluster = input.labCluster;
  if (labCluster === undefined) {
    lines.push(`Operator guards: nothing yet (no LabCluster ${input.labClusterName})`);
  } else {
    const addons = labCluster.status?.addons ?? {};
    const specAddons = labCluster.spec?.addons ?? {};
    const guarded = (["calico", "coredns"] as const).map((name) => {
      const status = addons[name];
      const mode = specAddons[name]?.mode ?? "default modes";
      const health =
        status?.healthy === undefined ? "not reported" : status.healthy ? "healthy" : "unhealthy";
      return `${name} (${status?.objects ?? "?"} objects, ${mode}, ${health}, ${status?.restores ?? 0} restores)`;
    });
    const backup = labCluster.spec?.etcdBackup;
    lines.push(
      `Operator guards (LabCluster ${input.labClusterName}): ${guarded.join("; ")}; etcd snapshots ` +
        `${backup?.suspend === true ? "suspended" : `on "${backup?.schedule ?? "?"}"`}, ` +
        `${labCluster.status?.backups?.count ?? 0} kept`,
    );
  }
  return lines;
}
