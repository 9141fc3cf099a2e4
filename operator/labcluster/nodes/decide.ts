// Node health's decisions (pure): per-node health from Ready and the Lease, remediation, status and Events.
import {
  ConditionType,
  NodeHealthReason,
  type ExpectedNode,
  type LabClusterStatus,
  type NodeHealthSpec,
  type NodeRole,
  type NodeStatus,
  type RemediationState,
} from "../../api/labcluster.ts";
import { formatTime } from "../../runtime/conditions.ts";
import type { EventRecord } from "../../runtime/events.ts";
import type { PartCondition } from "../part.ts";
import {
  NODE_LEASE_NAMESPACE,
  parseTime,
  type RemediationRecord,
  type SlimLease,
  type SlimNode,
} from "./cache.ts";

/**
 * After how many seconds without a renewal a node's Lease is stale: leaseStaleSeconds, but never less than
 * half the Lease's own leaseDurationSeconds. The kubelet renews every quarter of that (10 s of its default
 * 40 s), so half is two renewals: one late or lost renewal never makes a healthy node unhealthy, whatever a
 * LabCluster asks for (and whatever a kubelet's nodeLeaseDurationSeconds is).
 */
export function staleAfterSeconds(leaseStaleSeconds: number, lease: SlimLease | undefined): number {
  return Math.max(leaseStaleSeconds, (lease?.durationSeconds ?? 0) / 2);
}

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
 * 2. LeaseStale: the Lease was last renewed more than leaseStaleSeconds ago (even while Ready=True), and
 *    more than half its own leaseDurationSeconds ago (staleAfterSeconds).
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
    const lease = input.lease(name);
    const renewTime = lease?.renewTime;
    const staleAfter = staleAfterSeconds(input.leaseStaleSeconds, lease);
    const leaseStaleMs = staleAfter * 1000;
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
    if (renewTime !== undefined && input.now - renewTime >= leaseStaleMs) {
      const threshold =
        staleAfter === input.leaseStaleSeconds
          ? `leaseStaleSeconds ${input.leaseStaleSeconds}`
          : `stale after ${staleAfter} s, half its leaseDurationSeconds; leaseStaleSeconds ${input.leaseStaleSeconds}`;
      // No "N s ago": a message that changes with time would rewrite the status at every reconcile.
      result.push(
        unhealthy(
          NodeHealthReason.leaseStale,
          `Lease not renewed since ${formatTime(new Date(renewTime))} (${threshold}); Ready is ${ready?.status ?? "absent"}`,
          renewTime + leaseStaleMs,
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
        renewTime === undefined ? (node.createdAt ?? input.now) + staleMs : renewTime + leaseStaleMs;
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
