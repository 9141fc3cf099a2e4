// The trace and the component map on a real control plane: kube-apiserver, controllers and scheduler, with KWOK nodes.
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { expect } from "chai";

import { readComponentsInput } from "../../bootstrap/kube/components-read.ts";
import { renderComponentMap } from "../../bootstrap/kube/components.ts";
import { RawJsonApi } from "../../bootstrap/kube/raw.ts";
import { TraceReader } from "../../bootstrap/kube/trace/read.ts";
import { buildTimeline, type Timeline } from "../../bootstrap/kube/trace/timeline.ts";
import { UsageError } from "../../bootstrap/errors.ts";
import {
  ENVTEST_NODES,
  api,
  createNamespace,
  deleteNamespace,
  kubeConfig,
  waitFor,
} from "../envtest/index.ts";

/** The field manager the test creates its objects with: the trace must name it as the sender. */
const SENDER = "kubelab-trace-test";

function deployment(name: string, cpu?: string) {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "main",
              image: "registry.k8s.io/pause:3.10",
              ...(cpu === undefined ? {} : { resources: { requests: { cpu } } }),
            },
          ],
        },
      },
    },
  };
}

/** Every string in a JSON value: a trace may only show times found among them. */
function stringsIn(value: unknown, into = new Set<string>()): Set<string> {
  if (typeof value === "string") into.add(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, into);
  else if (typeof value === "object" && value !== null)
    for (const item of Object.values(value)) stringsIn(item, into);
  return into;
}

