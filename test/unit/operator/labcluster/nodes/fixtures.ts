// Shared builders of the node health tests: slim Nodes and Leases at a fixed moment, and remediation records.
import { expect } from "chai";

import type {
  RemediationRecord,
  SlimLease,
  SlimNode,
} from "../../../../../operator/labcluster/nodes/cache.ts";
import {
  assessNodes,
  type AssessInput,
  type NodeHealth,
} from "../../../../../operator/labcluster/nodes/decide.ts";

export const NOW = Date.parse("2026-01-01T12:00:00Z");
export const iso = (ms: number) => new Date(ms).toISOString();

export function node(
  name: string,
  options: Partial<SlimNode> & { readyStatus?: string; readySince?: number } = {},
): SlimNode {
  return {
    metadata: { name },
    createdAt: options.createdAt ?? NOW - 3_600_000,
    controlPlane: options.controlPlane ?? false,
    unschedulable: options.unschedulable ?? false,
    ready:
      options.ready ??
      (options.readyStatus === "absent"
        ? undefined
        : { status: options.readyStatus ?? "True", since: options.readySince ?? NOW - 3_600_000 }),
    remediation: options.remediation,
  };
}

export function assess(
  nodes: SlimNode[],
  renewedAgoMs: Record<string, number | undefined>,
  overrides: Partial<AssessInput> = {},
): NodeHealth[] {
  const leases = new Map<string, SlimLease>();
  for (const [name, ago] of Object.entries(renewedAgoMs)) {
    if (ago !== undefined)
      leases.set(name, { metadata: { name, namespace: "kube-node-lease" }, renewTime: NOW - ago });
  }
  return assessNodes({
    expected: [],
    nodes,
    lease: (name) => leases.get(name),
    leaseStaleSeconds: 20,
    previous: new Map(),
    now: NOW,
    ...overrides,
  });
}

export const only = (health: NodeHealth[]) => {
  expect(health).to.have.length(1);
  return health[0]!;
};

export const record = (overrides: Partial<RemediationRecord> = {}): RemediationRecord => ({
  by: "lab",
  action: "Cordon",
  started: iso(NOW - 60_000),
  ...overrides,
});
