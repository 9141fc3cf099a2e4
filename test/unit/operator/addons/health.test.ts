// The CalicoHealthy / KubeRouterHealthy / CoreDNSHealthy condition from the health of the addon's objects.
import { expect } from "chai";

import { renderKubeRouter } from "../../../../bootstrap/kube/kube-router.ts";
import { AVAILABLE, DEFAULT_RESTORE_POLICY } from "../../../../operator/labcluster/addons/backoff.ts";
import { decideObject, type ObjectHealth } from "../../../../operator/labcluster/addons/decide.ts";
import { ADDON_TITLES } from "../../../../operator/labcluster/addons/engine.ts";
import { addonCondition, type AddonSnapshot } from "../../../../operator/labcluster/addons/health.ts";
import { describeRef, refOf, toLiveObject } from "../../../../operator/labcluster/addons/objects.ts";
import type { BundleObject } from "../../../../operator/api/addons/bundle.ts";
import { labOf } from "../../helpers.ts";

const healthy: ObjectHealth = { state: "Healthy", message: "" };
const snapshot = (objects: AddonSnapshot["objects"], extra: Partial<AddonSnapshot> = {}): AddonSnapshot => ({
  bundle: { source: "bootstrap", objects: objects.length },
  problem: undefined,
  objects,
  ...extra,
});

describe("addon conditions", () => {
  it("are True when every object is present and available, Disabled ones included", () => {
    const condition = addonCondition(
      "CalicoHealthy",
      "Calico",
      snapshot([
        { name: "DaemonSet/kube-system/calico-node", health: healthy },
        { name: "ConfigMap/kube-system/calico-config", health: { state: "Disabled", message: "" } },
      ]),
    );
    expect(condition).to.deep.include({ type: "CalicoHealthy", status: "True", reason: "Healthy" });
    expect(condition.message).to.match(/1 Calico objects present and available, 1 Disabled by label/);
  });

  it("are False with the most severe state as the reason, naming the objects", () => {
    const condition = addonCondition(
      "CalicoHealthy",
      "Calico",
      snapshot([
        { name: "ConfigMap/kube-system/calico-config", health: { state: "Missing", message: "deleted" } },
        {
          name: "DaemonSet/kube-system/calico-node",
          health: { state: "RestartBackoff", message: "3 restarts" },
        },
        { name: "ClusterRole/calico-node", health: healthy },
      ]),
    );
    expect(condition.status).to.equal("False");
    expect(condition.reason).to.equal("RestartBackoff");
    expect(condition.message).to.match(
      /^2 of 3 Calico objects not healthy: DaemonSet\/kube-system\/calico-node: RestartBackoff \(3 restarts\); ConfigMap/,
    );
  });

  it("name at most five objects and count the rest", () => {
    const objects = Array.from({ length: 8 }, (_, index) => ({
      name: `CustomResourceDefinition/crd-${index}`,
      health: { state: "Missing" as const, message: "" },
    }));
    expect(addonCondition("CalicoHealthy", "Calico", snapshot(objects)).message).to.match(/; and 3 more$/);
  });

  it("are Unknown without a bundle, with the reason given", () => {
    const condition = addonCondition(
      "CoreDNSHealthy",
      "CoreDNS",
      snapshot([], {
        bundle: undefined,
        problem: { reason: "CaptureWaiting", message: "coredns not available yet" },
      }),
    );
    expect(condition).to.deep.equal({
      type: "CoreDNSHealthy",
      status: "Unknown",
      reason: "CaptureWaiting",
      message: "coredns not available yet",
    });
    expect(addonCondition("CoreDNSHealthy", "CoreDNS", snapshot([], { bundle: undefined })).reason).to.equal(
      "NoBundle",
    );
  });

  it("are Unknown while some object has not been looked at yet", () => {
    const condition = addonCondition(
      "CalicoHealthy",
      "Calico",
      snapshot([
        { name: "a", health: healthy },
        { name: "b", health: undefined },
      ]),
    );
    expect(condition).to.deep.include({ status: "Unknown", reason: "Checking" });
  });

  it("mention a problem with a newer bundle while the last good one is in use", () => {
    const condition = addonCondition(
      "CalicoHealthy",
      "Calico",
      snapshot([{ name: "a", health: healthy }], {
        problem: { reason: "BundleInvalid", message: "sha256 mismatch" },
      }),
    );
    expect(condition.status).to.equal("True");
    expect(condition.message).to.match(/BundleInvalid: sha256 mismatch/);
  });

  it("make KubeRouterHealthy False while the kube-router DaemonSet has fewer pods ready than desired, True once all are", () => {
    const objects = renderKubeRouter(labOf({ network: { cni: "kube-router" } })) as BundleObject[];
    const daemonSet = objects.find((object) => object.kind === "DaemonSet")!;
    const conditionWith = (numberAvailable: number) => {
      // The DaemonSet as the API server shows it: its controller saw the spec, 4 nodes, some pods ready.
      const live = toLiveObject({
        ...daemonSet,
        metadata: { ...daemonSet.metadata, uid: "u1", generation: 1 },
        status: { observedGeneration: 1, desiredNumberScheduled: 4, numberAvailable },
      });
      const decision = decideObject({
        mode: "Reconcile",
        live,
        namespace: "active",
        checkedFingerprint: live.fingerprint,
        staleFingerprint: undefined,
        awaitingCreate: false,
        restoreTimes: [],
        availability: AVAILABLE,
        unavailableSeconds: 180,
        policy: DEFAULT_RESTORE_POLICY,
        now: 1_000_000,
      });
      return addonCondition(
        "KubeRouterHealthy",
        ADDON_TITLES["kube-router"],
        snapshot(
          objects.map((object) => ({
            name: describeRef(refOf(object)),
            health: object === daemonSet ? decision.health : healthy,
          })),
        ),
      );
    };
    const unready = conditionWith(3);
    expect(unready).to.deep.include({ type: "KubeRouterHealthy", status: "False", reason: "Unavailable" });
    expect(unready.message).to.match(
      /^1 of 5 kube-router objects not healthy: DaemonSet\/kube-system\/kube-router: Unavailable/,
    );
    expect(conditionWith(4)).to.deep.include({
      type: "KubeRouterHealthy",
      status: "True",
      reason: "Healthy",
    });
  });

  it("are False when a bundle was refused for objects outside the catalog, even with a good bundle still in use", () => {
    const problem = { reason: "BundleRefused", message: "holds ClusterRoleBinding calico-backdoor" };
    for (const bundle of [undefined, { source: "bootstrap" as const, objects: 1 }]) {
      const condition = addonCondition(
        "CalicoHealthy",
        "Calico",
        snapshot([{ name: "DaemonSet/kube-system/calico-node", health: healthy }], { bundle, problem }),
      );
      expect(condition).to.deep.include({
        status: "False",
        reason: "BundleRefused",
        message: problem.message,
      });
    }
  });
});
