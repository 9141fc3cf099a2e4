// Node health on a real control plane: silent KWOK nodes reported before the controller-manager, remediation.
import { expect } from "chai";

import { MIN_LEASE_STALE_SECONDS } from "../../../operator/api/labcluster.ts";
import { labClusterPath } from "../../../operator/labcluster/cache.ts";
import { REMEDIATION_ANNOTATION } from "../../../operator/labcluster/nodes/cache.ts";
import { DRAIN_RETRY_MS } from "../../../operator/labcluster/nodes/part.ts";
import { resourcePath } from "../../../operator/runtime/client.ts";
import {
  controlPlane,
  createNamespace,
  deleteNamespace,
  ENVTEST_NODES,
  ENVTEST_TIMING,
  waitFor,
} from "../../envtest/index.ts";
import {
  adminClient,
  applyLabCluster,
  deleteLabCluster,
  installCrds,
  labClusterEvents,
  labClusterStatus,
  nodeStatus,
  startOperator,
  type RunningOperator,
} from "./helpers.ts";

const [W1, W2] = ENVTEST_NODES.workers;
const CP = ENVTEST_NODES.controlPlane;
const EXPECTED = [
  { name: CP, role: "control-plane" as const },
  { name: W1, role: "worker" as const },
  { name: W2, role: "worker" as const },
];
/** The CRD's floor (kwok renews every 2.5 s here: three renewals may be late before a node counts as silent). */
const LEASE_STALE_SECONDS = MIN_LEASE_STALE_SECONDS;

interface NodeObject {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[] };
}

const nodePath = (name: string) => resourcePath({ group: "", version: "v1", plural: "nodes", name });
const readNode = (name: string) => adminClient().get<NodeObject>(nodePath(name));
const readyCondition = (node: NodeObject) => node.status?.conditions?.find((c) => c.type === "Ready")?.status;

/** Heartbeats back on for every node, each Ready with a fresh Lease: the state every test starts from. */
async function healAll(): Promise<void> {
  const plane = controlPlane();
  for (const node of [CP, W1, W2]) await plane.startHeartbeats(node);
  await waitFor(
    "every node Ready again",
    async () => {
      for (const node of [CP, W1, W2]) if (readyCondition(await readNode(node)) !== "True") return false;
      return true;
    },
    { timeoutMs: 60_000 },
  );
}

/** Changes `name`'s spec and waits until the operator reconciled that generation (observedGeneration). */
async function bumpAndObserve(name: string, nodeHealth: Record<string, unknown>): Promise<void> {
  await applyLabCluster(name, {
    nodes: { expected: EXPECTED },
    nodeHealth: { leaseStaleSeconds: LEASE_STALE_SECONDS, ...nodeHealth },
  });
  const { metadata } = await adminClient().get<{ metadata: { generation: number } }>(labClusterPath(name));
  await waitFor(
    `generation ${metadata.generation} of ${name} observed`,
    async () => ((await labClusterStatus(name)).observedGeneration ?? 0) >= metadata.generation,
  );
}

