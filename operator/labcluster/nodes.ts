// Node health: Ready condition + node Lease -> per-node health, remediation (Cordon/Drain) and its undo.
import { Counter, Gauge } from "prom-client";

import {
  ConditionType,
  NodeHealthReason,
  type ExpectedNode,
  type LabClusterStatus,
  type NodeHealthSpec,
  type NodeRole,
  type NodeStatus,
  type Remediation,
  type RemediationState,
} from "../api/labcluster.ts";
import { isNotFound } from "../errors.ts";
import { resourcePath, type KubeClient } from "../runtime/client.ts";
import { formatTime } from "../runtime/conditions.ts";
import type { EventRecord } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import type { CachedLabCluster } from "./cache.ts";
import { drainNode } from "./drain.ts";
import { source, type LabClusterPart, type PartCondition, type PartInput, type PartResult } from "./part.ts";

// ---------------------------------------------------------------------------------------------------------
// What the caches keep of Nodes and Leases
// ---------------------------------------------------------------------------------------------------------

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
  const spec = (raw.spec ?? {}) as { renewTime?: string };
  return {
    metadata: { name: metadata.name ?? "", namespace: metadata.namespace ?? NODE_LEASE_NAMESPACE },
    renewTime: parseTime(spec.renewTime),
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

// ---------------------------------------------------------------------------------------------------------
// Decisions (pure)
// ---------------------------------------------------------------------------------------------------------

/** One node's health as assessed now. Times are epoch milliseconds. */
export interface NodeHealth {
  readonly name: string;
  readonly role: NodeRole;
  /** Control-plane by the expected role or by its labels: never remediated. */
  readonly controlPlane: boolean;
  readonly exists: boolean;
  readonly healthy: boolean;
  readonly reason: NodeHealthReason;
  readonly message: string;
  /** When the node entered this state (from the data when it says, else first observed). */
  readonly since: number;
  /** The Lease's last renewal. */
  readonly lastHeartbeat: number | undefined;
  /** When this healthy node turns unhealthy unless something changes (its Lease goes stale). */
  readonly deadline: number | undefined;
  readonly unschedulable: boolean;
  readonly remediation: RemediationRecord | undefined;
}

export interface AssessInput {
  readonly expected: readonly ExpectedNode[];
  readonly nodes: Iterable<SlimNode>;
  readonly lease: (nodeName: string) => SlimLease | undefined;
  readonly leaseStaleSeconds: number;
  /** The status entries of the previous reconcile, to keep `since` stable. */
  readonly previous: ReadonlyMap<string, NodeStatus>;
  readonly now: number;
}

/**
 * Assesses every node, expected or observed. A node is healthy only if its Ready condition is True AND its
 * Lease in kube-node-lease was renewed within leaseStaleSeconds: a kubelet that stops renewing is seen
 * before the controller-manager's grace period (40 s) flips Ready to Unknown. In order:
 *
 * 1. Missing: expected, but no Node object.
 * 2. LeaseStale: the Lease was last renewed more than leaseStaleSeconds ago (even while Ready=True).
 * 3. NotReady: Ready=False, the kubelet itself reports a problem.
 * 4. ReadyUnknown: Ready=Unknown or absent.
 * 5. NoLease: no Lease, and the node is older than leaseStaleSeconds (a new node gets that long to make one).
 * 6. Healthy.
 *
 * Node clocks are trusted to be in sync with the operator's (renewTime is written by the kubelet).
 */
export function assessNodes(input: AssessInput): NodeHealth[] {
  const staleMs = input.leaseStaleSeconds * 1000;
  const expectedRoles = new Map(input.expected.map((node) => [node.name, node.role]));
  const observed = new Map<string, SlimNode>();
  for (const node of input.nodes) observed.set(node.metadata.name, node);
  const names = new Set([...expectedRoles.keys(), ...observed.keys()]);
  const result: NodeHealth[] = [];
  for (const name of names) {
    const node = observed.get(name);
    const expectedRole = expectedRoles.get(name);
    const controlPlane = expectedRole === "control-plane" || node?.controlPlane === true;
    const role: NodeRole = controlPlane ? "control-plane" : "worker";
    const previous = input.previous.get(name);
    const keepSince = (reason: NodeHealthReason, fallback: number) =>
      previous !== undefined && previous.reason === reason && previous.since !== undefined
        ? (parseTime(previous.since) ?? fallback)
        : fallback;
    const base = {
      name,
      role,
      controlPlane,
      unschedulable: node?.unschedulable ?? false,
      remediation: node?.remediation,
    };
    if (node === undefined) {
      result.push({
        ...base,
        exists: false,
        healthy: false,
        reason: NodeHealthReason.missing,
        message: "listed in spec.nodes.expected but no Node object exists (never joined, or deleted)",
        since: keepSince(NodeHealthReason.missing, input.now),
        lastHeartbeat: undefined,
        deadline: undefined,
      });
      continue;
    }
    const renewTime = input.lease(name)?.renewTime;
    const unhealthy = (reason: NodeHealthReason, message: string, since: number): NodeHealth => ({
      ...base,
      exists: true,
      healthy: false,
      reason,
      message,
      since,
      lastHeartbeat: renewTime,
      deadline: undefined,
    });
    const ready = node.ready;
    if (renewTime !== undefined && input.now - renewTime >= staleMs) {
      // No "N s ago": a message that changes with time would rewrite the status at every reconcile.
      result.push(
        unhealthy(
          NodeHealthReason.leaseStale,
          `Lease not renewed since ${formatTime(new Date(renewTime))} (leaseStaleSeconds ${input.leaseStaleSeconds}); Ready is ${ready?.status ?? "absent"}`,
          renewTime + staleMs,
        ),
      );
    } else if (ready?.status === "False") {
      result.push(
        unhealthy(
          NodeHealthReason.notReady,
          `Ready=False: ${ready.reason ?? ""}${ready.message === undefined ? "" : ` (${ready.message})`}`.slice(
            0,
            1000,
          ),
          ready.since ?? keepSince(NodeHealthReason.notReady, input.now),
        ),
      );
    } else if (ready === undefined || ready.status !== "True") {
      result.push(
        unhealthy(
          NodeHealthReason.readyUnknown,
          ready === undefined
            ? "the node has no Ready condition yet"
            : `Ready=${ready.status}: ${ready.reason ?? ""}`,
          ready?.since ?? keepSince(NodeHealthReason.readyUnknown, input.now),
        ),
      );
    } else if (
      renewTime === undefined &&
      (node.createdAt === undefined || input.now - node.createdAt >= staleMs)
    ) {
      result.push(
        unhealthy(
          NodeHealthReason.noLease,
          `no Lease in ${NODE_LEASE_NAMESPACE}: nothing shows its kubelet is alive`,
          keepSince(
            NodeHealthReason.noLease,
            node.createdAt === undefined ? input.now : node.createdAt + staleMs,
          ),
        ),
      );
    } else {
      const deadline =
        renewTime === undefined ? (node.createdAt ?? input.now) + staleMs : renewTime + staleMs;
      const since =
        previous === undefined
          ? (ready.since ?? input.now)
          : previous.ready
            ? (parseTime(previous.since) ?? ready.since ?? input.now)
            : input.now;
      result.push({
        ...base,
        exists: true,
        healthy: true,
        reason: NodeHealthReason.healthy,
        message: "",
        since,
        lastHeartbeat: renewTime,
        deadline,
      });
    }
  }
  return result.sort((a, b) => a.name.localeCompare(b.name));
}

/** maxUnhealthy as a number of worker nodes: a count, or a percentage of `workers` rounded down. */
export function maxUnhealthyCount(maxUnhealthy: number | string, workers: number): number {
  if (typeof maxUnhealthy === "number") return maxUnhealthy;
  const percent = Number(maxUnhealthy.replace("%", ""));
  return Math.floor((percent * workers) / 100);
}

export type RemediationActionKind = "cordon" | "drain" | "continueDrain" | "drainTimedOut" | "undo";

export interface RemediationAction {
  readonly kind: RemediationActionKind;
  readonly node: string;
  readonly why: string;
}

export interface RemediationPlan {
  readonly actions: readonly RemediationAction[];
  /** The RemediationAllowed condition; undefined when remediation is None. */
  readonly condition: PartCondition | undefined;
  /** When a waiting node becomes eligible or a drain times out: reconcile again then. */
  readonly nextCheckAt: number | undefined;
}

export interface PlanInput {
  readonly health: readonly NodeHealth[];
  readonly spec: Pick<
    NodeHealthSpec,
    "remediation" | "maxUnhealthy" | "notReadySeconds" | "drainTimeoutSeconds"
  >;
  /** The LabCluster's name: remediation records of another LabCluster are not ours to touch. */
  readonly owner: string;
  readonly now: number;
}

/**
 * Decides what to do to nodes. The rules:
 *
 * - Control-plane nodes and missing nodes are never acted on.
 * - Undo comes first and always applies: a node we remediated that is healthy again (or whose LabCluster
 *   no longer asks for remediation) is uncordoned. Only nodes carrying our record: a node someone else
 *   cordoned is never touched.
 * - New remediation and continuing drains stop while more workers are unhealthy than maxUnhealthy allows
 *   (the condition says why): many at once points at the network or the control plane.
 * - A node becomes eligible after being unhealthy for notReadySeconds.
 * - Cordon marks it unschedulable; Drain cordons, then evicts until no evictable pod is left or
 *   drainTimeoutSeconds passed since the cordon.
 */
export function planRemediation(input: PlanInput): RemediationPlan {
  const { health, spec, owner, now } = input;
  const actions: RemediationAction[] = [];
  const ours = (node: NodeHealth) => node.remediation !== undefined && node.remediation.by === owner;
  for (const node of health) {
    if (!node.exists || !ours(node)) continue;
    if (node.healthy) actions.push({ kind: "undo", node: node.name, why: "the node is healthy again" });
    else if (spec.remediation === "None") {
      actions.push({ kind: "undo", node: node.name, why: "spec.nodeHealth.remediation is None" });
    }
  }
  const workers = health.filter((node) => !node.controlPlane);
  const unhealthyWorkers = workers.filter((node) => !node.healthy).length;
  const limit = maxUnhealthyCount(spec.maxUnhealthy, workers.length);
  const counts = `${unhealthyWorkers} of ${workers.length} worker nodes unhealthy, maxUnhealthy ${String(spec.maxUnhealthy)}`;
  // No remediation: no RemediationAllowed condition either (the nodes are only reported).
  if (spec.remediation === "None") return { actions, nextCheckAt: undefined, condition: undefined };
  if (unhealthyWorkers > limit) {
    return {
      actions,
      nextCheckAt: undefined,
      condition: {
        type: ConditionType.remediationAllowed,
        status: "False",
        reason: "TooManyUnhealthy",
        message: `remediation paused: ${counts} (${limit} allowed); the cause is likely not the nodes`,
      },
    };
  }
  let nextCheckAt: number | undefined;
  const wake = (at: number) => (nextCheckAt = nextCheckAt === undefined ? at : Math.min(nextCheckAt, at));
  const drainTimeoutMs = spec.drainTimeoutSeconds * 1000;
  for (const node of workers) {
    if (node.healthy || !node.exists) continue;
    const record = node.remediation;
    if (record !== undefined && record.by === owner) {
      if (record.action === "Cordon" && spec.remediation === "Drain") {
        actions.push({ kind: "drain", node: node.name, why: "spec.nodeHealth.remediation changed to Drain" });
      } else if (record.action === "Drain" && record.result === undefined) {
        const deadline = (parseTime(record.started) ?? now) + drainTimeoutMs;
        if (now >= deadline) {
          actions.push({
            kind: "drainTimedOut",
            node: node.name,
            why: `drainTimeoutSeconds ${spec.drainTimeoutSeconds} passed`,
          });
        } else {
          actions.push({ kind: "continueDrain", node: node.name, why: "pods left to evict" });
          wake(deadline);
        }
      }
      continue;
    }
    if (record !== undefined) continue; // another LabCluster's
    if (node.unschedulable) continue; // cordoned by someone else: theirs to manage
    const eligibleAt = node.since + spec.notReadySeconds * 1000;
    if (now < eligibleAt) {
      wake(eligibleAt);
      continue;
    }
    const kind = spec.remediation === "Drain" ? "drain" : "cordon";
    actions.push({ kind, node: node.name, why: `${node.reason}: ${node.message}` });
  }
  return {
    actions,
    nextCheckAt,
    condition: {
      type: ConditionType.remediationAllowed,
      status: "True",
      reason: "RemediationAllowed",
      message: `${spec.remediation} on unhealthy workers: ${counts}`,
    },
  };
}

/** The most status.nodes lists; beyond it healthy nodes are only counted. */
export const MAX_STATUS_NODES = 200;
/** Up to this many nodes in all, healthy nodes that are not expected are listed too (a lab shows everything). */
export const LIST_ALL_NODES_UP_TO = 50;

/**
 * The status fields node health owns, from the assessment. status.nodes lists unhealthy or remediated nodes
 * first, then expected ones; other healthy nodes only while the list stays lab-sized. On a big cluster a
 * status of hundreds of healthy entries says nothing and costs every write (server-side apply merges the
 * list entry by entry), so those are only counted in omittedNodes.
 */
export function nodeStatusFields(
  health: readonly NodeHealth[],
  expected: readonly ExpectedNode[],
): Pick<LabClusterStatus, "nodes" | "readyNodes" | "expectedNodes" | "nodeSummary" | "omittedNodes"> {
  const expectedNames = new Set(expected.map((node) => node.name));
  const counted = expectedNames.size > 0 ? health.filter((node) => expectedNames.has(node.name)) : health;
  const readyNodes = counted.filter((node) => node.healthy).length;
  const expectedNodes = expectedNames.size > 0 ? expectedNames.size : health.length;
  const rank = (node: NodeHealth) =>
    !node.healthy || node.remediation !== undefined ? 0 : expectedNames.has(node.name) ? 1 : 2;
  const ordered = [...health].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  const listed =
    ordered.length <= LIST_ALL_NODES_UP_TO
      ? ordered
      : ordered.filter((node) => rank(node) < 2).slice(0, MAX_STATUS_NODES);
  return {
    nodes: listed.map(toNodeStatus),
    readyNodes,
    expectedNodes,
    nodeSummary: `${readyNodes}/${expectedNodes}`,
    omittedNodes: ordered.length - listed.length,
  };
}

function toNodeStatus(node: NodeHealth): NodeStatus {
  return {
    name: node.name,
    role: node.role,
    ready: node.healthy,
    reason: node.reason,
    ...(node.message === "" ? {} : { message: node.message }),
    since: formatTime(new Date(node.since)),
    ...(node.healthy || node.lastHeartbeat === undefined
      ? {}
      : { lastHeartbeat: formatTime(new Date(node.lastHeartbeat)) }),
    ...(node.remediation === undefined ? {} : { remediated: remediationState(node.remediation) }),
  };
}

/** status.nodes[].remediated from the record on the node. */
export function remediationState(record: RemediationRecord): RemediationState {
  if (record.action === "Cordon") return "Cordoned";
  if (record.result === "Drained") return "Drained";
  if (record.result === "TimedOut") return "DrainTimedOut";
  return "Draining";
}

/** The NodesHealthy condition. */
export function nodesHealthyCondition(health: readonly NodeHealth[]): PartCondition {
  const unhealthy = health.filter((node) => !node.healthy);
  if (unhealthy.length === 0) {
    return {
      type: ConditionType.nodesHealthy,
      status: "True",
      reason: "AllNodesHealthy",
      message: `${health.length} nodes healthy`,
    };
  }
  const shown = unhealthy.slice(0, 10).map((node) => `${node.name} ${node.reason}`);
  const more = unhealthy.length > shown.length ? ` and ${unhealthy.length - shown.length} more` : "";
  const onlyMissing = unhealthy.every((node) => node.reason === NodeHealthReason.missing);
  return {
    type: ConditionType.nodesHealthy,
    status: "False",
    reason: onlyMissing ? "NodesMissing" : "NodesUnhealthy",
    message: `${unhealthy.length} of ${health.length} nodes not healthy: ${shown.join(", ")}${more}`,
  };
}

/** Events for nodes whose health flipped since the previous status (omitted nodes were healthy). */
export function healthTransitionEvents(
  health: readonly NodeHealth[],
  previous: ReadonlyMap<string, NodeStatus>,
): Omit<EventRecord, "regarding">[] {
  const events: Omit<EventRecord, "regarding">[] = [];
  for (const node of health) {
    const before = previous.get(node.name);
    const wasHealthy = before === undefined ? true : before.ready;
    if (wasHealthy && !node.healthy) {
      events.push({
        type: "Warning",
        reason: node.reason === NodeHealthReason.missing ? "NodeMissing" : "NodeUnhealthy",
        action: "Observe",
        note: `node ${node.name} is ${node.reason}: ${node.message}`,
        ...(node.exists ? { related: nodeReference(node.name) } : {}),
      });
    } else if (before !== undefined && !before.ready && node.healthy) {
      events.push({
        type: "Normal",
        reason: "NodeRecovered",
        action: "Observe",
        note: `node ${node.name} is healthy again (was ${before.reason})`,
        related: nodeReference(node.name),
      });
    }
  }
  return events;
}

/** The most node Events one reconcile emits one by one; beyond, they are summarised. */
export const MAX_NODE_EVENTS = 10;

/**
 * Bounds the Events of one reconcile: when a network split silences 5,000 nodes at once, the LabCluster gets
 * MAX_NODE_EVENTS Events and one summary per reason naming the first nodes, not 5,000 API writes that would
 * stall the reconcile and flood etcd.
 */
export function boundEvents(
  events: readonly Omit<EventRecord, "regarding">[],
  max = MAX_NODE_EVENTS,
): Omit<EventRecord, "regarding">[] {
  if (events.length <= max) return [...events];
  const kept = events.slice(0, max - 1);
  const rest = events.slice(max - 1);
  const byReason = new Map<string, Omit<EventRecord, "regarding">[]>();
  for (const event of rest) byReason.set(event.reason, [...(byReason.get(event.reason) ?? []), event]);
  for (const [reason, group] of byReason) {
    const names = group.map((event) => event.related?.name ?? /^node (\S+)/.exec(event.note)?.[1] ?? "?");
    const shown = names.slice(0, 20).join(", ");
    kept.push({
      type: group[0]!.type,
      reason,
      action: group[0]!.action,
      note: `${group.length} more nodes: ${shown}${names.length > 20 ? ", ..." : ""}`.slice(0, 1000),
    });
  }
  return kept;
}

/** The earliest moment the assessment changes by itself: a Lease going stale, a wait ending. */
export function nextDeadline(health: readonly NodeHealth[], plan: RemediationPlan): number | undefined {
  let earliest = plan.nextCheckAt;
  for (const node of health) {
    if (node.deadline !== undefined)
      earliest = earliest === undefined ? node.deadline : Math.min(earliest, node.deadline);
  }
  return earliest;
}

function nodeReference(name: string) {
  return { apiVersion: "v1", kind: "Node", name };
}

function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Date.parse(text);
  return Number.isNaN(value) ? undefined : value;
}

