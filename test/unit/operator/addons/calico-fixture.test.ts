// The Calico fixture: Calico v3.31's kinds and names at the real manifest's size, committed as generated.
import { readFile } from "node:fs/promises";
import { expect } from "chai";

import {
  CALICO_FIXTURE_PATH,
  CALICO_MANIFEST_BYTES,
  calicoFixtureObjects,
  renderCalicoFixture,
} from "../../../fixtures/calico/generate.ts";

describe("the Calico fixture", () => {
  it("is committed exactly as the generator writes it (node test/fixtures/calico/generate.ts)", async () => {
    expect(await readFile(CALICO_FIXTURE_PATH, "utf8")).to.equal(renderCalicoFixture());
  });

  it("is within 10 % of the real manifest's size", () => {
    const size = renderCalicoFixture().length;
    expect(size).to.be.within(CALICO_MANIFEST_BYTES * 0.9, CALICO_MANIFEST_BYTES * 1.1);
  });

  it("has Calico's workloads, ServiceAccounts, RBAC, calico-config and CRDs under their upstream names", () => {
    const names = calicoFixtureObjects().map((object) => `${object.kind}/${object.metadata.name}`);
    for (const expected of [
      "DaemonSet/calico-node",
      "Deployment/calico-kube-controllers",
      "ServiceAccount/calico-node",
      "ServiceAccount/calico-kube-controllers",
      "ServiceAccount/calico-cni-plugin",
      "ClusterRole/calico-node",
      "ClusterRoleBinding/calico-node",
      "ClusterRole/calico-kube-controllers",
      "ClusterRoleBinding/calico-kube-controllers",
      "ConfigMap/calico-config",
      "PodDisruptionBudget/calico-kube-controllers",
      "CustomResourceDefinition/ippools.crd.projectcalico.org",
      "CustomResourceDefinition/felixconfigurations.crd.projectcalico.org",
    ]) {
      expect(names).to.include(expected);
    }
    expect(names.filter((name) => name.startsWith("CustomResourceDefinition/"))).to.have.length.greaterThan(
      20,
    );
  });
});
