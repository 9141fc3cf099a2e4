// Node health decisions: health from Ready + Lease, remediation rules, status, Events, requeue deadlines.
import { expect } from "chai";

import type { NodeStatus } from "../../../../../operator/api/labcluster.ts";
import {
  boundEvents,
  healthTransitionEvents,
  MAX_NODE_EVENTS,
  MAX_STATUS_NODES,
  maxUnhealthyCount,
  nextDeadline,
  nodesHealthyCondition,
  nodeStatusFields,
  planRemediation,
  staleAfterSeconds,
  type NodeHealth,
  type PlanInput,
} from "../../../../../operator/labcluster/nodes/decide.ts";
import { assess, iso, node, NOW, only, record } from "./fixtures.ts";

describe("node health", () => {
  describe("assessNodes", () => {
    it("calls a node healthy with Ready=True and a fresh Lease, and knows when it would go stale", () => {
      const health = only(assess([node("w1-k8s")], { "w1-k8s": 5000 }));
      expect(health).to.include({ healthy: true, reason: "Healthy", role: "worker", exists: true });
      expect(health.deadline).to.equal(NOW - 5000 + 20_000);
      expect(health.since).to.equal(NOW - 3_600_000);
    });

    it("calls a node unhealthy when its Lease is stale even while Ready still says True", () => {
      const health = only(assess([node("w1-k8s")], { "w1-k8s": 21_000 }));
      expect(health).to.include({ healthy: false, reason: "LeaseStale", lastHeartbeat: NOW - 21_000 });
      expect(health.since, "stale since renewTime + leaseStaleSeconds").to.equal(NOW - 1000);
      expect(health.message).to.equal(
        "Lease not renewed since 2026-01-01T11:59:39Z (leaseStaleSeconds 20); Ready is True",
      );
      expect(health.deadline).to.equal(undefined);
    });

    it("counts a Lease exactly leaseStaleSeconds old as stale", () => {
      expect(only(assess([node("w1-k8s")], { "w1-k8s": 20_000 })).healthy).to.equal(false);
      expect(only(assess([node("w1-k8s")], { "w1-k8s": 19_999 })).healthy).to.equal(true);
    });

    it("never judges a Lease stale sooner than half its own leaseDurationSeconds (two kubelet renewals)", () => {
      const lease = (ago: number) => ({
        metadata: { name: "w1-k8s", namespace: "kube-node-lease" },
        renewTime: NOW - ago,
        durationSeconds: 40,
      });
      const at = (ago: number) =>
        only(assess([node("w1-k8s")], {}, { leaseStaleSeconds: 10, lease: () => lease(ago) }));
      // leaseStaleSeconds 10 would flag a healthy node between two renewals; its Lease says 40 s.
      expect(at(15_000)).to.include({ healthy: true, deadline: NOW - 15_000 + 20_000 });
      expect(at(20_000)).to.include({ healthy: false, reason: "LeaseStale" });
      expect(at(20_000).message).to.contain(
        "(stale after 20 s, half its leaseDurationSeconds; leaseStaleSeconds 10)",
      );
      expect(staleAfterSeconds(30, lease(0)), "a longer leaseStaleSeconds stands").to.equal(30);
    });

    it("reports NotReady from Ready=False, and ReadyUnknown from Unknown or no condition", () => {
      expect(
        only(assess([node("w1-k8s", { readyStatus: "False", readySince: NOW - 9000 })], { "w1-k8s": 1000 })),
      ).to.include({
        reason: "NotReady",
        since: NOW - 9000,
      });
      expect(only(assess([node("w1-k8s", { readyStatus: "Unknown" })], { "w1-k8s": 1000 })).reason).to.equal(
        "ReadyUnknown",
      );
      expect(only(assess([node("w1-k8s", { readyStatus: "absent" })], { "w1-k8s": 1000 })).reason).to.equal(
        "ReadyUnknown",
      );
    });

    it("names the stale Lease, not its consequence, when the controller-manager already set Ready=Unknown", () => {
      expect(
        only(assess([node("w1-k8s", { readyStatus: "Unknown" })], { "w1-k8s": 60_000 })).reason,
      ).to.equal("LeaseStale");
    });

    it("gives a new node leaseStaleSeconds to create its Lease, then reports NoLease", () => {
      const young = only(assess([node("w1-k8s", { createdAt: NOW - 5000 })], {}));
      expect(young).to.include({ healthy: true, deadline: NOW + 15_000 });
      const old = only(assess([node("w1-k8s")], {}));
      expect(old).to.include({ healthy: false, reason: "NoLease" });
    });

    it("reports expected nodes without a Node object as Missing, keeping the first time it was seen missing", () => {
      const previous = new Map<string, NodeStatus>([
        [
          "w3-k8s",
          { name: "w3-k8s", role: "worker", ready: false, reason: "Missing", since: iso(NOW - 50_000) },
        ],
      ]);
      const health = assess([], {}, { expected: [{ name: "w3-k8s", role: "worker" }], previous });
      expect(only(health)).to.include({
        exists: false,
        healthy: false,
        reason: "Missing",
        since: NOW - 50_000,
      });
    });

    it("assesses nodes that are not listed as expected too, and takes roles from the spec or the label", () => {
      const health = assess(
        [node("m-k8s"), node("extra", { controlPlane: true }), node("w1-k8s")],
        { "m-k8s": 0, extra: 0, "w1-k8s": 0 },
        {
          expected: [
            { name: "m-k8s", role: "control-plane" },
            { name: "w1-k8s", role: "worker" },
          ],
        },
      );
      expect(health.map((h) => [h.name, h.role])).to.deep.equal([
        ["extra", "control-plane"],
        ["m-k8s", "control-plane"],
        ["w1-k8s", "worker"],
      ]);
    });

    it("dates a recovery from the moment it was observed, not from the old Ready transition", () => {
      const previous = new Map<string, NodeStatus>([
        [
          "w1-k8s",
          { name: "w1-k8s", role: "worker", ready: false, reason: "LeaseStale", since: iso(NOW - 30_000) },
        ],
      ]);
      expect(only(assess([node("w1-k8s")], { "w1-k8s": 1000 }, { previous })).since).to.equal(NOW);
    });
  });

  describe("maxUnhealthyCount", () => {
    it("takes a count as is and a percentage of the workers rounded down", () => {
      expect(maxUnhealthyCount(2, 3)).to.equal(2);
      expect(maxUnhealthyCount("40%", 3)).to.equal(1);
      expect(maxUnhealthyCount("50%", 3)).to.equal(1);
      expect(maxUnhealthyCount("100%", 3)).to.equal(3);
      expect(maxUnhealthyCount("0%", 3)).to.equal(0);
    });
  });

  describe("planRemediation", () => {
    const spec: PlanInput["spec"] = {
      remediation: "Cordon",
      maxUnhealthy: 1,
      notReadySeconds: 0,
      drainTimeoutSeconds: 300,
    };
    const health = (name: string, overrides: Partial<NodeHealth> = {}): NodeHealth => ({
      name,
      role: "worker",
      controlPlane: false,
      exists: true,
      healthy: true,
      reason: "Healthy",
      message: "",
      since: NOW - 60_000,
      lastHeartbeat: NOW - 1000,
      deadline: NOW + 19_000,
      unschedulable: false,
      remediation: undefined,
      ...overrides,
    });
    const sick = (name: string, overrides: Partial<NodeHealth> = {}) =>
      health(name, {
        healthy: false,
        reason: "LeaseStale",
        message: "silent",
        deadline: undefined,
        ...overrides,
      });
    const plan = (nodes: NodeHealth[], overrides: Partial<PlanInput["spec"]> = {}) =>
      planRemediation({ health: nodes, spec: { ...spec, ...overrides }, owner: "lab", now: NOW });

    it("does nothing and reports no RemediationAllowed condition when remediation is None", () => {
      const result = plan([sick("w1-k8s")], { remediation: "None" });
      expect(result.actions).to.deep.equal([]);
      expect(result.condition).to.equal(undefined);
    });

    it("cordons an unhealthy worker", () => {
      const result = plan([
        health("m-k8s", { controlPlane: true, role: "control-plane" }),
        sick("w1-k8s"),
        health("w2-k8s"),
      ]);
      expect(result.actions.map((action) => [action.kind, action.node])).to.deep.equal([
        ["cordon", "w1-k8s"],
      ]);
      expect(result.condition).to.include({ type: "RemediationAllowed", status: "True" });
    });

    it("drains an unhealthy worker when remediation is Drain", () => {
      expect(
        plan([sick("w1-k8s")], { remediation: "Drain" }).actions.map((action) => action.kind),
      ).to.deep.equal(["drain"]);
    });

    it("never touches a control-plane node or a missing one", () => {
      const result = plan(
        [
          sick("m-k8s", { controlPlane: true, role: "control-plane" }),
          sick("w3-k8s", { exists: false, reason: "Missing" }),
        ],
        { maxUnhealthy: 5 },
      );
      expect(result.actions).to.deep.equal([]);
    });

    it("waits notReadySeconds before acting, and says when to look again", () => {
      const result = plan([sick("w1-k8s", { since: NOW - 10_000 })], { notReadySeconds: 30 });
      expect(result.actions).to.deep.equal([]);
      expect(result.nextCheckAt).to.equal(NOW + 20_000);
      expect(plan([sick("w1-k8s", { since: NOW - 30_000 })], { notReadySeconds: 30 }).actions).to.have.length(
        1,
      );
    });

    it("pauses when more workers are unhealthy than maxUnhealthy allows, and says why", () => {
      const result = plan([sick("w1-k8s"), sick("w2-k8s"), health("w3-k8s")]);
      expect(result.actions).to.deep.equal([]);
      expect(result.condition).to.include({ status: "False", reason: "TooManyUnhealthy" });
      expect(result.condition?.message).to.contain(
        "2 of 3 worker nodes unhealthy, maxUnhealthy 1 (1 allowed)",
      );
    });

    it("counts missing workers as unhealthy for the cap but not control-plane nodes", () => {
      const withMissing = plan([sick("w1-k8s"), sick("w3-k8s", { exists: false, reason: "Missing" })]);
      expect(withMissing.condition?.reason).to.equal("TooManyUnhealthy");
      const withControlPlane = plan([
        sick("m-k8s", { controlPlane: true, role: "control-plane" }),
        sick("w1-k8s"),
      ]);
      expect(withControlPlane.actions.map((action) => action.node)).to.deep.equal(["w1-k8s"]);
    });

    it("applies a percentage cap to the workers", () => {
      const workers = [sick("w1-k8s"), sick("w2-k8s"), health("w3-k8s"), health("w4-k8s")];
      expect(plan(workers, { maxUnhealthy: "50%" }).actions).to.have.length(2);
      expect(plan(workers, { maxUnhealthy: "25%" }).actions).to.have.length(0);
    });

    it("leaves a node someone else cordoned alone, and a node another LabCluster remediated", () => {
      const result = plan(
        [sick("w1-k8s", { unschedulable: true }), sick("w2-k8s", { remediation: record({ by: "other" }) })],
        { maxUnhealthy: 5 },
      );
      expect(result.actions).to.deep.equal([]);
      const healed = plan([health("w2-k8s", { remediation: record({ by: "other" }) })]);
      expect(healed.actions, "no undo of another's work").to.deep.equal([]);
    });

    it("undoes its own remediation when the node is healthy again, even while remediation is paused", () => {
      const result = plan([health("w1-k8s", { remediation: record() }), sick("w2-k8s"), sick("w3-k8s")]);
      expect(result.actions.map((action) => [action.kind, action.node])).to.deep.equal([["undo", "w1-k8s"]]);
      expect(result.condition?.reason).to.equal("TooManyUnhealthy");
    });

    it("undoes its own remediation when remediation is switched to None", () => {
      const result = plan([sick("w1-k8s", { remediation: record() })], { remediation: "None" });
      expect(result.actions.map((action) => action.kind)).to.deep.equal(["undo"]);
    });

    it("does not cordon a node it already cordoned, but upgrades a cordon to a drain", () => {
      expect(plan([sick("w1-k8s", { remediation: record(), unschedulable: true })]).actions).to.deep.equal(
        [],
      );
      const upgraded = plan([sick("w1-k8s", { remediation: record(), unschedulable: true })], {
        remediation: "Drain",
      });
      expect(upgraded.actions.map((action) => action.kind)).to.deep.equal(["drain"]);
    });

    it("continues a drain until drainTimeoutSeconds after the cordon, then gives up once", () => {
      const draining = record({ action: "Drain", started: iso(NOW - 100_000) });
      const going = plan([sick("w1-k8s", { remediation: draining, unschedulable: true })], {
        remediation: "Drain",
      });
      expect(going.actions.map((action) => action.kind)).to.deep.equal(["continueDrain"]);
      expect(going.nextCheckAt).to.equal(NOW + 200_000);
      const late = record({ action: "Drain", started: iso(NOW - 300_000) });
      const timedOut = plan([sick("w1-k8s", { remediation: late, unschedulable: true })], {
        remediation: "Drain",
      });
      expect(timedOut.actions.map((action) => action.kind)).to.deep.equal(["drainTimedOut"]);
      const done = record({ action: "Drain", result: "TimedOut" });
      expect(
        plan([sick("w1-k8s", { remediation: done, unschedulable: true })], { remediation: "Drain" }).actions,
      ).to.deep.equal([]);
    });
  });

  describe("status and Events", () => {
    const assessed = (names: string[], unhealthy: string[] = []) =>
      assess(
        names.map((name) => node(name)),
        Object.fromEntries(names.map((name) => [name, unhealthy.includes(name) ? 60_000 : 1000])),
      );

    it("summarises ready/expected for the NODES column and reports heartbeats of unhealthy nodes only", () => {
      const health = assessed(["m-k8s", "w1-k8s", "w2-k8s"], ["w2-k8s"]);
      const fields = nodeStatusFields(health, [
        { name: "m-k8s", role: "control-plane" },
        { name: "w1-k8s", role: "worker" },
        { name: "w2-k8s", role: "worker" },
      ]);
      expect(fields).to.include({ readyNodes: 2, expectedNodes: 3, nodeSummary: "2/3", omittedNodes: 0 });
      expect(fields.nodes?.map((entry) => entry.name)).to.deep.equal(["w2-k8s", "m-k8s", "w1-k8s"]);
      expect(fields.nodes?.[0]).to.include({
        ready: false,
        reason: "LeaseStale",
        lastHeartbeat: "2026-01-01T11:59:00Z",
      });
      expect(fields.nodes?.[1]).to.not.have.property("lastHeartbeat");
    });

    it("keeps the status of a node that stays silent identical over time (no rewrite per reconcile)", () => {
      const at = (now: number) =>
        nodeStatusFields(assess([node("w1-k8s")], { "w1-k8s": 60_000 }, { now }), []);
      expect(at(NOW)).to.deep.equal(at(NOW + 45_000));
    });

    it("counts every node as expected when spec.nodes.expected is empty", () => {
      expect(nodeStatusFields(assessed(["a", "b"], ["b"]), [])).to.include({ nodeSummary: "1/2" });
    });

    it(`lists every node of a lab, but only unhealthy and expected ones (at most ${MAX_STATUS_NODES}) of a big cluster`, () => {
      const small = nodeStatusFields(assessed(["a", "b", "c"], ["c"]), []);
      expect(small.nodes?.map((entry) => entry.name)).to.deep.equal(["c", "a", "b"]);
      const names = Array.from({ length: 5000 }, (_, index) => `node-${String(index).padStart(4, "0")}`);
      const big = nodeStatusFields(assessed(names, ["node-4999"]), [{ name: "node-0001", role: "worker" }]);
      expect(big.nodes?.map((entry) => entry.name)).to.deep.equal(["node-4999", "node-0001"]);
      expect(big.omittedNodes).to.equal(4998);
      expect(big.nodeSummary).to.equal("1/1");
      const manySick = nodeStatusFields(assessed(names, names.slice(0, 300)), []);
      expect(manySick.nodes).to.have.length(MAX_STATUS_NODES);
      expect(manySick.nodeSummary).to.equal("4700/5000");
    });

    it("reports NodesHealthy True, or False naming the nodes (NodesMissing when only missing)", () => {
      expect(nodesHealthyCondition(assessed(["a"]))).to.include({
        status: "True",
        reason: "AllNodesHealthy",
      });
      expect(nodesHealthyCondition(assessed(["a", "b"], ["b"]))).to.include({
        status: "False",
        reason: "NodesUnhealthy",
        message: "1 of 2 nodes not healthy: b LeaseStale",
      });
      const missing = assess([], {}, { expected: [{ name: "w9", role: "worker" }] });
      expect(nodesHealthyCondition(missing).reason).to.equal("NodesMissing");
      const many = assessed(
        Array.from({ length: 12 }, (_, index) => `n${index}`),
        Array.from({ length: 12 }, (_, index) => `n${index}`),
      );
      expect(nodesHealthyCondition(many).message).to.match(/and 2 more$/);
    });

    it("emits NodeUnhealthy and NodeRecovered only on flips, and nothing for a healthy newcomer", () => {
      const previous = new Map<string, NodeStatus>([
        ["a", { name: "a", role: "worker", ready: true, reason: "Healthy" }],
        ["b", { name: "b", role: "worker", ready: false, reason: "LeaseStale" }],
        ["c", { name: "c", role: "worker", ready: false, reason: "NotReady" }],
      ]);
      const health = assessed(["a", "b", "c", "d"], ["a", "c"]);
      const events = healthTransitionEvents(health, previous);
      expect(events.map((event) => [event.reason, event.type, event.related?.name])).to.deep.equal([
        ["NodeUnhealthy", "Warning", "a"],
        ["NodeRecovered", "Normal", "b"],
      ]);
      const missing = healthTransitionEvents(
        assess([], {}, { expected: [{ name: "w9", role: "worker" }] }),
        new Map(),
      );
      expect(missing.map((event) => event.reason)).to.deep.equal(["NodeMissing"]);
      expect(missing[0]).to.not.have.property("related");
    });

    it("summarises the Events of a mass flip instead of writing one per node", () => {
      const events = healthTransitionEvents(
        assessed(
          Array.from({ length: 5000 }, (_, index) => `n${index}`),
          Array.from({ length: 5000 }, (_, index) => `n${index}`),
        ),
        new Map(),
      );
      expect(events).to.have.length(5000);
      const bounded = boundEvents(events);
      expect(bounded).to.have.length(MAX_NODE_EVENTS);
      expect(bounded.at(-1)).to.include({ reason: "NodeUnhealthy", type: "Warning" });
      expect(bounded.at(-1)?.note).to.match(/^4991 more nodes: (n\d+, ){20}\.\.\.$/);
      expect(boundEvents(events.slice(0, 3))).to.deep.equal(events.slice(0, 3));
    });

    it("wakes at the earliest Lease deadline, or a remediation wait if sooner", () => {
      const health = assess([node("a"), node("b")], { a: 15_000, b: 2000 });
      const noPlan = { actions: [], condition: undefined, nextCheckAt: undefined };
      expect(nextDeadline(health, noPlan)).to.equal(NOW + 5000);
      expect(nextDeadline(health, { ...noPlan, nextCheckAt: NOW + 1000 })).to.equal(NOW + 1000);
      expect(nextDeadline(assess([node("a")], { a: 60_000 }), noPlan)).to.equal(undefined);
    });
  });
});
