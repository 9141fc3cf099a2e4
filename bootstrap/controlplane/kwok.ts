// Simulated nodes: the Node objects the engine creates, kwok's RBAC, and how kwok is told which nodes it runs.
import { readFile } from "node:fs/promises";
import type { V1ClusterRole, V1ClusterRoleBinding, V1Node, V1Taint } from "@kubernetes/client-node";

import type { ComponentVersions } from "./versions.ts";

/**
 * kwok manages the nodes carrying this label with the "managed" value (a server-side label selector).
 * Changing the value makes the node leave kwok's watch, so kwok stops renewing its Lease: the node then
 * goes silent, as a node whose kubelet died, and the controller-manager marks it NotReady.
 */
export const KWOK_NODE_LABEL = "kwok.x-k8s.io/node";
export const KWOK_MANAGED = "fake";
export const KWOK_SILENCED = "silenced";

/** The user name in kwok's client certificate, bound to the role below. */
export const KWOK_USER = "kubelab:kwok-controller";

/** A simulated node to create. */
export interface NodeSpec {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly taints?: readonly V1Taint[];
  /** Its InternalIP; nothing connects to it. Default: an address of TEST-NET-1 (192.0.2.0/24). */
  readonly internalIp?: string;
  /** Capacity as the scheduler sees it. Defaults: 2 CPUs, 4 GiB, 110 pods (the kubelet's default). */
  readonly cpu?: string;
  readonly memory?: string;
  readonly pods?: number;
}

/** The labels a kubelet puts on its node, plus the role label kubeadm adds to control-plane nodes. */
export function nodeLabels(spec: NodeSpec, arch: string): Record<string, string> {
  return {
    "kubernetes.io/hostname": spec.name,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": arch,
    "beta.kubernetes.io/os": "linux",
    "beta.kubernetes.io/arch": arch,
    ...spec.labels,
    [KWOK_NODE_LABEL]: KWOK_MANAGED,
  };
}

/**
 * The Node object for a spec, with the status a kubelet would register (capacity, addresses, versions);
 * kwok then sets the conditions to Ready and keeps the Lease fresh.
 */
export function nodeObject(
  spec: NodeSpec,
  index: number,
  versions: ComponentVersions,
  arch = "amd64",
): V1Node {
  const resources = {
    cpu: spec.cpu ?? "2",
    memory: spec.memory ?? "4Gi",
    pods: String(spec.pods ?? 110),
    "ephemeral-storage": "50Gi",
  };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: spec.name,
      labels: nodeLabels(spec, arch),
      annotations: { "node.alpha.kubernetes.io/ttl": "0", ...spec.annotations },
    },
    spec: { taints: spec.taints === undefined ? undefined : [...spec.taints] },
    status: {
      capacity: resources,
      allocatable: resources,
      addresses: [
        { type: "InternalIP", address: spec.internalIp ?? `192.0.2.${(index % 250) + 2}` },
        { type: "Hostname", address: spec.name },
      ],
      nodeInfo: {
        architecture: arch,
        operatingSystem: "linux",
        osImage: `kubelab sim (kwok ${versions.kwok})`,
        kernelVersion: "kwok",
        containerRuntimeVersion: `kwok://${versions.kwok}`,
        kubeletVersion: versions.kubernetes,
        kubeProxyVersion: "",
        bootID: "",
        machineID: "",
        systemUUID: "",
      },
    },
  };
}

/** The stage definitions (kwok-stages.yaml next to this file). */
export async function kwokStages(): Promise<string> {
  return readFile(new URL("./kwok-stages.yaml", import.meta.url), "utf8");
}

/** Least privilege for kwok: read nodes, write node and pod status, delete pods, own node Leases, events. */
export function kwokRbac(): { role: V1ClusterRole; binding: V1ClusterRoleBinding } {
  const name = KWOK_USER;
  return {
    role: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name },
      rules: [
        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["nodes/status", "pods/status"], verbs: ["get", "patch", "update"] },
        {
          apiGroups: [""],
          resources: ["pods"],
          verbs: ["get", "list", "watch", "patch", "update", "delete"],
        },
        {
          apiGroups: ["coordination.k8s.io"],
          resources: ["leases"],
          verbs: ["get", "list", "watch", "create", "patch", "update"],
        },
        { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch", "update"] },
      ],
    },
    binding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name }],
    },
  };
}