// ---------------------------------------------------------------------------------------------------------
// The part: informers, mappers and the I/O of remediation
// ---------------------------------------------------------------------------------------------------------

/**
 * Maps a Node change to the LabClusters: all of them (one lab = one cluster). The cache transform already
 * drops heartbeat-only updates, so what reaches here is a real change.
 */
export function nodeToLabCluster(labClusters: () => Iterable<CachedLabCluster>) {
  return (_node: SlimNode): string[] => [...labClusters()].map((labCluster) => labCluster.metadata.name);
}

/**
 * Maps a Lease change to the LabClusters it can matter to. Renewals arrive every 10 s per node; a renewal of
 * a node that is healthy changes nothing now (its staleness deadline is already a requeue), so only these
 * queue: a Lease created or deleted; a renewal after a gap of at least leaseStaleSeconds (the node was
 * stale, maybe not yet reported); a renewal of a node the LabCluster reports unhealthy (a recovery).
 */
export function leaseToLabCluster(labClusters: () => Iterable<CachedLabCluster>) {
  return (lease: SlimLease, previous: SlimLease | undefined): string[] => {
    const keys: string[] = [];
    for (const labCluster of labClusters()) {
      const staleMs = (labCluster.spec?.nodeHealth.leaseStaleSeconds ?? 20) * 1000;
      const gap =
        previous === undefined || lease.renewTime === undefined || previous.renewTime === undefined
          ? Infinity
          : lease.renewTime - previous.renewTime;
      if (gap >= staleMs || labCluster.unhealthyNodes.includes(lease.metadata.name))
        keys.push(labCluster.metadata.name);
    }
    return keys;
  };
}

