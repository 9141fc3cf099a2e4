// Node health as a LabCluster part: the Node and Lease informers, their mappers, and the I/O of remediation.
import { Counter, Gauge } from "prom-client";

import { ConditionType } from "../../api/labcluster.ts";
import { resourcePath, type KubeClient } from "../../runtime/client.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { CachedLabCluster } from "../cache.ts";
import { source, type LabClusterPart, type PartInput, type PartResult } from "../part.ts";
import {
  NODE_LEASE_NAMESPACE,
  toSlimLease,
  toSlimNode,
  type RemediationRecord,
  type SlimLease,
  type SlimNode,
} from "./cache.ts";
import {
  assessNodes,
  boundEvents,
  healthTransitionEvents,
  nextDeadline,
  nodesHealthyCondition,
  nodeStatusFields,
  planRemediation,
  staleAfterSeconds,
  type NodeHealth,
} from "./decide.ts";
import { remediate } from "./remediate.ts";

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
      const staleMs = staleAfterSeconds(labCluster.spec?.nodeHealth.leaseStaleSeconds ?? 20, lease) * 1000;
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
