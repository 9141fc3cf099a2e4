// bootstrap/kube/operator-install.ts against the real kustomize: reading manifests/ gives exactly what `kubectl kustomize` builds.
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { expect } from "chai";

import { INSTALL_DIRS, operatorManifests, readKustomization } from "../../bootstrap/kube/operator-install.ts";
import { parseManifests } from "../../bootstrap/kube/manifests.ts";
import { controlPlane } from "../envtest/index.ts";

function byIdentity(objects: readonly KubernetesObject[]): Map<string, KubernetesObject> {
  return new Map(
    objects.map((object) => [
      `${object.kind}/${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`,
      object,
    ]),
  );
}

describe("install: bootstrap's reading of the kustomizations", function () {
  this.timeout(60_000);

  it("manifests/ read by bootstrap equals `kubectl kustomize manifests/`, object for object", async () => {
    const built = parseManifests(
      await controlPlane().kubectl(["kustomize", INSTALL_DIRS.manifests]),
      "kubectl kustomize",
    );
    const ours = byIdentity(await readKustomization(INSTALL_DIRS.manifests));
    const theirs = byIdentity(built);
    expect([...ours.keys()].sort()).to.deep.equal([...theirs.keys()].sort());
    for (const [key, object] of theirs) expect(ours.get(key), key).to.deep.equal(object);
  });

  it("the lab's image on the Deployment and KUBELAB_AGENT_IMAGE is what `kustomize edit set image` would build", async () => {
    const image = "registry.lab:5000/team/kubelab-operator:0.2.0";
    // A copy of the checkout's crds/ and manifests/, its kustomization pointed at the image.
    const copy = await mkdtemp(join(tmpdir(), "kubelab-install-"));
    try {
      await cp(INSTALL_DIRS.crds, join(copy, "crds"), { recursive: true });
      await cp(INSTALL_DIRS.manifests, join(copy, "manifests"), { recursive: true });
      const file = join(copy, "manifests", "kustomization.yaml");
      const kustomization = parse(await readFile(file, "utf8")) as { images: Record<string, string>[] };
      kustomization.images = [
        { name: "kubelab-operator", newName: "registry.lab:5000/team/kubelab-operator", newTag: "0.2.0" },
      ];
      await writeFile(file, stringify(kustomization));
      const built = parseManifests(
        await controlPlane().kubectl(["kustomize", join(copy, "manifests")]),
        "kubectl kustomize",
      ).filter((object) => object.kind !== "CustomResourceDefinition");
      const ours = byIdentity(await operatorManifests({ image, withDeployment: true }));
      const theirs = byIdentity(built);
      expect([...ours.keys()].sort()).to.deep.equal([...theirs.keys()].sort());
      for (const [key, object] of theirs) expect(ours.get(key), key).to.deep.equal(object);
      expect(JSON.stringify(theirs.get("Deployment/kubelab-system/kubelab-operator"))).to.contain(
        `"KUBELAB_AGENT_IMAGE","value":"${image}"`,
      );
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });
});