/** Node health as a LabCluster part. */
export const nodesPart: LabClusterPart = {
  name: "nodes",
  setup(context) {
    const nodes = context.informer({ name: "nodes", path: "/api/v1/nodes", transform: toSlimNode });
    const leases = context.informer({
      name: "node-leases",
      path: resourcePath({
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        namespace: NODE_LEASE_NAMESPACE,
      }),
      transform: toSlimLease,
    });
    const registers = [context.metrics.registry];
    const nodeGauge = new Gauge({
      name: "kubelab_labcluster_nodes",
      help: "Nodes of a LabCluster by health: healthy, unhealthy, missing.",
      labelNames: ["labcluster", "health"],
      registers,
    });
    const remediations = new Counter({
      name: "kubelab_node_remediations_total",
      help: "Remediation actions taken on nodes: cordon, drain, uncordon, drain_timeout.",
      labelNames: ["action"],
      registers,
    });
    return {
      sources: [
        source(
          nodes,
          nodeToLabCluster(() => context.labClusters.list()),
        ),
        source(
          leases,
          leaseToLabCluster(() => context.labClusters.list()),
        ),
      ],
      reconcile: (input) =>
        reconcileNodes(input, {
          client: context.client,
          nodes,
          leases,
          observe: (labCluster, health) => {
            for (const state of ["healthy", "unhealthy", "missing"] as const) {
              const count = health.filter((node) =>
                state === "healthy"
                  ? node.healthy
                  : state === "missing"
                    ? !node.exists
                    : node.exists && !node.healthy,
              ).length;
              nodeGauge.set({ labcluster: labCluster, health: state }, count);
            }
          },
          countAction: (action) => remediations.inc({ action }),
        }),
    };
  },
};

