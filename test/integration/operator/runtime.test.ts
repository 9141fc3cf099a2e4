// The controller runtime against a real API server: dedup under an event storm, backoff, informer recovery.
import { expect } from "chai";

import { join } from "node:path";

import { startControlPlane, type ControlPlane } from "../../../bootstrap/controlplane/engine.ts";
import { runProcess } from "../../../bootstrap/process.ts";
import { nodesPart } from "../../../operator/labcluster/nodes/part.ts";
import { resourcePath } from "../../../operator/runtime/client.ts";
import { controlPlane, ENVTEST_NODES, waitFor } from "../../envtest/index.ts";
import {
  adminClient,
  applyLabCluster,
  deleteLabCluster,
  impersonating,
  installCrds,
  labClusterStatus,
  nodeStatus,
  startOperator,
  type RunningOperator,
} from "./helpers.ts";

const EXPECTED = [
  { name: ENVTEST_NODES.controlPlane, role: "control-plane" as const },
  ...ENVTEST_NODES.workers.map((name) => ({ name, role: "worker" as const })),
];

describe("operator runtime on a real API server", function () {
  this.timeout(120_000);

  before(async () => {
    await installCrds();
  });

  describe("event storm", () => {
    let operator: RunningOperator;
    const node = "storm-node";
    const nodePath = resourcePath({ group: "", version: "v1", plural: "nodes", name: node });

    before(async () => {
      // A node no kwok manages: only this test writes its status.
      await adminClient().create("/api/v1/nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: node },
      });
      operator = startOperator("storm");
      await applyLabCluster("storm", { nodes: { expected: EXPECTED } });
      await waitFor("the storm node in status", async () => (await nodeStatus("storm", node)) !== undefined);
    });

    after(async () => {
      await operator?.stop();
      await deleteLabCluster("storm");
      await adminClient().delete(nodePath);
    });

    it("folds 1,000 node updates into far fewer reconciles, and ends on the last state", async () => {
      const client = adminClient();
      const before = await operator.metrics.value("kubelab_reconcile_total", { controller: "labcluster" });
      const updates = 1000;
      const parallel = 20;
      for (let start = 0; start < updates; start += parallel) {
        await Promise.all(
          Array.from({ length: parallel }, (_, offset) =>
            client.request("PATCH", `${nodePath}/status`, {
              contentType: "application/strategic-merge-patch+json",
              body: {
                status: {
                  conditions: [
                    {
                      type: "Ready",
                      status: "False",
                      reason: "Storm",
                      message: `update ${start + offset}`,
                      lastHeartbeatTime: new Date().toISOString(),
                      lastTransitionTime: "2026-01-01T00:00:00Z",
                    },
                  ],
                },
              },
            }),
          ),
        );
      }
      // The last write decides the final state; which one is last is the API server's order.
      const final = await client.get<{ status: { conditions: { type: string; message: string }[] } }>(
        nodePath,
      );
      const lastMessage = final.status.conditions.find((condition) => condition.type === "Ready")!.message;
      await waitFor("status to show the last update", async () =>
        (await nodeStatus("storm", node))?.message?.includes(lastMessage),
      );
      const reconciles =
        (await operator.metrics.value("kubelab_reconcile_total", { controller: "labcluster" })) - before;
      const added = await operator.metrics.value("kubelab_workqueue_adds_total", { queue: "labcluster" });
      process.stderr.write(
        `      event storm: ${updates} node updates -> ${reconciles} reconciles (${added} queue adds in all)\n`,
      );
      expect(reconciles).to.be.greaterThan(0);
      // Each reconcile reads the LabCluster and writes its status (~30 ms here): the queue folds every
      // update that arrives meanwhile into the next one.
      expect(reconciles).to.be.lessThan(updates / 4);
    });
  });

  describe("errors", () => {
    const user = "kubelab-test-no-status";
    const role = resourcePath({
      group: "rbac.authorization.k8s.io",
      version: "v1",
      plural: "clusterroles",
      name: user,
    });
    const binding = resourcePath({
      group: "rbac.authorization.k8s.io",
      version: "v1",
      plural: "clusterrolebindings",
      name: user,
    });
    const rules = [
      { apiGroups: ["kubelab.dev"], resources: ["labclusters"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
    ];
    let operator: RunningOperator | undefined;

    before(async () => {
      const client = adminClient();
      await client.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: user },
        rules,
      });
      await client.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: user },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: user },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      });
    });

    after(async () => {
      await operator?.stop();
      await deleteLabCluster("forbidden");
      await adminClient().delete(binding);
      await adminClient().delete(role);
    });

    it("retries a failing reconcile with exponential backoff, then succeeds and resets it", async () => {
      await applyLabCluster("forbidden", { nodes: { expected: EXPECTED } });
      // Node health only: the user has exactly its rights (the other parts would wait for informers forever).
      const running = startOperator("forbidden", {
        client: impersonating(controlPlane(), user),
        parts: [nodesPart],
      });
      operator = running;
      const retries = () =>
        running.logs.filter(
          (line) => line.message === "reconcile failed; retrying" && line.key === "forbidden",
        );
      await waitFor("eight failed status writes", () => retries().length >= 8, { timeoutMs: 30_000 });
      const delays = retries()
        .slice(0, 8)
        .map((line) => line.retryInMs);
      expect(delays).to.deep.equal([5, 10, 20, 40, 80, 160, 320, 640]);
      expect(String(retries()[0]!.error)).to.match(/403 Forbidden/);
      expect(await running.metrics.value("kubelab_reconcile_panics_total")).to.equal(0);

      await adminClient().apply(
        role,
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: user },
          rules: [
            ...rules,
            { apiGroups: ["kubelab.dev"], resources: ["labclusters/status"], verbs: ["patch"] },
          ],
        },
        "kubelab-tests",
      );
      await waitFor(
        "the status written once allowed",
        async () => (await labClusterStatus("forbidden")).nodeSummary === "3/3",
        {
          timeoutMs: 60_000,
        },
      );
      // The status write lands before that reconcile returns (it still records its Events): the reset
      // happens when it returns, so wait for it rather than read it at once.
      await waitFor(
        "backoff reset after success",
        () => running.operator.controller.queue.failures("forbidden") === 0,
        {
          timeoutMs: 10_000,
        },
      );
    });
  });

  describe("informer recovery", () => {
    let plane: ControlPlane;
    let operator: RunningOperator | undefined;

    before(async function () {
      this.timeout(180_000);
      plane = await startControlPlane({
        etcdUnsafeNoFsync: true,
        keepDir: process.env.KUBELAB_ENVTEST_KEEP === "1",
      });
      await installCrds(plane);
    });

    after(async () => {
      await operator?.stop();
      await plane?.stop();
    });

    it("recovers its watches after the API server is stopped and started again", async () => {
      operator = startOperator("recovery", { plane });
      const running = operator;
      await applyLabCluster("recovery", { nodes: { expected: [{ name: "a", role: "worker" }] } }, plane);
      await waitFor(
        "status 0/1",
        async () => (await labClusterStatus("recovery", plane)).nodeSummary === "0/1",
      );

      await plane.stopComponents(["kube-apiserver"]);
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await plane.startComponents(["kube-apiserver"]);
      await waitFor(
        "an informer restart to be counted",
        async () => (await running.metrics.value("kubelab_informer_restarts_total")) > 0,
      );

      // A change made after the restart reaches the operator only through a working watch (or a re-list).
      await applyLabCluster(
        "recovery",
        {
          nodes: {
            expected: [
              { name: "a", role: "worker" },
              { name: "b", role: "worker" },
            ],
          },
        },
        plane,
      );
      await waitFor(
        "status 0/2 after the restart",
        async () => (await labClusterStatus("recovery", plane)).nodeSummary === "0/2",
        {
          timeoutMs: 60_000,
        },
      );
      const restarts = await running.metrics.value("kubelab_informer_restarts_total", {
        informer: "labclusters",
      });
      expect(restarts).to.be.greaterThan(0);
    });

    it("re-lists when its resourceVersion was compacted away while the API server was down (410 Gone)", async () => {
      const running = operator!;
      const expired = () =>
        running.metrics.value("kubelab_informer_relists_total", {
          informer: "labclusters",
          reason: "expired",
        });
      const before = await expired();
      // Move etcd's revision on, then compact everything before it with the API server down: the informers'
      // resourceVersion no longer exists when they resume.
      for (let index = 0; index < 20; index++) {
        await applyLabCluster(
          "recovery",
          { nodes: { expected: [{ name: `n${index}`, role: "worker" }] } },
          plane,
        );
      }
      await plane.stopComponents(["kube-apiserver"]);
      const etcd = plane.etcd;
      const etcdctl = (...args: string[]) =>
        runProcess(
          plane.binaries.path("etcdctl"),
          [
            `--endpoints=${etcd.endpoint}`,
            `--cacert=${etcd.caCertPath}`,
            `--cert=${etcd.certPath}`,
            `--key=${etcd.keyPath}`,
            ...args,
          ],
          {
            timeoutMs: 30_000,
            signal: new AbortController().signal,
            logFile: join(plane.logsDir, "etcdctl.log"),
          },
        );
      const status = JSON.parse((await etcdctl("endpoint", "status", "-w", "json")).stdout) as {
        Status: { header: { revision: number } };
      }[];
      await etcdctl("compact", String(status[0]!.Status.header.revision));
      await plane.startComponents(["kube-apiserver"]);
      await waitFor("a re-list after 410 Gone", async () => (await expired()) > before, {
        timeoutMs: 60_000,
      });
      await applyLabCluster("recovery", { nodes: { expected: [{ name: "d", role: "worker" }] } }, plane);
      await waitFor("the cache to work after the re-list", async () => {
        const current = await labClusterStatus("recovery", plane);
        return current.nodes?.some((node) => node.name === "d");
      });
    });

    it("re-lists a watch that stays silent longer than the stall timeout", async () => {
      // Only this operator may write the status below: the previous test's is stopped.
      await operator?.stop();
      operator = undefined;
      const quiet = startOperator("stall", { plane, informerDefaults: { stallTimeoutMs: 1500 } });
      try {
        await waitFor(
          "a stalled re-list",
          async () =>
            (await quiet.metrics.value("kubelab_informer_relists_total", {
              informer: "labclusters",
              reason: "stalled",
            })) > 0,
          { timeoutMs: 20_000 },
        );
        // And the cache still works after it: a change made now reaches the status (node c, which no
        // earlier spec named; 0/1 alone was already there).
        await applyLabCluster("recovery", { nodes: { expected: [{ name: "c", role: "worker" }] } }, plane);
        await waitFor("node c reported Missing", async () => {
          const current = await labClusterStatus("recovery", plane);
          return current.nodes?.some((node) => node.name === "c" && node.reason === "Missing") === true;
        });
      } finally {
        await quiet.stop();
      }
    });
  });
});
