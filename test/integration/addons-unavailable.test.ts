// A DaemonSet that exists but stays unavailable gets a rollout restart after unavailableSeconds, and repeated
// restarts that do not help back off (twice as long each time) and are reported, not looped.
import { expect } from "chai";

import type { BundleObject } from "../../operator/api/addons/bundle.ts";
import { RESTARTED_AT_ANNOTATION } from "../../operator/labcluster/addons/engine.ts";
import { waitFor } from "../envtest/index.ts";
import {
  applyAsBootstrap,
  calicoObjects,
  deleteBundles,
  deleteObjects,
  pathOf,
  readObject,
  waitWorkloadsAvailable,
  writeBundles,
} from "./addons-fixtures.ts";
import {
  adminClient,
  applyLabCluster,
  deleteLabCluster,
  installCrds,
  labClusterEvents,
  labClusterStatus,
  startOperator,
  type RunningOperator,
} from "./operator/helpers.ts";

const LAB = "addons-unavailable";
const UNAVAILABLE_SECONDS = 10;
/** kwok's pod-not-ready stage (bootstrap/controlplane/kwok-stages.yaml): pods that run but never get ready. */
const NOT_READY_LABEL = "kubelab.dev/kwok-not-ready";

const objects: BundleObject[] = calicoObjects().filter(
  (object) =>
    (object.kind === "ServiceAccount" || object.kind === "DaemonSet") &&
    object.metadata.name === "calico-node",
);
const calicoNode = objects.find((object) => object.kind === "DaemonSet")!;

interface DaemonSetObject {
  spec: { template: { metadata: { annotations?: Record<string, string> } } };
  status?: { numberUnavailable?: number; numberAvailable?: number; desiredNumberScheduled?: number };
}

const restartedAt = async () =>
  ((await readObject(calicoNode)) as unknown as DaemonSetObject | undefined)?.spec.template.metadata
    .annotations?.[RESTARTED_AT_ANNOTATION];

/** Pods of the DaemonSet start but never become ready (what a broken calico-node looks like). */
async function breakPods(broken: boolean): Promise<void> {
  await adminClient().mergePatch(await pathOf(calicoNode), {
    spec: { template: { metadata: { labels: { [NOT_READY_LABEL]: broken ? "true" : null } } } },
  });
}

describe("an unavailable addon workload on a real control plane", function () {
  this.timeout(120_000);
  let operator: RunningOperator | undefined;

  before(async function () {
    this.timeout(180_000);
    await installCrds();
    await applyAsBootstrap(objects);
    await writeBundles([{ addon: "calico", objects }]);
    await waitWorkloadsAvailable(objects);
    await applyLabCluster(LAB, { addons: { calico: { unavailableSeconds: UNAVAILABLE_SECONDS } } });
    operator = startOperator("addons-unavailable");
    await waitFor("CalicoHealthy=True", async () => {
      const status = await labClusterStatus(LAB);
      return status.conditions?.some((c) => c.type === "CalicoHealthy" && c.status === "True");
    });
  });

  after(async function () {
    this.timeout(300_000);
    await operator?.stop();
    await deleteLabCluster(LAB);
    await deleteBundles();
    await deleteObjects(objects);
  });

  it("restarts it after unavailableSeconds, then backs off to twice as long, reporting each restart", async () => {
    expect(await restartedAt()).to.equal(undefined);
    await breakPods(true);
    await waitFor("calico-node unavailable", async () => {
      const live = (await readObject(calicoNode)) as unknown as DaemonSetObject;
      return (live.status?.numberUnavailable ?? 0) > 0;
    });
    const unavailableAt = Date.now();
    const condition = await waitFor("CalicoHealthy=False Unavailable", async () => {
      const found = (await labClusterStatus(LAB)).conditions?.find((c) => c.type === "CalicoHealthy");
      return found?.status === "False" && found.reason === "Unavailable" ? found : undefined;
    });
    expect(condition.message).to.match(/DaemonSet\/kube-system\/calico-node: Unavailable \(unavailable for/);

    const first = await waitFor("the first rollout restart", restartedAt, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const firstAt = Date.now();
    // The operator counts from when it saw the DaemonSet unavailable, at most a moment before the test did.
    expect(firstAt - unavailableAt).to.be.at.least(UNAVAILABLE_SECONDS * 1000 - 1500);
    const status = await waitFor("the restart in status", async () => {
      const addon = (await labClusterStatus(LAB)).addons?.calico;
      return addon?.lastRestore?.reason === "Unavailable" ? addon : undefined;
    });
    expect(status.lastRestore?.object).to.equal("DaemonSet/kube-system/calico-node");
    await waitFor("an Event about the rollout restart", async () =>
      (await labClusterEvents(LAB)).some(
        (event) => event.reason === "AddonRolloutRestarted" && event.related?.name === "calico-node",
      ),
    );

    // The new pods are as broken as the old ones: the next restart waits twice as long, and says so.
    await waitFor("CalicoHealthy=False RestartBackoff", async () => {
      const found = (await labClusterStatus(LAB)).conditions?.find((c) => c.type === "CalicoHealthy");
      return found?.reason === "RestartBackoff";
    });
    const second = await waitFor(
      "the second rollout restart",
      async () => {
        const now = await restartedAt();
        return now !== undefined && now !== first ? now : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 100 },
    );
    expect(Date.now() - firstAt).to.be.at.least(2 * UNAVAILABLE_SECONDS * 1000 - 1500);
    expect(Date.parse(second) - Date.parse(first)).to.be.at.least(2 * UNAVAILABLE_SECONDS * 1000 - 1000);
    expect(
      await operator!.metrics.value("kubelab_addon_restores_total", { addon: "calico", kind: "DaemonSet" }),
    ).to.equal(2);

    await breakPods(false);
    await waitFor("CalicoHealthy=True again", async () =>
      (await labClusterStatus(LAB)).conditions?.some(
        (c) => c.type === "CalicoHealthy" && c.status === "True",
      ),
    );
  });
});
