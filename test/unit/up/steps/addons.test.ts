// The addon bundles `up` writes: the lab's CNI's (Calico's or kube-router's, never both) and CoreDNS's.
import { expect } from "chai";

import { renderKubeRouter } from "../../../../bootstrap/kube/kube-router.ts";
import { labAddonBundles } from "../../../../bootstrap/up/steps/addons.ts";
import { labOf } from "../../helpers.ts";

const calicoObjects = [{ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "calico-node" } }];
const runOf = (lab: ReturnType<typeof labOf>) => ({
  lab,
  appliedCalico: () => ({ objects: calicoObjects, yaml: "" }),
});

describe("up/steps/addons", () => {
  it("bundles kube-router's applied objects and CoreDNS's on a kube-router lab, and no Calico", () => {
    const lab = labOf({ network: { cni: "kube-router" } });
    const bundles = labAddonBundles(runOf(lab));
    expect(bundles.map((bundle) => bundle.addon)).to.deep.equal(["kube-router", "coredns"]);
    expect(bundles[0]!.objects).to.deep.equal(renderKubeRouter(lab));
  });

  it("bundles Calico's applied objects and CoreDNS's on a Calico lab, and no kube-router", () => {
    const bundles = labAddonBundles(runOf(labOf()));
    expect(bundles.map((bundle) => bundle.addon)).to.deep.equal(["calico", "coredns"]);
    expect(bundles[0]!.objects).to.equal(calicoObjects);
  });
});
