// The addon parts as the LabCluster reconciler sees them: one shared engine, their conditions and status fields.
import { expect } from "chai";

import { labClusterSchema, type LabClusterStatus } from "../../../../operator/api/labcluster.ts";
import { addonParts } from "../../../../operator/labcluster/addons/part.ts";
import { LABCLUSTERS_PATH, toCachedLabCluster } from "../../../../operator/labcluster/cache.ts";
import type { PartInput, PartSetupContext } from "../../../../operator/labcluster/part.ts";
import { composeStatus } from "../../../../operator/labcluster/status.ts";
import type { KubeClient } from "../../../../operator/runtime/client.ts";
import { ManualClock } from "../../../../operator/runtime/clock.ts";
import type { Controller } from "../../../../operator/runtime/controller.ts";
import { EventRecorder } from "../../../../operator/runtime/events.ts";
import { Informer } from "../../../../operator/runtime/informer.ts";
import { silentOperatorLogger } from "../../../../operator/runtime/log.ts";
import { RuntimeMetrics } from "../../../../operator/runtime/metrics.ts";

/** A setup context whose informers are never started: the parts are only asked what they report. */
function context() {
  // Never called: no informer is started and nothing is written.
  const client = {} as KubeClient;
  const log = silentOperatorLogger();
  const controllers: Controller[] = [];
  const setup: PartSetupContext = {
    client,
    log,
    metrics: new RuntimeMetrics(),
    clock: new ManualClock(),
    operatorNamespace: "kubelab-system",
    labClusters: new Informer({
      name: "labclusters",
      client,
      path: LABCLUSTERS_PATH,
      transform: toCachedLabCluster,
      log,
    }),
    informer: (options) => new Informer({ ...options, client, log }),
    addController: (controller) => controllers.push(controller),
    events: new EventRecorder({ client, controller: "test", instance: "test", log }),
    requeue: () => {},
  };
  return { setup, controllers };
}

function input(spec: unknown, previous: LabClusterStatus = {}): PartInput {
  return {
    labCluster: labClusterSchema.parse({ metadata: { name: "lab", uid: "uid-1" }, spec }),
    previous,
    now: new Date("2026-01-01T00:00:00Z"),
    log: silentOperatorLogger(),
    signal: new AbortController().signal,
    emit: () => Promise.resolve(),
  };
}

