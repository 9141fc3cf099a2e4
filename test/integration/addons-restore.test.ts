// Addon restoration on a real control plane: every bundled Calico and CoreDNS object deleted comes back, drift is
// reverted in Reconcile mode, user edits survive in EnsureExists, Disabled does nothing, and restores are recorded.
import { expect } from "chai";

import { ADDON_MODE_LABEL, objectIdentity, type BundleObject } from "../../operator/api/addons/bundle.ts";
import { kubeadmCorefile, renderCoreDns } from "../../operator/api/addons/coredns.ts";
import { objectQueueKey, refOf } from "../../operator/labcluster/addons/objects.ts";
import { controlPlane, waitFor } from "../envtest/index.ts";
import {
  addonRestoreHooks,
  applyAsBootstrap,
  calicoObjects,
  coreDnsObjects,
  deleteAndWaitRestored,
  pathOf,
  readObject,
  titleOf,
  type LiveObject,
} from "./addons-fixtures.ts";
import {
  adminClient,
  applyLabCluster,
  labClusterCondition,
  labClusterEvents,
  labClusterStatus,
  reconciledSince,
  waitLabClusterCondition,
} from "./operator/helpers.ts";

const LAB = "addons";
const calico = calicoObjects();
/** CoreDNS's objects depend on the plane's service subnet, known once it runs; their names do not. */
const COREDNS_SHAPE = renderCoreDns({ serviceSubnet: "10.96.0.0/12", dnsDomain: "cluster.local" });
let coredns: BundleObject[] = [];
const find = (objects: readonly BundleObject[], kind: string, name: string) => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in the bundle`);
  return found;
};
const calicoNode = find(calico, "DaemonSet", "calico-node");
const corefile = () => find(coredns, "ConfigMap", "coredns");
const kubeDns = () => find(coredns, "Service", "kube-dns");

type DaemonSet = LiveObject & {
  spec: {
    template: {
      spec: { containers: { name: string; image: string }[]; initContainers?: { name: string }[] };
    };
  };
};

const condition = (type: string) => labClusterCondition(LAB, type);
const waitCondition = (type: string, status: string, timeoutMs?: number) =>
  waitLabClusterCondition(LAB, type, status, timeoutMs);

/** A merge patch as a user's kubectl edit would make it. */
async function edit(object: BundleObject, patch: unknown): Promise<void> {
  await adminClient().mergePatch(await pathOf(object), patch);
}

/** The addon engine's work-queue key of a bundled object. */
const keyOf = (addon: "calico" | "coredns", object: BundleObject) => objectQueueKey(addon, refOf(object));

describe("addon restoration on a real control plane", function () {
  this.timeout(120_000);
  const operator = addonRestoreHooks({
    lab: LAB,
    spec: {},
    bundles: () => {
      coredns = coreDnsObjects();
      return [
        { addon: "calico", objects: calico },
        { addon: "coredns", objects: coredns },
      ];
    },
    healthy: ["CalicoHealthy", "CoreDNSHealthy"],
  });

  describe("every bundled object, deleted, is re-created from the bundle", () => {
    for (const object of calico) {
      it(titleOf(object), async () => {
        const restored = await deleteAndWaitRestored(object);
        expect(restored.metadata.name).to.equal(object.metadata.name);
      });
    }
    COREDNS_SHAPE.forEach((shape, index) => {
      it(titleOf(shape), async () => {
        const restored = await deleteAndWaitRestored(coredns[index]!);
        expect(restored.metadata.name).to.equal(shape.metadata.name);
      });
    });
  });

  it("re-creates kube-dns at the same clusterIP", async () => {
    const before = (await readObject(kubeDns())) as LiveObject & { spec: { clusterIP: string } };
    const restored = (await deleteAndWaitRestored(kubeDns())) as LiveObject & { spec: { clusterIP: string } };
    expect(restored.spec.clusterIP).to.equal(before.spec.clusterIP);
    expect(restored.spec.clusterIP).to.equal((kubeDns().spec as { clusterIP: string }).clusterIP);
  });

  it("reverts a changed DaemonSet image (Reconcile)", async () => {
    await edit(calicoNode, {
      spec: {
        template: { spec: { containers: [{ name: "calico-node", image: "example.invalid/evil:1" }] } },
      },
    });
    const reverted = await waitFor("the calico-node image reverted", async () => {
      const live = (await readObject(calicoNode)) as DaemonSet;
      const image = live.spec.template.spec.containers.find(
        (container) => container.name === "calico-node",
      )?.image;
      return image === "quay.io/calico/node:v3.31.7" ? live : undefined;
    });
    expect(reverted.spec.template.spec.containers).to.have.length(1);
  });

  it("puts back a removed init container and a removed RBAC rule (Reconcile)", async () => {
    const path = await pathOf(calicoNode);
    const live = (await readObject(calicoNode)) as DaemonSet;
    const kept = (live.spec.template.spec.initContainers ?? []).filter(
      (container) => container.name !== "install-cni",
    );
    await adminClient().request("PATCH", path, {
      body: [{ op: "replace", path: "/spec/template/spec/initContainers", value: kept }],
      contentType: "application/json-patch+json",
    });
    const role = find(calico, "ClusterRole", "calico-cni-plugin");
    await edit(role, { rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get"] }] });
    await waitFor("install-cni back", async () => {
      const now = (await readObject(calicoNode)) as DaemonSet;
      return now.spec.template.spec.initContainers?.some((container) => container.name === "install-cni");
    });
    await waitFor("the calico-cni-plugin rules back", async () => {
      const now = (await readObject(role)) as LiveObject & { rules: unknown[] };
      expect(now.rules).to.deep.equal(role.rules);
      return true;
    });
  });

  it("keeps an edited Corefile (EnsureExists never overwrites)", async () => {
    const edited = `${kubeadmCorefile(controlPlane().dnsDomain)}# edited by a user\n`;
    const mark = operator().logs.length;
    await edit(corefile(), { data: { Corefile: edited } });
    // The operator reconciled the Corefile after the edit (proof it saw it) and left it.
    await reconciledSince(operator(), "addons", keyOf("coredns", corefile()), mark);
    const live = (await readObject(corefile())) as LiveObject & { data: { Corefile: string } };
    expect(live.data.Corefile).to.equal(edited);
  });

  it("re-creates a deleted coredns ConfigMap with the bundled Corefile", async () => {
    const restored = (await deleteAndWaitRestored(corefile())) as LiveObject & { data: { Corefile: string } };
    expect(restored.data.Corefile).to.equal((corefile().data as { Corefile: string }).Corefile);
  });

  it("records restores: status counts and lastRestore, an Event per restore, the metric", async () => {
    const before = (await labClusterStatus(LAB)).addons?.calico?.restores ?? 0;
    const metricBefore = await operator().metrics.value("kubelab_addon_restores_total", {
      addon: "calico",
      kind: "ServiceAccount",
    });
    const account = find(calico, "ServiceAccount", "calico-cni-plugin");
    await deleteAndWaitRestored(account);
    const status = await waitFor("the restore in status", async () => {
      const now = (await labClusterStatus(LAB)).addons?.calico;
      return now !== undefined && (now.restores ?? 0) > before ? now : undefined;
    });
    expect(status.lastRestore).to.include({
      object: "ServiceAccount/kube-system/calico-cni-plugin",
      reason: "Deleted",
    });
    expect(status.healthy).to.equal(true);
    expect(status.source).to.equal("bootstrap");
    expect(status.objects).to.equal(calico.length);
    expect(
      await operator().metrics.value("kubelab_addon_restores_total", {
        addon: "calico",
        kind: "ServiceAccount",
      }),
    ).to.equal(metricBefore + 1);
    await waitFor("an Event about the restore", async () =>
      (await labClusterEvents(LAB)).some(
        (event) =>
          event.reason === "AddonObjectRestored" &&
          event.note.includes("ServiceAccount/kube-system/calico-cni-plugin") &&
          event.related?.name === "calico-cni-plugin",
      ),
    );
  });

  it("does nothing while the addon is Disabled, and restores once it is reconciled again", async () => {
    const config = find(calico, "ConfigMap", "calico-config");
    await applyLabCluster(LAB, { addons: { calico: { mode: "Disabled" } } });
    await waitFor("CalicoHealthy removed", async () => (await condition("CalicoHealthy")) === undefined);
    const mark = operator().logs.length;
    await adminClient().delete(await pathOf(config));
    await reconciledSince(operator(), "addons", keyOf("calico", config), mark);
    expect(await readObject(config), "calico-config stays deleted").to.equal(undefined);
    await applyLabCluster(LAB, {});
    await waitFor("calico-config restored", async () => (await readObject(config)) !== undefined);
    await waitCondition("CalicoHealthy", "True");
  });

  it("honours a kubelab.dev/addon-mode=Disabled label, also after the object is deleted", async () => {
    const binding = find(calico, "ClusterRoleBinding", "calico-tier-getter");
    await edit(binding, { metadata: { labels: { [ADDON_MODE_LABEL]: "Disabled" } } });
    const mark = operator().logs.length;
    await adminClient().delete(await pathOf(binding));
    await reconciledSince(operator(), "addons", keyOf("calico", binding), mark);
    expect(await readObject(binding), `${objectIdentity(binding)} stays deleted`).to.equal(undefined);
    // CalicoHealthy stays True: an object a user took over does not count against the addon.
    expect((await condition("CalicoHealthy"))?.status).to.equal("True");
    await applyAsBootstrap([binding]);
  });
});
