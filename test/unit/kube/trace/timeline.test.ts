// The trace timeline from objects recorded on a sim lab and on real kubeadm nodes (podman): golden text/JSON/mermaid, times only as the API gave them, where a pod stopped.
import { readFile } from "node:fs/promises";
import { expect } from "chai";

import type { TraceInput, TracedPod } from "../../../../bootstrap/kube/trace/objects.ts";
import {
  formatOffset,
  renderTraceJson,
  renderTraceMermaid,
  renderTraceText,
} from "../../../../bootstrap/kube/trace/render.ts";
import { buildTimeline, creatorOf, type Timeline } from "../../../../bootstrap/kube/trace/timeline.ts";
import { expectGolden } from "../../golden.ts";
import { FIXTURES } from "../../helpers.ts";

interface Recording {
  readonly subject: Timeline["subject"];
  readonly input: TraceInput;
}

/** A fixture recorded from a sim lab by test/unit/fixtures/trace/record.ts. */
async function recording(name: string): Promise<Recording> {
  return JSON.parse(await readFile(`${FIXTURES}trace/${name}.json`, "utf8")) as Recording;
}

async function timelineOf(name: string): Promise<Timeline> {
  const { subject, input } = await recording(name);
  return buildTimeline(input, subject);
}

/** Every string anywhere in `value`: the times a trace may show are among them. */
function stringsIn(value: unknown, into = new Set<string>()): Set<string> {
  if (typeof value === "string") into.add(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, into);
  else if (typeof value === "object" && value !== null)
    for (const item of Object.values(value)) stringsIn(item, into);
  return into;
}

/** The recorded pod with its status changed, for the cases a sim lab cannot produce. */
function withPod(input: TraceInput, change: (pod: TracedPod) => TracedPod): TraceInput {
  return { ...input, pod: change(input.pod!) };
}

