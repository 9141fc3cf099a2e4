// The envtest control plane behaves as a cluster: the real controllers and scheduler drive pods on kwok nodes.
import {
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type V1Node,
  type V1PodSpec,
} from "@kubernetes/client-node";
import { expect } from "chai";

import {
  api,
  controlPlane,
  createNamespace,
  deleteNamespace,
  ENVTEST_NODES,
  ENVTEST_TIMING,
  waitFor,
} from "../envtest/index.ts";

const ALL_NODES = [ENVTEST_NODES.controlPlane, ...ENVTEST_NODES.workers];
const PAUSE = "registry.k8s.io/pause:3.10.2";

function podSpec(extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return { containers: [{ name: "main", image: PAUSE }], ...extra };
}

function readyStatus(node: V1Node): string | undefined {
  return node.status?.conditions?.find((condition) => condition.type === "Ready")?.status;
}

describe("control plane: controllers, scheduler and kwok nodes", () => {
  let namespace: string;

  before(async () => {
    namespace = await createNamespace("controllers");
  });

  after(async () => {
    await deleteNamespace(namespace);
  });

  it("has every kwok node Ready with a Lease renewed in kube-node-lease", async () => {
    const nodes = await api(CoreV1Api).listNode();
    const ready = nodes.items
      .filter((node) => readyStatus(node) === "True")
      .map((node) => node.metadata?.name);
    expect(ready).to.include.members(ALL_NODES);
    const lease = await api(CoordinationV1Api).readNamespacedLease({
      name: ENVTEST_NODES.workers[0],
      namespace: "kube-node-lease",
    });
    const first = new Date(lease.spec?.renewTime ?? 0).getTime();
    await waitFor(
      "the Lease to be renewed",
      async () => {
        const again = await api(CoordinationV1Api).readNamespacedLease({
          name: ENVTEST_NODES.workers[0],
          namespace: "kube-node-lease",
        });
        return new Date(again.spec?.renewTime ?? 0).getTime() > first;
      },
      { timeoutMs: ENVTEST_TIMING.nodeLeaseDurationSeconds * 1000 },
    );
  });

  it("runs a Deployment's pods on the worker nodes, Running with pod IPs, never on the tainted control plane", async () => {
    const labels = { app: "web" };
    await api(AppsV1Api).createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 4,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: podSpec() },
        },
      },
    });
    const pods = await waitFor("4 Running pods of the Deployment", async () => {
      const list = await api(CoreV1Api).listNamespacedPod({ namespace, labelSelector: "app=web" });
      const running = list.items.filter((pod) => pod.status?.phase === "Running");
      return running.length === 4 ? running : undefined;
    });
    for (const pod of pods) {
      expect(ENVTEST_NODES.workers).to.include(pod.spec?.nodeName);
      expect(pod.status?.podIP, `${pod.metadata?.name} has no IP`).to.be.a("string");
    }
    const deployment = await waitFor("the Deployment to report 4 available replicas", async () => {
      const read = await api(AppsV1Api).readNamespacedDeployment({ name: "web", namespace });
      return read.status?.availableReplicas === 4 ? read : undefined;
    });
    expect(deployment.status?.readyReplicas).to.equal(4);
  });

  it("runs exactly one DaemonSet pod per node, the control plane included when tolerated", async () => {
    const labels = { app: "agent" };
    await api(AppsV1Api).createNamespacedDaemonSet({
      namespace,
      body: {
        metadata: { name: "agent" },
        spec: {
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: podSpec({
              tolerations: [{ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" }],
            }),
          },
        },
      },
    });
    const daemonSet = await waitFor("the DaemonSet to be ready on every node", async () => {
      const read = await api(AppsV1Api).readNamespacedDaemonSet({ name: "agent", namespace });
      const status = read.status;
      return status !== undefined &&
        status.desiredNumberScheduled === ALL_NODES.length &&
        status.numberReady === ALL_NODES.length
        ? read
        : undefined;
    });
    expect(daemonSet.status?.numberAvailable).to.equal(ALL_NODES.length);
    const pods = await api(CoreV1Api).listNamespacedPod({ namespace, labelSelector: "app=agent" });
    const nodes = pods.items.map((pod) => pod.spec?.nodeName).sort();
    expect(nodes).to.deep.equal([...ALL_NODES].sort());
  });

  it("turns a CronJob scheduled every minute into a Job that completes", async function () {
    // The CronJob controller fires on the next minute boundary: up to 60 s, plus the Job's own run.
    this.timeout(150_000);
    await api(BatchV1Api).createNamespacedCronJob({
      namespace,
      body: {
        metadata: { name: "tick" },
        spec: {
          schedule: "* * * * *",
          jobTemplate: {
            spec: { backoffLimit: 0, template: { spec: podSpec({ restartPolicy: "Never" }) } },
          },
        },
      },
    });
    const job = await waitFor(
      "a Job of the CronJob to complete",
      async () => {
        const jobs = await api(BatchV1Api).listNamespacedJob({ namespace });
        return jobs.items.find(
          (candidate) =>
            candidate.metadata?.ownerReferences?.some(
              (owner) => owner.kind === "CronJob" && owner.name === "tick",
            ) &&
            candidate.status?.conditions?.some(
              (condition) => condition.type === "Complete" && condition.status === "True",
            ),
        );
      },
      { timeoutMs: 140_000, intervalMs: 1000 },
    );
    expect(job.status?.succeeded).to.equal(1);
    const cronJob = await waitFor("the CronJob to record the success", async () => {
      const read = await api(BatchV1Api).readNamespacedCronJob({ name: "tick", namespace });
      return read.status?.lastSuccessfulTime !== undefined ? read : undefined;
    });
    expect(cronJob.status?.lastScheduleTime).to.not.equal(undefined);
  });

  it("lets the controller-manager mark a node NotReady when its heartbeats stop, and Ready when they resume", async function () {
    const grace = ENVTEST_TIMING.nodeMonitorGracePeriodSeconds * 1000;
    this.timeout(2 * grace + 60_000);
    const node = ENVTEST_NODES.workers[1];
    const core = api(CoreV1Api);
    await controlPlane().stopHeartbeats(node);
    try {
      const silent = await waitFor(
        `${node} to become NotReady`,
        async () => {
          const read = await core.readNode({ name: node });
          return readyStatus(read) === "Unknown" ? read : undefined;
        },
        { timeoutMs: grace + 30_000, intervalMs: 500 },
      );
      const ready = silent.status?.conditions?.find((condition) => condition.type === "Ready");
      expect(ready?.reason).to.equal("NodeStatusUnknown");
      // The node lifecycle controller also taints it, as on a real cluster.
      await waitFor("the unreachable taint", async () => {
        const read = await core.readNode({ name: node });
        return read.spec?.taints?.some((taint) => taint.key === "node.kubernetes.io/unreachable");
      });
    } finally {
      await controlPlane().startHeartbeats(node);
    }
    await waitFor(
      `${node} to become Ready again`,
      async () => readyStatus(await core.readNode({ name: node })) === "True",
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });
});
