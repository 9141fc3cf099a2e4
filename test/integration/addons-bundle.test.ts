// Bundles on a real control plane: one bigger than a ConfigMap is split, read back and restored from; a new
// version replaces the old parts; objects in a namespace being deleted are never restored into it.
import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { expect } from "chai";

import { BUNDLE_LABEL, type BundleObject } from "../../operator/api/addons/bundle.ts";
import { ADDON_CATALOGS } from "../../operator/api/addons/catalog.ts";
import { addonParts } from "../../operator/labcluster/addons/part.ts";
import { resourcePath } from "../../operator/runtime/client.ts";
import { createNamespace, deleteNamespace, waitFor } from "../envtest/index.ts";
import {
  BUNDLE_NAMESPACE,
  catalogOf,
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
  labClusterEvents,
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
    // Calico's catalog widened by this suite's own objects (and nothing else).
    const ours = [
      ...blobs,
      configMap(namespace, "settings", {}),
      configMap("default", "addons-loose", {}),
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "addons-bundle-test" },
      },
    ];
    const catalogs = { calico: [...ADDON_CATALOGS.calico, ...(await catalogOf(ours))] };
    operator = startOperator("addons-bundle", { parts: addonParts({ catalogs }) });
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
    // No longer bundled: deleting a blob is not undone. Proof the operator saw that deletion: a bundled
    // object of the same watch (same kind, same namespace), deleted after it, is restored.
    await adminClient().delete(await pathOf(blobs[0]!));
    await deleteAndWaitRestored(small[0]!);
    expect(await readObject(blobs[0]!)).to.equal(undefined);
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
    // The condition is the reconcile's own decision, made after it saw the namespace Terminating: no create
    // was even tried (the API server would have refused it, and the refusal would count as an error).
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

  it("refuses a bundle holding anything its addon does not define: a binding to cluster-admin is never made", async () => {
    const backdoor: BundleObject = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "coredns-backdoor" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: "default", namespace: "default" }],
    };
    const corefile = configMap("kube-system", "coredns", { Corefile: ".:53 {}\n" });
    await writeBundles([{ addon: "coredns", objects: [corefile, backdoor] }]);
    const refused = await waitFor("CoreDNSHealthy=False BundleRefused", async () => {
      const found = (await labClusterStatus(LAB)).conditions?.find((c) => c.type === "CoreDNSHealthy");
      return found?.reason === "BundleRefused" ? found : undefined;
    });
    expect(refused.status).to.equal("False");
    expect(refused.message).to.contain("ClusterRoleBinding coredns-backdoor");
    await waitFor("an AddonBundleRefused Event", async () =>
      (await labClusterEvents(LAB)).some(
        (event) => event.reason === "AddonBundleRefused" && event.note.includes("coredns-backdoor"),
      ),
    );
    // The condition is the verdict on this bundle: none of it was applied, the Corefile included.
    expect(await readObject(backdoor)).to.equal(undefined);
    expect((await labClusterStatus(LAB)).addons?.coredns?.objects).to.equal(undefined);
  });

  it("refuses a gzip bomb in a bundle with a condition, and keeps running", async () => {
    // 16 KiB of gzip that inflates to 64 MiB: the operator must not hold that, let alone parse it.
    const payload = Buffer.alloc(64 * 1024 * 1024, " ");
    const collection = resourcePath({
      group: "",
      version: "v1",
      plural: "configmaps",
      namespace: BUNDLE_NAMESPACE,
    });
    await deleteBundles();
    await adminClient().create(collection, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "kubelab-addon-coredns",
        labels: { [BUNDLE_LABEL]: "coredns" },
        annotations: {
          "kubelab.dev/bundle-digest": createHash("sha256").update(payload).digest("hex"),
          "kubelab.dev/bundle-parts": "1",
          "kubelab.dev/bundle-part": "0",
          "kubelab.dev/bundle-source": "bootstrap",
        },
      },
      binaryData: { "bundle.json.gz": gzipSync(payload, { level: 9 }).toString("base64") },
    });
    const invalid = await waitFor("CoreDNSHealthy BundleInvalid", async () => {
      const found = (await labClusterStatus(LAB)).conditions?.find((c) => c.type === "CoreDNSHealthy");
      return found?.reason === "BundleInvalid" ? found : undefined;
    });
    expect(invalid.message).to.match(/decompresses to more than 16777216 bytes/);
    expect(
      operator!.logs.some(
        (record) => record.message === "reconcile threw unexpectedly; this is a bug, please report it",
      ),
    ).to.equal(false);
    // Still reconciling: a spec change is observed.
    await applyLabCluster(LAB, { addons: { coredns: { unavailableSeconds: 60 } } });
    await waitFor(
      "the new generation observed",
      async () => (await labClusterStatus(LAB)).observedGeneration === 2,
    );
    await deleteBundles();
  });
});
