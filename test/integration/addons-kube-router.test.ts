// kube-router restoration on a real control plane: on a LabCluster with spec.cni kube-router, the kube-router
// objects bootstrap applied are guarded (deleted ones re-created, KubeRouterHealthy), and Calico is not asked for.
import { expect } from "chai";

import type { BundleObject } from "../../operator/api/addons/bundle.ts";
import { renderKubeRouter } from "../../bootstrap/kube/kube-router.ts";
import { labOf } from "../unit/helpers.ts";
import { waitFor } from "../envtest/index.ts";
import {
  addonRestoreHooks,
  coreDnsObjects,
  deleteAndWaitRestored,
  titleOf,
  waitWorkloadsAvailable,
} from "./addons-fixtures.ts";
import { labClusterStatus, waitLabClusterCondition } from "./operator/helpers.ts";

const LAB = "kube-router";
/** What bootstrap applies on a kube-router lab, and bundles. */
const kubeRouter = renderKubeRouter(labOf({ network: { cni: "kube-router" } })) as BundleObject[];
const daemonSet = kubeRouter.find((object) => object.kind === "DaemonSet")!;

const waitCondition = (type: string, status: string, timeoutMs?: number) =>
  waitLabClusterCondition(LAB, type, status, timeoutMs);

describe("kube-router restoration on a real control plane (spec.cni: kube-router)", function () {
  this.timeout(120_000);
  // What `bootstrap up` does on a kube-router lab: kube-router applied, its bundle and CoreDNS's written.
  addonRestoreHooks({
    lab: LAB,
    spec: { cni: "kube-router" },
    bundles: () => [
      { addon: "kube-router", objects: kubeRouter },
      { addon: "coredns", objects: coreDnsObjects() },
    ],
    healthy: ["KubeRouterHealthy"],
  });

  it("is Ready without Calico: CalicoHealthy is not reported, status.addons holds kube-router's bundle", async () => {
    await waitCondition("Ready", "True", 60_000);
    const status = await labClusterStatus(LAB);
    expect(status.conditions?.map((entry) => entry.type)).to.not.include("CalicoHealthy");
    expect(status.addons?.calico).to.equal(undefined);
    expect(status.addons?.kubeRouter).to.include({
      healthy: true,
      source: "bootstrap",
      objects: kubeRouter.length,
    });
  });

  it("re-creates the deleted kube-router DaemonSet and records the restore", async () => {
    const restored = await deleteAndWaitRestored(daemonSet);
    expect(restored.metadata.name).to.equal("kube-router");
    const status = await waitFor("the restore in status.addons.kubeRouter", async () => {
      const now = (await labClusterStatus(LAB)).addons?.kubeRouter;
      return now?.lastRestore?.object === "DaemonSet/kube-system/kube-router" ? now : undefined;
    });
    expect(status.lastRestore?.reason).to.equal("Deleted");
    await waitWorkloadsAvailable([daemonSet]);
    await waitCondition("KubeRouterHealthy", "True");
  });

  describe("every other bundled kube-router object, deleted, is re-created", () => {
    for (const object of kubeRouter.filter((candidate) => candidate !== daemonSet)) {
      it(titleOf(object), async () => {
        const restored = await deleteAndWaitRestored(object);
        expect(restored.metadata.name).to.equal(object.metadata.name);
      });
    }
  });
});