describe("kube/trace/timeline", () => {
  it("renders a pod that runs and one that cannot be scheduled as the golden text, JSON and mermaid", async () => {
    const files = new Map<string, string>();
    for (const name of ["sim-running", "sim-unschedulable", "podman-running"]) {
      const timeline = await timelineOf(name);
      files.set(`${name}.txt`, renderTraceText(timeline));
      files.set(`${name}.json`, renderTraceJson(timeline));
      files.set(`${name}.md`, renderTraceMermaid(timeline));
    }
    await expectGolden("trace", files);
  });

  it("shows only times the API recorded, and never a time for etcd's write", async () => {
    for (const name of ["sim-running", "sim-unschedulable", "podman-running"]) {
      const { subject, input } = await recording(name);
      const recorded = stringsIn(input);
      const timeline = buildTimeline(input, subject);
      for (const step of timeline.steps) {
        if (step.time !== undefined) expect(recorded, `${name}: ${step.id}`).to.include(step.time);
        else expect(step.untimed, `${name}: ${step.id} says why it has no time`).to.match(/^not timed/);
      }
      const etcd = timeline.steps.find((step) => step.id === "etcd");
      expect(etcd?.time).to.equal(undefined);
      expect(etcd?.untimed).to.contain("implied by the API server's acceptance");
    }
  });

  it("follows the path in causal order: acceptance, etcd, Deployment -> ReplicaSet -> Pod, scheduler, node", async () => {
    const timeline = await timelineOf("sim-running");
    const ids = timeline.steps.map((step) => step.id);
    expect(ids.slice(0, 5)).to.deep.equal([
      "accepted",
      "etcd",
      "created:ReplicaSet",
      "created:Pod",
      "scheduled",
    ]);
    expect(ids.indexOf("condition:Ready")).to.equal(ids.length - 1);
    const accepted = timeline.steps[0]!;
    expect(accepted.what).to.equal("accepted Deployment tr/web, sent by kubectl-create (Update)");
    expect(timeline.steps[2]!.what).to.match(/^deployment-controller created ReplicaSet web-/);
    expect(timeline.steps[3]!.what).to.match(/^replicaset-controller created Pod web-/);
    expect(timeline.steps[4]!.what).to.match(/^default-scheduler assigned the pod to w\d-k8s$/);
    expect(timeline.outcome.state).to.equal("Ready");
  });

  it("says on sim that kwok stood in for the kubelet and the runtime, and that the address is not timed", async () => {
    const timeline = await timelineOf("sim-running");
    expect(timeline.node?.simulated).to.equal(true);
    expect(timeline.notes.join("\n")).to.contain(
      "kwok writes the pod's status and Events in place of the kubelet",
    );
    const ip = timeline.steps.find((step) => step.id === "ip")!;
    expect(ip.time).to.equal(undefined);
    expect(ip.what).to.match(/^pod IP 172\.16\.\d+\.\d+, from the CNI \(calico-node-\w+ on w\d-k8s\)$/);
    expect(timeline.steps.find((step) => step.id === "event:Started")?.evidence).to.equal(
      "Event Started from kwok_controller",
    );
  });

  it("times the address by PodReadyToStartContainers where a kubelet reports it", async () => {
    const { subject, input } = await recording("sim-running");
    const sandboxReady = "2026-12-02T02:16:22Z";
    const timeline = buildTimeline(
      withPod(input, (pod) => ({
        ...pod,
        status: {
          ...pod.status,
          conditions: [
            ...(pod.status?.conditions ?? []),
            { type: "PodReadyToStartContainers", status: "True", lastTransitionTime: sandboxReady },
          ],
        },
      })),
      subject,
    );
    const ip = timeline.steps.find((step) => step.id === "ip")!;
    expect(ip.time).to.equal(sandboxReady);
    expect(ip.evidence).to.contain("PodReadyToStartContainers");
  });

  it("on a real kubeadm node names the kubelet's Events and containerd, and times the address by its sandbox", async () => {
    const timeline = await timelineOf("podman-running");
    expect(timeline.node).to.include({ simulated: false, containerRuntimeVersion: "containerd://1.6.20" });
    expect(timeline.steps.find((step) => step.id === "event:Started")?.evidence).to.equal(
      "Event Started from kubelet (w1-k8s)",
    );
    const ip = timeline.steps.find((step) => step.id === "ip")!;
    expect(ip.time).to.equal(
      timeline.steps.find((step) => step.id === "condition:PodReadyToStartContainers")?.time,
    );
    expect(timeline.outcome.state).to.equal("Ready");
  });

  it("stops an unschedulable pod at the scheduler with the FailedScheduling Event's words", async () => {
    const timeline = await timelineOf("sim-unschedulable");
    expect(timeline.outcome).to.include({
      state: "Failed",
      component: "kube-scheduler",
      reason: "FailedScheduling",
    });
    expect(timeline.outcome.message).to.match(/^not scheduled: 0\/3 nodes are available: .*Insufficient cpu/);
    expect(timeline.node).to.equal(undefined);
    const failed = timeline.steps.filter((step) => step.id === "event:FailedScheduling");
    expect(failed).to.have.length(1);
    expect(failed[0]!.warning).to.equal(true);
    expect(timeline.steps.some((step) => step.id === "scheduled")).to.equal(false);
  });

  it("stops a pod whose image cannot be pulled at the kubelet, with the container's reason", async () => {
    const { subject, input } = await recording("sim-running");
    const timeline = buildTimeline(
      withPod(input, (pod) => ({
        ...pod,
        status: {
          ...pod.status,
          conditions: (pod.status?.conditions ?? []).map((c) =>
            c.type === "Ready" || c.type === "ContainersReady"
              ? { ...c, status: "False", reason: "ContainersNotReady" }
              : c,
          ),
          containerStatuses: [
            {
              name: "nginx",
              ready: false,
              restartCount: 0,
              state: {
                waiting: { reason: "ImagePullBackOff", message: 'Back-off pulling image "nginx:1.27"' },
              },
            },
          ],
        },
      })),
      subject,
    );
    expect(timeline.outcome).to.include({ state: "Failed", reason: "ImagePullBackOff" });
    expect(timeline.outcome.message).to.equal('container nginx: Back-off pulling image "nginx:1.27"');
  });

  it("waits for the controller when a Deployment has no pod yet, and for the scheduler before a node is chosen", async () => {
    const { subject, input } = await recording("sim-running");
    const noPod = buildTimeline({ owners: input.owners, events: [] }, subject);
    expect(noPod.outcome).to.include({ state: "InProgress", message: "waiting for a pod to be created" });
    const pending = buildTimeline(
      {
        owners: input.owners,
        events: [],
        pod: {
          ...input.pod!,
          spec: { ...input.pod!.spec, nodeName: undefined },
          status: { phase: "Pending" },
        },
      },
      subject,
    );
    expect(pending.outcome).to.include({ state: "InProgress", component: "kube-scheduler" });
  });

  it("says a static pod's mirror pod was written by the kubelet from a manifest, not made by a controller", async () => {
    const { input } = await recording("sim-running");
    const pod = input.pod!;
    const mirror: TracedPod = {
      ...pod,
      metadata: {
        ...pod.metadata,
        name: "kube-apiserver-m-k8s",
        namespace: "kube-system",
        ownerReferences: [
          { apiVersion: "v1", kind: "Node", name: "m-k8s", uid: "node-uid", controller: true },
        ],
        managedFields: [
          {
            manager: "kubelet",
            operation: "Update",
            time: pod.metadata.creationTimestamp,
            fieldsV1: { "f:spec": {} },
          },
        ],
      },
    };
    const timeline = buildTimeline(
      { owners: [], pod: mirror, events: [] },
      { kind: "Pod", namespace: "kube-system", name: "kube-apiserver-m-k8s" },
    );
    expect(timeline.steps[0]!.what).to.equal(
      "accepted Pod kube-system/kube-apiserver-m-k8s, sent by kubelet (Update)",
    );
    expect(timeline.notes.join("\n")).to.contain(
      "kube-apiserver-m-k8s is a static pod: the kubelet on m-k8s runs it",
    );
  });

  describe("creatorOf", () => {
    const meta = (managedFields: object[]) => ({
      name: "x",
      uid: "u",
      creationTimestamp: "2026-01-01T00:00:00Z",
      managedFields,
    });
    it("prefers the earliest writer of spec over a later one and over metadata-only writers", () => {
      const creator = creatorOf(
        meta([
          {
            manager: "kube-controller-manager",
            operation: "Update",
            time: "2026-01-01T00:00:00Z",
            fieldsV1: { "f:metadata": {} },
          },
          {
            manager: "kubectl-edit",
            operation: "Update",
            time: "2026-01-01T00:05:00Z",
            fieldsV1: { "f:spec": {} },
          },
          {
            manager: "kubectl-create",
            operation: "Update",
            time: "2026-01-01T00:00:00Z",
            fieldsV1: { "f:spec": {} },
          },
          {
            manager: "kube-controller-manager",
            operation: "Update",
            subresource: "status",
            time: "2025-12-31T00:00:00Z",
            fieldsV1: { "f:status": {} },
          },
        ]),
      );
      expect(creator?.manager).to.equal("kubectl-create");
    });
    it("is undefined without managedFields", () => {
      expect(creatorOf(meta([]))).to.equal(undefined);
    });
  });

  describe("rendering", () => {
    it("shows an offset no finer than its source time", () => {
      expect(formatOffset(0, "second")).to.equal("+0s");
      expect(formatOffset(854, "microsecond")).to.equal("+0.854s");
      expect(formatOffset(75_000, "second")).to.equal("+1m15s");
      expect(formatOffset(314_395, "microsecond")).to.equal("+5m14.395s");
    });

    it("keeps every mermaid message on one line without ';' or '#', which end or escape a message", async () => {
      const timeline = await timelineOf("sim-unschedulable");
      const tricky: Timeline = {
        ...timeline,
        steps: [{ ...timeline.steps[0]!, what: "a; b #1\nc" }],
      };
      const diagram = renderTraceMermaid(tricky);
      const message = diagram.split("\n").find((line) => line.includes("->>"))!;
      expect(message).to.equal("  client->>apiserver: +0s a, b no. 1 c");
      expect(diagram.startsWith("```mermaid\nsequenceDiagram\n")).to.equal(true);
    });
  });
});
