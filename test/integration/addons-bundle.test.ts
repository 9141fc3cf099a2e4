// Bundles on a real control plane: one bigger than a ConfigMap is split, read back and restored from; a new
// version replaces the old parts; objects in a namespace being deleted are never restored into it.
import { randomBytes } from "node:crypto";
import { expect } from "chai";

import { BUNDLE_LABEL, type BundleObject } from "../../operator/api/addons/bundle.ts";
import { resourcePath } from "../../operator/runtime/client.ts";
import { createNamespace, deleteNamespace, waitFor } from "../envtest/index.ts";
import {
  BUNDLE_NAMESPACE,
  deleteAndWaitRestored,
  deleteBundles,
  pathOf,
  readObject,
  writeBundles,
  type LiveObject,
} from "./addons-fixtures.ts";
import {
  adminClient,
  applyLabCluster,
  deleteLabCluster,
  installCrds,
  labClusterStatus,
  startOperator,
  type RunningOperator,
} from "./operator/helpers.ts";

const LAB = "addons-bundle";
const configMap = (namespace: string, name: string, data: Record<string, string>): BundleObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace },
  data,
});

async function bundleConfigMaps(): Promise<string[]> {
  const list = await adminClient().get<{ items: { metadata: { name: string } }[] }>(
    resourcePath({ group: "", version: "v1", plural: "configmaps", namespace: BUNDLE_NAMESPACE }),
    { query: { labelSelector: `${BUNDLE_LABEL}=calico` } },
  );
  return list.items.map((item) => item.metadata.name).sort();
}

async function calicoCondition() {
  return (await labClusterStatus(LAB)).conditions?.find((c) => c.type === "CalicoHealthy");
}

describe("addon bundles on a real control plane", function () {
  this.timeout(120_000);
  let namespace = "";
  let operator: RunningOperator | undefined;
  /** Three ConfigMaps of random data: ~1.8 MB of gzip that no single ConfigMap could hold. */
  let blobs: BundleObject[] = [];

  before(async function () {
    this.timeout(180_000);
    await installCrds();
    namespace = await createNamespace("addons-bundle");
    blobs = [0, 1, 2].map((index) =>
      configMap(namespace, `blob-${index}`, { blob: randomBytes(600 * 1024).toString("base64") }),
    );
    for (const blob of blobs) await adminClient().apply(await pathOf(blob), blob, "kubelab-bootstrap");
    await applyLabCluster(LAB, {});
    operator = startOperator("addons-bundle");
  });

  after(async function () {
    this.timeout(120_000);
    await operator?.stop();
    await deleteLabCluster(LAB);
    await deleteBundles();
    if (namespace !== "") await deleteNamespace(namespace);
  });

  it("splits a bundle bigger than one ConfigMap, reads it back and restores from it", async () => {
    const [written] = await writeBundles([{ addon: "calico", objects: blobs }]);
    expect(written!.configMaps).to.be.at.least(3);
    expect(await bundleConfigMaps()).to.have.length(written!.configMaps);
    await waitFor("CalicoHealthy=True", async () => (await calicoCondition())?.status === "True");
    expect((await labClusterStatus(LAB)).addons?.calico).to.include({ objects: 3, source: "bootstrap" });
    const restored = (await deleteAndWaitRestored(blobs[1]!)) as LiveObject & { data: { blob: string } };
    expect(restored.data.blob).to.equal((blobs[1]!.data as { blob: string }).blob);
  });

  it("replaces an older version: its parts are deleted and the operator follows the new objects", async () => {
    const small = [configMap(namespace, "settings", { mtu: "1450" })];
    await adminClient().apply(await pathOf(small[0]!), small[0], "kubelab-bootstrap");
    const [written] = await writeBundles([{ addon: "calico", objects: small }]);
    expect(written!.configMaps).to.equal(1);
    expect(written!.removedParts).to.have.length.at.least(2);
    expect(await bundleConfigMaps()).to.deep.equal(["kubelab-addon-calico"]);
    await waitFor(
      "status shows the new bundle",
      async () => (await labClusterStatus(LAB)).addons?.calico?.objects === 1,
    );
    // No longer bundled: deleting a blob is not undone.
    await adminClient().delete(await pathOf(blobs[0]!));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await readObject(blobs[0]!)).to.equal(undefined);
    await deleteAndWaitRestored(small[0]!);
  });

  it("names bundled objects as the API server does: no namespace means default, a cluster-scoped one has none", async () => {
    const loose: BundleObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "addons-loose" },
      data: { a: "1" },
    };
    const role: BundleObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "addons-bundle-test", namespace: "kube-system" },
      rules: [],
    };
    const inDefault = { ...loose, metadata: { ...loose.metadata, namespace: "default" } };
    const clusterScoped = { ...role, metadata: { name: role.metadata.name } };
    for (const object of [inDefault, clusterScoped]) {
      await adminClient().apply(await pathOf(object), object, "kubelab-bootstrap");
    }
    const settings = configMap(namespace, "settings", { mtu: "1450" });
    await writeBundles([{ addon: "calico", objects: [settings, loose, role] }]);
    await waitFor(
      "status shows the new bundle",
      async () => (await labClusterStatus(LAB)).addons?.calico?.objects === 3,
    );
    await deleteAndWaitRestored(inDefault);
    await deleteAndWaitRestored(clusterScoped);
    await waitFor("CalicoHealthy=True", async () => (await calicoCondition())?.status === "True");
    await writeBundles([{ addon: "calico", objects: [settings] }]);
    for (const object of [inDefault, clusterScoped]) await adminClient().delete(await pathOf(object));
  });

  it("never restores into a namespace being deleted, and restores once it exists again", async () => {
    const settings = configMap(namespace, "settings", { mtu: "1450" });
    // Keeps the namespace Terminating until the test lets it go.
    const blocker = {
      ...configMap(namespace, "blocker", {}),
      metadata: { name: "blocker", namespace, finalizers: ["kubelab.dev/test-blocker"] },
    };
    await adminClient().apply(await pathOf(blocker), blocker, "kubelab-tests");
    const errorsBefore = await operator!.metrics.value("kubelab_reconcile_errors_total", {
      controller: "addons",
    });
    await deleteNamespace(namespace);
    const terminating = await waitFor("CalicoHealthy=False NamespaceTerminating", async () => {
      const found = await calicoCondition();
      return found?.reason === "NamespaceTerminating" ? found : undefined;
    });
    expect(terminating.message).to.match(new RegExp(`ConfigMap/${namespace}/settings: NamespaceTerminating`));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // No create was even tried (the API server would have refused it, and the refusal would count as an error).
    expect((await calicoCondition())?.reason).to.equal("NamespaceTerminating");
    expect(
      await operator!.metrics.value("kubelab_reconcile_errors_total", { controller: "addons" }),
    ).to.equal(errorsBefore);
    await adminClient().mergePatch(await pathOf(blocker), { metadata: { finalizers: null } });
    await waitFor(
      "the namespace gone",
      async () => (await calicoCondition())?.reason === "NamespaceMissing",
      {
        timeoutMs: 60_000,
      },
    );
    await adminClient().create("/api/v1/namespaces", { metadata: { name: namespace } });
    const restored = await waitFor("settings restored in the new namespace", () => readObject(settings));
    expect(restored.data).to.deep.equal({ mtu: "1450" });
    await waitFor("CalicoHealthy=True", async () => (await calicoCondition())?.status === "True");
  });
});
