// The addon catalogs: a bundle may hold only its addon's objects, and what bootstrap bundles always passes.
import { expect } from "chai";

import { renderKubeRouter } from "../../../../bootstrap/kube/kube-router.ts";
import { labOf } from "../../helpers.ts";
import type { BundleObject } from "../../../../operator/api/addons/bundle.ts";
import { ADDON_CATALOGS, objectsOutsideCatalog } from "../../../../operator/api/addons/catalog.ts";
import { renderCoreDns } from "../../../../operator/api/addons/coredns.ts";
import { calicoFixtureObjects } from "../../../fixtures/calico/generate.ts";

const clusterAdminBinding: BundleObject = {
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRoleBinding",
  metadata: { name: "calico-backdoor" },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
  subjects: [{ kind: "ServiceAccount", name: "default", namespace: "default" }],
};

describe("addon catalogs", () => {
  it("hold every object of Calico's manifest and of kubeadm's CoreDNS, so bootstrap's bundles pass", () => {
    expect(objectsOutsideCatalog(calicoFixtureObjects(), ADDON_CATALOGS.calico)).to.deep.equal([]);
    const coredns = renderCoreDns({ serviceSubnet: "10.96.0.0/12", dnsDomain: "cluster.local" });
    expect(objectsOutsideCatalog(coredns, ADDON_CATALOGS.coredns)).to.deep.equal([]);
    expect(ADDON_CATALOGS.calico).to.have.length(calicoFixtureObjects().length);
  });

  it("hold exactly the objects bootstrap applies for kube-router", () => {
    const kubeRouter = renderKubeRouter(labOf({ network: { cni: "kube-router" } })) as BundleObject[];
    expect(objectsOutsideCatalog(kubeRouter, ADDON_CATALOGS["kube-router"])).to.deep.equal([]);
    expect(ADDON_CATALOGS["kube-router"]).to.have.length(kubeRouter.length);
  });

  it("refuse a kube-router bundle with a foreign object: a binding to cluster-admin, Calico's DaemonSet, a namesake elsewhere", () => {
    const kubeRouter = renderKubeRouter(labOf({ network: { cni: "kube-router" } })) as BundleObject[];
    const daemonSet = kubeRouter.find((object) => object.kind === "DaemonSet")!;
    const elsewhere = { ...daemonSet, metadata: { ...daemonSet.metadata, namespace: "default" } };
    const calicoNode = calicoFixtureObjects().find((object) => object.kind === "DaemonSet")!;
    expect(
      objectsOutsideCatalog(
        [...kubeRouter, clusterAdminBinding, calicoNode, elsewhere],
        ADDON_CATALOGS["kube-router"],
      ),
    ).to.deep.equal([
      "ClusterRoleBinding calico-backdoor (rbac.authorization.k8s.io/v1)",
      "DaemonSet kube-system/calico-node (apps/v1)",
      "DaemonSet default/kube-router (apps/v1)",
    ]);
  });

  it("name what is not the addon's: a binding to cluster-admin, a namesake in another namespace, another addon's object", () => {
    const daemonSet = calicoFixtureObjects().find((object) => object.kind === "DaemonSet")!;
    const elsewhere = { ...daemonSet, metadata: { ...daemonSet.metadata, namespace: "default" } };
    const coredns = renderCoreDns({ serviceSubnet: "10.96.0.0/12", dnsDomain: "cluster.local" })[0]!;
    expect(
      objectsOutsideCatalog([clusterAdminBinding, elsewhere, coredns], ADDON_CATALOGS.calico),
    ).to.deep.equal([
      "ClusterRoleBinding calico-backdoor (rbac.authorization.k8s.io/v1)",
      "DaemonSet default/calico-node (apps/v1)",
      "Deployment kube-system/coredns (apps/v1)",
    ]);
  });

  it("take a cluster-scoped object by its name whatever namespace a manifest gave it, and ignore the version", () => {
    const role = calicoFixtureObjects().find((object) => object.kind === "ClusterRole")!;
    const withNamespace = {
      ...role,
      apiVersion: "rbac.authorization.k8s.io/v1beta1",
      metadata: { ...role.metadata, namespace: "kube-system" },
    };
    expect(objectsOutsideCatalog([withNamespace], ADDON_CATALOGS.calico)).to.deep.equal([]);
    // A namespaced object without a namespace is default's, never kube-system's.
    const config = calicoFixtureObjects().find((object) => object.kind === "ConfigMap")!;
    const { namespace: _namespace, ...metadata } = config.metadata;
    expect(objectsOutsideCatalog([{ ...config, metadata }], ADDON_CATALOGS.calico)).to.deep.equal([
      "ConfigMap calico-config (v1)",
    ]);
  });
});