interface NodesDependencies {
  readonly client: KubeClient;
  readonly nodes: Informer<SlimNode>;
  readonly leases: Informer<SlimLease>;
  observe(labCluster: string, health: readonly NodeHealth[]): void;
  countAction(action: string): void;
}

/** How often a drain in progress is retried (evictions a PodDisruptionBudget refused, pods terminating). */
export const DRAIN_RETRY_MS = 5000;

async function reconcileNodes(input: PartInput, dependencies: NodesDependencies): Promise<PartResult> {
  const { labCluster, now } = input;
  const spec = labCluster.spec;
  const owner = labCluster.metadata.name;
  const previous = new Map((input.previous.nodes ?? []).map((node) => [node.name, node]));
  let health = assessNodes({
    expected: spec.nodes.expected,
    nodes: dependencies.nodes.list(),
    lease: (name) => dependencies.leases.get(`${NODE_LEASE_NAMESPACE}/${name}`),
    leaseStaleSeconds: spec.nodeHealth.leaseStaleSeconds,
    previous,
    now: now.getTime(),
  });
  const plan = planRemediation({ health, spec: spec.nodeHealth, owner, now: now.getTime() });
  const records = new Map<string, RemediationRecord | undefined>();
  let drainInProgress = false;
  for (const action of plan.actions) {
    const done = await remediate(action, spec.nodeHealth.remediation, owner, now, dependencies.client, input);
    if (done === undefined) continue;
    if (done.metric !== undefined) dependencies.countAction(done.metric);
    records.set(action.node, done.record);
    if (done.record?.action === "Drain" && done.record.result === undefined) drainInProgress = true;
  }
  // Status shows what was just done, before the Node watch brings the new records back.
  health = health.map((node) =>
    records.has(node.name) ? { ...node, remediation: records.get(node.name) } : node,
  );
  for (const event of boundEvents(healthTransitionEvents(health, previous))) await input.emit(event);
  dependencies.observe(owner, health);
  const deadline = nextDeadline(health, plan);
  const waits: number[] = [];
  // A few ms past the deadline, so that the Lease really is stale when we look again.
  if (deadline !== undefined) waits.push(Math.max(0, deadline - now.getTime()) + 50);
  if (drainInProgress) waits.push(DRAIN_RETRY_MS);
  return {
    conditions:
      plan.condition === undefined
        ? [nodesHealthyCondition(health)]
        : [nodesHealthyCondition(health), plan.condition],
    ...(plan.condition === undefined ? { removedConditions: [ConditionType.remediationAllowed] } : {}),
    status: nodeStatusFields(health, spec.nodes.expected),
    ...(waits.length === 0 ? {} : { requeueAfterMs: Math.min(...waits) }),
  };
}