describe("LabCluster node health on a real control plane", function () {
  this.timeout(120_000);
  let operator: RunningOperator;
  const created: string[] = [];

  async function labCluster(name: string, nodeHealth: Record<string, unknown> = {}, expected = EXPECTED) {
    created.push(name);
    await applyLabCluster(name, {
      nodes: { expected },
      nodeHealth: { leaseStaleSeconds: LEASE_STALE_SECONDS, ...nodeHealth },
    });
    await waitFor(`${name} to report every node healthy`, async () => {
      const status = await labClusterStatus(name);
      return status.readyNodes === expected.length ? status : undefined;
    });
  }

  before(async () => {
    await installCrds();
    operator = startOperator("nodes");
  });

  after(async () => {
    await operator?.stop();
  });

  afterEach(async () => {
    for (const name of created.splice(0)) await deleteLabCluster(name);
    await healAll();
    for (const node of [W1, W2]) {
      const current = await readNode(node);
      if (
        current.spec?.unschedulable === true ||
        current.metadata.annotations?.[REMEDIATION_ANNOTATION] !== undefined
      ) {
        await adminClient().mergePatch(nodePath(node), {
          metadata: { annotations: { [REMEDIATION_ANNOTATION]: null } },
          spec: { unschedulable: null },
        });
      }
    }
  });

  it("reports every expected node healthy and an expected node that never joined as Missing", async () => {
    await labCluster("basic");
    await applyLabCluster("basic", {
      nodes: { expected: [...EXPECTED, { name: "w9-k8s", role: "worker" }] },
      nodeHealth: { leaseStaleSeconds: LEASE_STALE_SECONDS },
    });
    const status = await waitFor("w9-k8s reported Missing", async () => {
      const current = await labClusterStatus("basic");
      return current.nodeSummary === "3/4" ? current : undefined;
    });
    expect(status.nodes?.find((node) => node.name === "w9-k8s")).to.include({
      ready: false,
      reason: "Missing",
    });
    const conditions = Object.fromEntries((status.conditions ?? []).map((c) => [c.type, c]));
    expect(conditions.NodesHealthy).to.include({ status: "False", reason: "NodesMissing" });
    expect(conditions.Ready).to.include({ status: "False" });
    expect(status.observedGeneration).to.equal(2);
    await waitFor("a NodeMissing Event", async () =>
      (await labClusterEvents("basic")).some((event) => event.reason === "NodeMissing"),
    );
  });

  it("reports a silent node unhealthy within leaseStaleSeconds, before the controller-manager marks it NotReady", async () => {
    await labCluster("silence");
    const silencedAt = Date.now();
    await controlPlane().stopHeartbeats(W1);
    const reported = await waitFor(
      "w1 reported unhealthy",
      async () => {
        const entry = await nodeStatus("silence", W1);
        return entry?.ready === false ? entry : undefined;
      },
      { intervalMs: 50, timeoutMs: 30_000 },
    );
    const reportedAfterMs = Date.now() - silencedAt;
    expect(reported.reason).to.equal("LeaseStale");
    expect(reported.lastHeartbeat).to.be.a("string");
    // Unhealthy exactly leaseStaleSeconds after the last renewal (the decision, not its latency)...
    expect(Date.parse(reported.since!) - Date.parse(reported.lastHeartbeat!)).to.equal(
      LEASE_STALE_SECONDS * 1000,
    );
    // ...and reported before the controller-manager's grace period ends, the point of reading the Lease.
    expect(reportedAfterMs).to.be.lessThan(ENVTEST_TIMING.nodeMonitorGracePeriodSeconds * 1000);
    expect(readyCondition(await readNode(W1)), "the controller-manager has not noticed yet").to.equal("True");
    await waitFor(
      "the controller-manager to mark w1 NotReady",
      async () => readyCondition(await readNode(W1)) !== "True",
      {
        timeoutMs: (ENVTEST_TIMING.nodeMonitorGracePeriodSeconds + 20) * 1000,
      },
    );
    const notReadyAfterMs = Date.now() - silencedAt;
    expect(notReadyAfterMs).to.be.greaterThan(reportedAfterMs);
    const status = await labClusterStatus("silence");
    expect(status.conditions?.find((c) => c.type === "NodesHealthy")).to.include({
      status: "False",
      reason: "NodesUnhealthy",
    });
    expect(status.nodeSummary).to.equal("2/3");

    await controlPlane().startHeartbeats(W1);
    await waitFor("w1 healthy again", async () => (await nodeStatus("silence", W1))?.ready === true, {
      timeoutMs: 30_000,
    });
    const events = await labClusterEvents("silence");
    expect(events.map((event) => event.reason)).to.include.members(["NodeUnhealthy", "NodeRecovered"]);
    expect(events.find((event) => event.reason === "NodeUnhealthy")?.related?.name).to.equal(W1);
  });

  it("cordons a silent worker, marks it as its own, and uncordons it when the node recovers", async () => {
    await labCluster("cordon", { remediation: "Cordon" });
    await controlPlane().stopHeartbeats(W2);
    const cordoned = await waitFor("w2 cordoned", async () => {
      const node = await readNode(W2);
      return node.spec?.unschedulable === true ? node : undefined;
    });
    expect(JSON.parse(cordoned.metadata.annotations?.[REMEDIATION_ANNOTATION] ?? "{}")).to.include({
      by: "cordon",
      action: "Cordon",
    });
    await waitFor(
      "status to show the cordon",
      async () => (await nodeStatus("cordon", W2))?.remediated === "Cordoned",
    );

    await controlPlane().startHeartbeats(W2);
    const uncordoned = await waitFor("w2 uncordoned", async () => {
      const node = await readNode(W2);
      return node.spec?.unschedulable !== true ? node : undefined;
    });
    expect(uncordoned.metadata.annotations?.[REMEDIATION_ANNOTATION]).to.equal(undefined);
    await waitFor("status without remediation", async () => {
      const entry = await nodeStatus("cordon", W2);
      return entry?.ready === true && entry.remediated === undefined;
    });
    const reasons = (await labClusterEvents("cordon")).map((event) => event.reason);
    expect(reasons).to.include.members(["NodeCordoned", "NodeUncordoned"]);
  });

  it("leaves a worker someone else cordoned alone, and keeps it cordoned after recovery", async () => {
    await adminClient().mergePatch(nodePath(W1), { spec: { unschedulable: true } });
    await labCluster("theirs", { remediation: "Cordon" });
    await controlPlane().stopHeartbeats(W1);
    await waitFor("w1 reported unhealthy", async () => (await nodeStatus("theirs", W1))?.ready === false);
    await controlPlane().startHeartbeats(W1);
    await waitFor("w1 healthy again", async () => (await nodeStatus("theirs", W1))?.ready === true);
    const node = await readNode(W1);
    expect(node.spec?.unschedulable, "still cordoned: not ours to undo").to.equal(true);
    expect(node.metadata.annotations?.[REMEDIATION_ANNOTATION]).to.equal(undefined);
  });

  it("never cordons the control-plane node", async () => {
    await labCluster("control-plane", { remediation: "Cordon", maxUnhealthy: 5 });
    await controlPlane().stopHeartbeats(CP);
    await waitFor(
      "m-k8s reported unhealthy",
      async () => (await nodeStatus("control-plane", CP))?.ready === false,
    );
    // The reconcile that wrote this status decided m-k8s's remediation first (notReadySeconds 0): proof
    // enough; and one more after a spec change, for good measure.
    await bumpAndObserve("control-plane", {
      remediation: "Cordon",
      maxUnhealthy: 5,
      drainTimeoutSeconds: 301,
    });
    const node = await readNode(CP);
    expect(node.spec?.unschedulable).to.not.equal(true);
    expect(node.metadata.annotations?.[REMEDIATION_ANNOTATION]).to.equal(undefined);
    expect((await nodeStatus("control-plane", CP))?.remediated).to.equal(undefined);
  });

  it("pauses remediation while more workers than maxUnhealthy are unhealthy, and says why", async () => {
    // notReadySeconds lets both silences land before remediation may act on either.
    await labCluster("capped", { remediation: "Cordon", maxUnhealthy: 1, notReadySeconds: 5 });
    await Promise.all([controlPlane().stopHeartbeats(W1), controlPlane().stopHeartbeats(W2)]);
    const condition = await waitFor("RemediationAllowed False", async () => {
      const status = await labClusterStatus("capped");
      const found = status.conditions?.find((c) => c.type === "RemediationAllowed");
      return found?.status === "False" ? found : undefined;
    });
    expect(condition.reason).to.equal("TooManyUnhealthy");
    expect(condition.message).to.contain("2 of 2 worker nodes unhealthy, maxUnhealthy 1");
    // Past the moment both became eligible (since + notReadySeconds), a reconcile decides again.
    const since = Math.max(
      ...((await labClusterStatus("capped")).nodes ?? [])
        .filter((entry) => entry.name === W1 || entry.name === W2)
        .map((entry) => Date.parse(entry.since!)),
    );
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, since + 5000 - Date.now())));
    await bumpAndObserve("capped", {
      remediation: "Cordon",
      maxUnhealthy: 1,
      notReadySeconds: 5,
      drainTimeoutSeconds: 301,
    });
    for (const node of [W1, W2]) expect((await readNode(node)).spec?.unschedulable, node).to.not.equal(true);
    await waitFor("a TooManyUnhealthy Event", async () =>
      (await labClusterEvents("capped")).some((event) => event.reason === "TooManyUnhealthy"),
    );
  });

  describe("Drain", () => {
    let namespace: string;
    const client = () => adminClient();

    beforeEach(async () => {
      namespace = await createNamespace("drain");
      await client().create(
        resourcePath({ group: "apps", version: "v1", plural: "deployments", namespace }),
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web" },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: "web" } },
            template: {
              metadata: { labels: { app: "web" } },
              spec: {
                nodeSelector: { "kubernetes.io/hostname": W1 },
                containers: [{ name: "main", image: "registry.k8s.io/pause:3.10.2" }],
              },
            },
          },
        },
      );
      await waitFor("two web pods running on w1", async () => (await runningPods(namespace)).length === 2, {
        timeoutMs: 60_000,
      });
    });

    afterEach(async () => {
      await deleteNamespace(namespace);
    });

    async function pods(ns: string) {
      const list = await client().get<{
        items: {
          metadata: { name: string; deletionTimestamp?: string };
          spec: { nodeName?: string };
          status: { phase: string };
        }[];
      }>(resourcePath({ group: "", version: "v1", plural: "pods", namespace: ns }));
      return list.items;
    }
    async function runningPods(ns: string) {
      return (await pods(ns)).filter(
        (pod) => pod.status.phase === "Running" && pod.metadata.deletionTimestamp === undefined,
      );
    }
    async function budget(minAvailable: number) {
      await client().create(
        resourcePath({ group: "policy", version: "v1", plural: "poddisruptionbudgets", namespace }),
        {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: { name: "web" },
          spec: { minAvailable, selector: { matchLabels: { app: "web" } } },
        },
      );
      // The disruption controller must have computed the budget before evictions are judged by it.
      await waitFor("the budget's status", async () => {
        const pdb = await client().get<{ status?: { expectedPods?: number } }>(
          resourcePath({
            group: "policy",
            version: "v1",
            plural: "poddisruptionbudgets",
            namespace,
            name: "web",
          }),
        );
        return pdb.status?.expectedPods === 2;
      });
    }

    it("cordons, evicts through the Eviction API as the budget allows, and finishes once the budget lets it", async () => {
      await budget(1);
      await labCluster("drain", { remediation: "Drain", drainTimeoutSeconds: 120 });
      await controlPlane().stopHeartbeats(W1);
      await waitFor("w1 draining", async () => (await nodeStatus("drain", W1))?.remediated === "Draining");
      await waitFor("one pod evicted, one held by the budget", async () => {
        const all = await pods(namespace);
        const evicted = all.filter(
          (pod) => pod.spec.nodeName === W1 && pod.metadata.deletionTimestamp !== undefined,
        );
        return evicted.length === 1;
      });
      // Two more drain passes (DRAIN_RETRY_MS apart) were refused by the budget.
      const mark = operator.logs.length;
      await waitFor(
        "two more drain passes",
        () =>
          operator.logs
            .slice(mark)
            .filter((record) => record.key === "drain" && record.message === "reconciled; requeued").length >=
          2,
        { timeoutMs: 3 * DRAIN_RETRY_MS },
      );
      expect((await nodeStatus("drain", W1))?.remediated, "the budget holds the drain").to.equal("Draining");
      await client().delete(
        resourcePath({
          group: "policy",
          version: "v1",
          plural: "poddisruptionbudgets",
          namespace,
          name: "web",
        }),
      );
      await waitFor("w1 drained", async () => (await nodeStatus("drain", W1))?.remediated === "Drained", {
        timeoutMs: 30_000,
      });
      const left = (await pods(namespace)).filter(
        (pod) => pod.spec.nodeName === W1 && pod.metadata.deletionTimestamp === undefined,
      );
      expect(left, "every pod on w1 was evicted").to.deep.equal([]);
      const reasons = (await labClusterEvents("drain")).map((event) => event.reason);
      expect(reasons).to.include.members(["NodeCordoned", "NodeDrainStarted", "NodeDrained"]);

      await controlPlane().startHeartbeats(W1);
      await waitFor("w1 uncordoned", async () => (await readNode(W1)).spec?.unschedulable !== true, {
        timeoutMs: 30_000,
      });
    });

    it("gives up a drain the budget blocks after drainTimeoutSeconds, leaving the node cordoned and its pods", async () => {
      await budget(2);
      await labCluster("stuck", { remediation: "Drain", drainTimeoutSeconds: 10 });
      await controlPlane().stopHeartbeats(W1);
      await waitFor(
        "the drain to time out",
        async () => (await nodeStatus("stuck", W1))?.remediated === "DrainTimedOut",
        {
          timeoutMs: 40_000,
        },
      );
      expect((await readNode(W1)).spec?.unschedulable).to.equal(true);
      const stillThere = (await pods(namespace)).filter(
        (pod) => pod.metadata.deletionTimestamp === undefined,
      );
      expect(stillThere).to.have.length(2);
      expect((await labClusterEvents("stuck")).map((event) => event.reason)).to.include("NodeDrainTimedOut");
    });
  });
});