describe("trace on a real control plane", function () {
  this.timeout(90_000);
  let namespace: string;
  let reader: TraceReader;

  before(async () => {
    namespace = await createNamespace("trace");
    reader = new TraceReader(kubeConfig());
  });

  after(async () => {
    await deleteNamespace(namespace);
  });

  const traceOf = async (kind: "Pod" | "Deployment", name: string): Promise<Timeline> => {
    const input = await reader.read(kind, namespace, name);
    const timeline = buildTimeline(input, { kind, namespace, name });
    const recorded = stringsIn(input);
    for (const step of timeline.steps) {
      if (step.time !== undefined)
        expect(recorded, `${step.id} shows a time the API gave`).to.include(step.time);
    }
    return timeline;
  };

  it("follows a Deployment's pod through the API server, the controllers, the scheduler and kwok to Ready", async () => {
    await api(AppsV1Api).createNamespacedDeployment({
      namespace,
      body: deployment("web"),
      fieldManager: SENDER,
    });
    const timeline = await waitFor(
      "the traced pod to be Ready",
      async () => {
        const current = await traceOf("Deployment", "web");
        return (
          current.outcome.state === "Ready" && current.steps.some((s) => s.id === "event:Started") && current
        );
      },
      { timeoutMs: 60_000 },
    );
    const step = (id: string) => timeline.steps.find((candidate) => candidate.id === id);
    expect(step("accepted")?.what).to.equal(
      `accepted Deployment ${namespace}/web, sent by ${SENDER} (Update)`,
    );
    expect(step("etcd")?.time).to.equal(undefined);
    expect(step("created:ReplicaSet")?.what).to.match(/^deployment-controller created ReplicaSet web-\w+$/);
    expect(step("created:ReplicaSet")?.evidence).to.contain("managedFields: kube-controller-manager Update");
    expect(step("created:Pod")?.what).to.match(/^replicaset-controller created Pod web-\w+-\w+$/);
    expect(step("scheduled")?.what).to.match(/^default-scheduler assigned the pod to w\d-k8s$/);
    expect(step("scheduled")?.precision, "the scheduler's Event has a microsecond eventTime").to.equal(
      "microsecond",
    );
    expect(step("event:Started")?.evidence).to.equal("Event Started from kwok_controller");
    expect(step("condition:Ready")?.what).to.equal("Ready=True");
    expect(ENVTEST_NODES.workers).to.include(timeline.node?.name);
    expect(timeline.node).to.include({ simulated: true });
    expect(timeline.node?.containerRuntimeVersion).to.match(/^kwok:\/\//);
  });

  it("stops a pod that asks for more CPU than any node has at the scheduler, with its FailedScheduling Event", async () => {
    await api(AppsV1Api).createNamespacedDeployment({
      namespace,
      body: deployment("too-big", "500"),
      fieldManager: SENDER,
    });
    const timeline = await waitFor(
      "the scheduler to refuse the pod",
      async () => {
        const current = await traceOf("Deployment", "too-big");
        return current.outcome.state === "Failed" && current;
      },
      { timeoutMs: 60_000 },
    );
    expect(timeline.outcome).to.include({ component: "kube-scheduler", reason: "FailedScheduling" });
    expect(timeline.outcome.message).to.match(/Insufficient cpu/);
    expect(timeline.steps.find((s) => s.id === "event:FailedScheduling")?.warning).to.equal(true);
    expect(timeline.node).to.equal(undefined);
  });

  it("traces a pod without owners from its own acceptance, and refuses an unknown one as bad input", async () => {
    await api(CoreV1Api).createNamespacedPod({
      namespace,
      body: {
        metadata: { name: "bare" },
        spec: { containers: [{ name: "main", image: "registry.k8s.io/pause:3.10" }] },
      },
      fieldManager: SENDER,
    });
    const timeline = await waitFor("the bare pod to be Ready", async () => {
      const current = await traceOf("Pod", "bare");
      return current.outcome.state === "Ready" && current;
    });
    expect(timeline.steps[0]?.what).to.equal(`accepted Pod ${namespace}/bare, sent by ${SENDER} (Update)`);
    expect(timeline.steps.some((s) => s.id.startsWith("created:"))).to.equal(false);
    const missing = await reader.read("Pod", namespace, "no-such-pod").catch((error: unknown) => error);
    expect(missing).to.be.instanceOf(UsageError);
  });

  it("hears about a new pod through its watch on the namespace", async () => {
    let changes = 0;
    const stop = await reader.watchNamespace(
      namespace,
      () => changes++,
      (error) => {
        throw error;
      },
    );
    try {
      // Give the watches a moment to be established before the change they must hear.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await api(CoreV1Api).createNamespacedPod({
        namespace,
        body: { metadata: { name: "watched" }, spec: { containers: [{ name: "main", image: "pause" }] } },
      });
      await waitFor("a change from the watch", () => changes > 0);
    } finally {
      stop();
    }
  });

  it("maps the components: KWOK nodes with their runtime, etcd's size and revision from the API server", async () => {
    const input = await readComponentsInput(kubeConfig(), "none", new Date());
    expect(input.nodes.map((node) => node.metadata.name)).to.include.members([
      ENVTEST_NODES.controlPlane,
      ...ENVTEST_NODES.workers,
    ]);
    expect(input.etcd.dbSizeBytes).to.be.a("number").and.greaterThan(0);
    // The revision is the one a list answers with, and it grows with every write.
    const before = Number(input.etcd.revision);
    await api(CoreV1Api).createNamespacedConfigMap({ namespace, body: { metadata: { name: "bump" } } });
    const after = Number((await readComponentsInput(kubeConfig(), "none", new Date())).etcd.revision);
    expect(after).to.be.greaterThan(before);
    const raw = await RawJsonApi.forConfig(kubeConfig()).get<{ metadata: { resourceVersion: string } }>(
      `/api/v1/namespaces/${namespace}/configmaps/bump`,
    );
    expect(after).to.be.at.least(Number(raw.metadata.resourceVersion));
    const text = renderComponentMap(input).join("\n");
    expect(text).to.match(/m-k8s\s+control-plane\s+Ready\s+v1\.36\.\d+\s+kwok:\/\//);
    expect(text).to.contain("Operator guards: nothing yet (no LabCluster none)");
  });
});