interface RemediationDone {
  /** The metric label of what was done, if anything new was. */
  readonly metric: string | undefined;
  /** The node's record afterwards. */
  readonly record: RemediationRecord | undefined;
}

interface NodeObject {
  metadata: { name: string; uid?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean };
}

/**
 * Carries out one action against the API server and emits its Event. Reads the Node first and writes with
 * its resourceVersion, so a change made meanwhile (someone cordons it) fails the write with a conflict and
 * the next reconcile decides again. Returns undefined when the node's state makes the action moot.
 */
async function remediate(
  action: RemediationAction,
  remediation: Remediation,
  owner: string,
  now: Date,
  client: KubeClient,
  input: PartInput,
): Promise<RemediationDone | undefined> {
  const path = resourcePath({ group: "", version: "v1", plural: "nodes", name: action.node });
  let node: NodeObject;
  try {
    node = await client.get<NodeObject>(path, { signal: input.signal });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const current = parseRemediationRecord(node.metadata.annotations?.[REMEDIATION_ANNOTATION]);
  const related = {
    apiVersion: "v1",
    kind: "Node",
    name: action.node,
    ...(node.metadata.uid === undefined ? {} : { uid: node.metadata.uid }),
  };
  /** Writes the record (null removes it) and the cordon (false removes spec.unschedulable). */
  const write = async (record: RemediationRecord | null, cordoned: boolean) => {
    node = await client.mergePatch<NodeObject>(
      path,
      {
        metadata: {
          resourceVersion: node.metadata.resourceVersion,
          annotations: { [REMEDIATION_ANNOTATION]: record === null ? null : JSON.stringify(record) },
        },
        spec: { unschedulable: cordoned ? true : null },
      },
      { signal: input.signal },
    );
  };
  const mine = current !== undefined && current.by === owner;
  switch (action.kind) {
    case "undo": {
      if (!mine) return undefined;
      await write(null, false);
      await input.emit({
        type: "Normal",
        reason: "NodeUncordoned",
        action: "Uncordon",
        note: `uncordoned node ${action.node} (${current.action} undone): ${action.why}`,
        related,
      });
      return { metric: "uncordon", record: undefined };
    }
    case "cordon":
    case "drain": {
      // A node cordoned by someone else, or remediated by another LabCluster, is not ours to touch.
      if (current === undefined ? node.spec?.unschedulable === true : !mine) return undefined;
      const record: RemediationRecord = {
        by: owner,
        action: action.kind === "drain" ? "Drain" : "Cordon",
        started: current?.started ?? formatTime(now),
      };
      await write(record, true);
      if (current === undefined) {
        await input.emit({
          type: "Warning",
          reason: "NodeCordoned",
          action: "Cordon",
          note: `cordoned node ${action.node} (remediation ${remediation}): ${action.why}`.slice(0, 1000),
          related,
        });
      }
      if (action.kind === "cordon") return { metric: "cordon", record };
      await input.emit({
        type: "Warning",
        reason: "NodeDrainStarted",
        action: "Drain",
        note: `draining node ${action.node}: evicting its pods through the Eviction API`,
        related,
      });
      return {
        metric: "drain",
        record: await continueDrain(action.node, record, input, client, write, related),
      };
    }
    case "continueDrain": {
      if (!mine || current.action !== "Drain" || current.result !== undefined) return undefined;
      return {
        metric: undefined,
        record: await continueDrain(action.node, current, input, client, write, related),
      };
    }
    case "drainTimedOut": {
      if (!mine || current.result !== undefined) return undefined;
      const record: RemediationRecord = { ...current, result: "TimedOut" };
      await write(record, true);
      await input.emit({
        type: "Warning",
        reason: "NodeDrainTimedOut",
        action: "Drain",
        note: `drain of node ${action.node} timed out (${action.why}); it stays cordoned and its remaining pods were not deleted`,
        related,
      });
      return { metric: "drain_timeout", record };
    }
  }
}

/** One eviction pass; records Drained when no evictable pod is left. Returns the record afterwards. */
async function continueDrain(
  nodeName: string,
  record: RemediationRecord,
  input: PartInput,
  client: KubeClient,
  write: (record: RemediationRecord | null, cordoned: boolean) => Promise<void>,
  related: NonNullable<EventRecord["related"]>,
): Promise<RemediationRecord> {
  const progress = await drainNode(client, nodeName, input.signal);
  if (progress.blocked > 0) {
    input.log.info("drain in progress", { node: nodeName, ...progress });
    return record;
  }
  const drained: RemediationRecord = {
    ...record,
    result: "Drained",
    unmanagedPods: progress.unmanaged.length,
  };
  await write(drained, true);
  const left =
    progress.unmanaged.length === 0
      ? ""
      : `; left ${progress.unmanaged.length} pods not managed by a controller: ${progress.unmanaged.slice(0, 5).join(", ")}`;
  await input.emit({
    type: "Warning",
    reason: "NodeDrained",
    action: "Drain",
    note: `drained node ${nodeName}${left}`.slice(0, 1000),
    related,
  });
  return drained;
}