describe("the addon parts", () => {
  it("share one engine: one controller and one restore metric for Calico, kube-router and CoreDNS", () => {
    const { setup, controllers } = context();
    for (const part of addonParts()) part.setup(setup);
    expect(controllers.map((controller) => controller.name)).to.deep.equal(["addons"]);
    expect(setup.metrics.registry.getSingleMetric("kubelab_addon_restores_total")).to.not.equal(undefined);
  });

  it("belong to one operator: parts made for it are refused by a second one, which makes its own", () => {
    const first = context();
    const second = context();
    const parts = addonParts();
    for (const part of parts) part.setup(first.setup);
    expect(() => parts[0]!.setup(second.setup)).to.throw(/another operator/);
    for (const part of addonParts()) part.setup(second.setup);
    expect(first.controllers).to.have.length(1);
    expect(second.controllers).to.have.length(1);
    expect(second.controllers[0]).to.not.equal(first.controllers[0]);
  });

  it("report Unknown before a bundle is loaded, and carry the restore count and last restore of the previous status", async () => {
    const { setup } = context();
    const [calico, , coredns] = addonParts().map((part) => part.setup(setup));
    const lastRestore = {
      time: "2025-12-31T00:00:00Z",
      object: "DaemonSet/kube-system/calico-node",
      reason: "Deleted",
    };
    const previous: LabClusterStatus = { addons: { calico: { restores: 4, lastRestore } } };
    const calicoResult = await calico!.reconcile(input({}, previous));
    expect(calicoResult.conditions).to.deep.equal([
      { type: "CalicoHealthy", status: "Unknown", reason: "NoBundle", message: "no Calico bundle yet" },
    ]);
    expect(calicoResult.status.addons?.calico).to.deep.equal({ healthy: false, restores: 4, lastRestore });
    const corednsResult = await coredns!.reconcile(input({}, previous));
    // Both parts own a key under status.addons; composing keeps both.
    const composed = composeStatus(
      previous,
      [calicoResult, corednsResult],
      1,
      new Date("2026-01-01T00:00:00Z"),
    );
    expect(Object.keys(composed.status.addons ?? {}).sort()).to.deep.equal(["calico", "coredns"]);
    expect(composed.status.addons?.calico?.restores).to.equal(4);
    expect(composed.status.addons?.coredns).to.deep.equal({ healthy: false, restores: 0 });
  });

  it("remove their condition when the addon is Disabled, so an addon the lab does not run never holds Ready back", async () => {
    const { setup } = context();
    const [calico] = addonParts().map((part) => part.setup(setup));
    const result = await calico!.reconcile(input({ addons: { calico: { mode: "Disabled" } } }));
    expect(result.conditions).to.deep.equal([]);
    expect(result.removedConditions).to.deep.equal(["CalicoHealthy"]);
    expect(result.status.addons?.calico).to.deep.equal({ restores: 0 });
  });

  it("on a kube-router lab report KubeRouterHealthy, and drop CalicoHealthy and status.addons.calico", async () => {
    const { setup } = context();
    const [calico, kubeRouter] = addonParts().map((part) => part.setup(setup));
    const previous: LabClusterStatus = { addons: { calico: { restores: 2 } } };
    const calicoResult = await calico!.reconcile(input({ cni: "kube-router" }, previous));
    expect(calicoResult.conditions).to.deep.equal([]);
    expect(calicoResult.removedConditions).to.deep.equal(["CalicoHealthy"]);
    const kubeRouterResult = await kubeRouter!.reconcile(input({ cni: "kube-router" }, previous));
    expect(kubeRouterResult.conditions).to.deep.equal([
      {
        type: "KubeRouterHealthy",
        status: "Unknown",
        reason: "NoBundle",
        message: "no kube-router bundle yet",
      },
    ]);
    const composed = composeStatus(
      previous,
      [calicoResult, kubeRouterResult],
      1,
      new Date("2026-01-01T00:00:00Z"),
    );
    expect(JSON.parse(JSON.stringify(composed.status.addons))).to.deep.equal({
      kubeRouter: { healthy: false, restores: 0 },
    });
  });

  it("leave Ready to kube-router and CoreDNS on a kube-router lab: Calico's absence never holds it back", async () => {
    const { setup } = context();
    const [calico] = addonParts().map((part) => part.setup(setup));
    // What a Calico-less lab showed before its spec named kube-router: CalicoHealthy without a bundle.
    const previous = composeStatus(
      {},
      [await calico!.reconcile(input({}))],
      1,
      new Date("2026-01-01T00:00:00Z"),
    ).status;
    expect(previous.conditions?.find((condition) => condition.type === "Ready")?.status).to.equal("Unknown");
    const healthy = (type: string) => ({
      conditions: [{ type, status: "True" as const, reason: "Healthy", message: "m" }],
      status: {},
    });
    const composed = composeStatus(
      previous,
      [
        healthy("NodesHealthy"),
        await calico!.reconcile(input({ cni: "kube-router" }, previous)),
        healthy("KubeRouterHealthy"),
        healthy("CoreDNSHealthy"),
      ],
      2,
      new Date("2026-01-01T00:01:00Z"),
    );
    expect(composed.status.conditions?.map((condition) => [condition.type, condition.status])).to.deep.equal([
      ["Ready", "True"],
      ["NodesHealthy", "True"],
      ["KubeRouterHealthy", "True"],
      ["CoreDNSHealthy", "True"],
    ]);
  });

  it("on a Calico lab (the default) do not report kube-router", async () => {
    const { setup } = context();
    const [, kubeRouter] = addonParts().map((part) => part.setup(setup));
    const result = await kubeRouter!.reconcile(input({}));
    expect(result.conditions).to.deep.equal([]);
    expect(result.removedConditions).to.deep.equal(["KubeRouterHealthy"]);
  });
});
