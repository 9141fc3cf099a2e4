// Node health's caches: what the Node and node Lease informers keep, and the remediation record on a Node.

/** The annotation that marks a node as remediated by kubelab, and records how (JSON RemediationRecord). */
export const REMEDIATION_ANNOTATION = "kubelab.dev/remediation";
/** Labels that make a node a control-plane node, which is never remediated. */
export const CONTROL_PLANE_LABELS = [
  "node-role.kubernetes.io/control-plane",
  "node-role.kubernetes.io/master",
];
export const NODE_LEASE_NAMESPACE = "kube-node-lease";

/** What kubelab did to a node, stored on the node itself so a restarted operator knows it too. */
export interface RemediationRecord {
  /** The LabCluster that acted; only it undoes. */
  readonly by: string;
  readonly action: "Cordon" | "Drain";
  /** When the cordon was applied (RFC 3339): the drain timeout runs from here. */
  readonly started: string;
  readonly result?: "Drained" | "TimedOut";
  /** Pods not managed by a controller, left on the node (a drain never deletes those). */
  readonly unmanagedPods?: number;
}

/** A Node as cached: the fields node health reads. Heartbeat-only updates leave it unchanged. */
export interface SlimNode {
  readonly metadata: { readonly name: string; readonly uid?: string };
  readonly createdAt: number | undefined;
  readonly controlPlane: boolean;
  readonly unschedulable: boolean;
  readonly ready:
    | {
        readonly status: string;
        readonly reason?: string;
        readonly message?: string;
        readonly since?: number;
      }
    | undefined;
  readonly remediation: RemediationRecord | undefined;
}

/** A node Lease as cached: when it was last renewed. */
export interface SlimLease {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly renewTime: number | undefined;
  /** spec.leaseDurationSeconds: its kubelet renews it every quarter of this. */
  readonly durationSeconds?: number;
}

/** The informer transform of Nodes. */
export function toSlimNode(raw: Record<string, unknown>): SlimNode {
  const metadata = (raw.metadata ?? {}) as {
    name?: string;
    uid?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  const spec = (raw.spec ?? {}) as { unschedulable?: boolean };
  const status = (raw.status ?? {}) as {
    conditions?: {
      type?: string;
      status?: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string;
    }[];
  };
  const ready = status.conditions?.find((condition) => condition.type === "Ready");
  const labels = metadata.labels ?? {};
  return {
    metadata: { name: metadata.name ?? "", ...(metadata.uid === undefined ? {} : { uid: metadata.uid }) },
    createdAt: parseTime(metadata.creationTimestamp),
    controlPlane: CONTROL_PLANE_LABELS.some((label) => label in labels),
    unschedulable: spec.unschedulable === true,
    ready:
      ready === undefined
        ? undefined
        : {
            status: ready.status ?? "Unknown",
            ...(ready.reason === undefined ? {} : { reason: ready.reason }),
            ...(ready.message === undefined ? {} : { message: ready.message }),
            ...(ready.lastTransitionTime === undefined ? {} : { since: parseTime(ready.lastTransitionTime) }),
          },
    remediation: parseRemediationRecord(metadata.annotations?.[REMEDIATION_ANNOTATION]),
  };
}

/** The informer transform of node Leases. */
export function toSlimLease(raw: Record<string, unknown>): SlimLease {
  const metadata = (raw.metadata ?? {}) as { name?: string; namespace?: string };
  const spec = (raw.spec ?? {}) as { renewTime?: string; leaseDurationSeconds?: number };
  return {
    metadata: { name: metadata.name ?? "", namespace: metadata.namespace ?? NODE_LEASE_NAMESPACE },
    renewTime: parseTime(spec.renewTime),
    ...(typeof spec.leaseDurationSeconds === "number" ? { durationSeconds: spec.leaseDurationSeconds } : {}),
  };
}

/** The remediation annotation's value, or undefined when absent or not ours to read. */
export function parseRemediationRecord(text: string | undefined): RemediationRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<RemediationRecord>;
    if (typeof value.by !== "string" || (value.action !== "Cordon" && value.action !== "Drain"))
      return undefined;
    if (typeof value.started !== "string") return undefined;
    return value as RemediationRecord;
  } catch {
    return undefined;
  }
}

/** Epoch milliseconds of an RFC 3339 time; undefined when absent or unparsable. */
export function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Date.parse(text);
  return Number.isNaN(value) ? undefined : value;
}
