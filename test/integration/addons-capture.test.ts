// Capture mode on a real control plane: a cluster whose Calico and CoreDNS objects were made by hand (not by
// bootstrap) gets bundles captured from its live, healthy objects, and is restored from them.
import { expect } from "chai";

import { decodeBundle, type BundleObject, type StoredConfigMap } from "../../operator/api/addons/bundle.ts";
import { resourcePath } from "../../operator/runtime/client.ts";
import { waitFor } from "../envtest/index.ts";
import {
  BUNDLE_NAMESPACE,
  calicoObjects,
  coreDnsObjects,
  deleteAndWaitRestored,
  deleteBundles,
  deleteObjects,
  kubeadmConfigObject,
  pathOf,
  readObject,
  waitWorkloadsAvailable,
  type LiveObject,
} from "./addons-fixtures.ts";
import {
  adminClient,
  applyLabCluster,
  deleteLabCluster,
  installCrds,
  labClusterCondition,
  labClusterEvents,
  labClusterStatus,
  startOperator,
  type RunningOperator,
} from "./operator/helpers.ts";

const LAB = "addons-capture";
const MANAGER = "someone-else";
const NOT_READY_LABEL = "kubelab.dev/kwok-not-ready";

const calico = calicoObjects();
const calicoNode = calico.find((object) => object.kind === "DaemonSet")!;
let coredns: BundleObject[] = [];

async function bundle(addon: "calico" | "coredns") {
  const list = await adminClient().get<{ items: StoredConfigMap[] }>(
    resourcePath({ group: "", version: "v1", plural: "configmaps", namespace: BUNDLE_NAMESPACE }),
  );
  const decoded = decodeBundle(addon, list.items);
  return decoded.kind === "ok" ? decoded.bundle : undefined;
}

const condition = (type: string) => labClusterCondition(LAB, type);

describe("addon capture mode on a real control plane", function () {
  this.timeout(120_000);
  let operator: RunningOperator | undefined;
  let hadKubeadmConfig = false;

  before(async function () {
    this.timeout(300_000);
    await installCrds();
    coredns = coreDnsObjects();
    const client = adminClient();
    hadKubeadmConfig = (await readObject(kubeadmConfigObject())) !== undefined;
    await client.apply(await pathOf(kubeadmConfigObject()), kubeadmConfigObject(), MANAGER);
    // Made by hand, not by bootstrap: no bundle, another field manager; calico-node starts out broken.
    const broken = structuredClone(calicoNode) as BundleObject & {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    broken.spec.template.metadata.labels[NOT_READY_LABEL] = "true";
    const crds = calico.filter((object) => object.kind === "CustomResourceDefinition");
    for (const object of crds) await client.apply(await pathOf(object), object, MANAGER);
    for (const object of calico) {
      if (object.kind === "CustomResourceDefinition") continue;
      await client.apply(await pathOf(object), object === calicoNode ? broken : object, MANAGER);
    }
    // CoreDNS without its ClusterRoleBinding: capture fills it in from kubeadm-config.
    for (const object of coredns) {
      if (object.kind !== "ClusterRoleBinding") await client.apply(await pathOf(object), object, MANAGER);
    }
    await waitWorkloadsAvailable(coredns);
    await deleteBundles();
    await applyLabCluster(LAB, {});
    operator = startOperator("addons-capture");
  });

  after(async function () {
    this.timeout(300_000);
    await operator?.stop();
    await deleteLabCluster(LAB);
    await deleteBundles();
    await deleteObjects([...calico, ...coredns]);
    if (!hadKubeadmConfig) await adminClient().delete(await pathOf(kubeadmConfigObject()));
  });

  it("captures CoreDNS from its live objects, fills in a missing ClusterRoleBinding from kubeadm-config, and restores it", async () => {
    const captured = await waitFor("a captured CoreDNS bundle", () => bundle("coredns"));
    expect(captured.source).to.equal("capture");
    expect(captured.objects.map((object) => `${object.kind}/${object.metadata.name}`)).to.deep.equal([
      "Deployment/coredns",
      "ConfigMap/coredns",
      "Service/kube-dns",
      "ClusterRole/system:coredns",
      "ClusterRoleBinding/system:coredns",
      "ServiceAccount/coredns",
    ]);
    // Captured objects carry no server-set metadata or status.
    const deployment = captured.objects[0]!;
    expect(deployment.metadata).to.not.have.any.keys(
      "uid",
      "resourceVersion",
      "managedFields",
      "creationTimestamp",
    );
    expect(deployment).to.not.have.property("status");
    await waitFor("the ClusterRoleBinding restored from the captured bundle", () =>
      readObject(coredns.find((object) => object.kind === "ClusterRoleBinding")!),
    );
    await waitFor("CoreDNSHealthy=True", async () => (await condition("CoreDNSHealthy"))?.status === "True");
    expect((await labClusterStatus(LAB)).addons?.coredns).to.include({ source: "capture", objects: 6 });
    await waitFor("an Event about the capture", async () =>
      (await labClusterEvents(LAB)).some(
        (event) =>
          event.reason === "AddonBundleCaptured" &&
          event.note.includes("ClusterRoleBinding system:coredns rendered"),
      ),
    );

    const kubeDns = coredns.find((object) => object.kind === "Service")!;
    const before = (await readObject(kubeDns)) as LiveObject & { spec: { clusterIP: string } };
    const restored = (await deleteAndWaitRestored(kubeDns)) as LiveObject & { spec: { clusterIP: string } };
    expect(restored.spec.clusterIP).to.equal(before.spec.clusterIP);
    await deleteAndWaitRestored(deployment);
  });

  it("captures Calico only once it is healthy, then restores it", async () => {
    const waiting = await waitFor("CalicoHealthy=Unknown CaptureWaiting", async () => {
      const found = await condition("CalicoHealthy");
      return found?.reason === "CaptureWaiting" ? found : undefined;
    });
    expect(waiting.status).to.equal("Unknown");
    expect(waiting.message).to.match(/DaemonSet calico-node is not available yet/);
    expect(await bundle("calico")).to.equal(undefined);

    await adminClient().mergePatch(await pathOf(calicoNode), {
      spec: { template: { metadata: { labels: { [NOT_READY_LABEL]: null } } } },
    });
    const captured = await waitFor("a captured Calico bundle", () => bundle("calico"), { timeoutMs: 60_000 });
    // Its CRDs are found by group: the 22 of crd.projectcalico.org, not the two of policy.networking.k8s.io.
    const crds = captured.objects.filter((object) => object.kind === "CustomResourceDefinition");
    expect(
      crds.map((crd) => crd.metadata.name).every((name) => name.endsWith(".crd.projectcalico.org")),
    ).to.equal(true);
    expect(crds).to.have.length(22);
    expect(captured.objects).to.have.length(calico.length - 2);
    await waitFor("CalicoHealthy=True", async () => (await condition("CalicoHealthy"))?.status === "True", {
      timeoutMs: 60_000,
    });
    await deleteAndWaitRestored(calicoNode);
    await deleteAndWaitRestored(
      calico.find((object) => object.metadata.name === "ippools.crd.projectcalico.org")!,
    );
  });
});
