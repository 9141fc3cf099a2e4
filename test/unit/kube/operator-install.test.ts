// What `bootstrap up` applies of crds/ and manifests/: the kustomizations read, the lab's image, the Deployment left out where asked.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { expect } from "chai";

import { StateError } from "../../../bootstrap/errors.ts";
import {
  installDigest,
  INSTALL_DIRS,
  OPERATOR_IMAGE_ANNOTATION,
  operatorManifests,
  readCrds,
  readKustomization,
  splitImage,
} from "../../../bootstrap/kube/operator-install.ts";
import { tempDir } from "../helpers.ts";

interface Container {
  name: string;
  image: string;
  env?: { name: string; value?: string }[];
}

function operatorContainer(objects: readonly KubernetesObject[]): Container {
  const deployment = objects.find((object) => object.kind === "Deployment") as unknown as {
    spec: { template: { spec: { containers: Container[] } } };
  };
  return deployment.spec.template.spec.containers[0]!;
}

describe("kube/operator-install (crds/ and manifests/ as bootstrap applies them)", () => {
  it("reads the CRDs of crds/kustomization.yaml", async () => {
    const crds = await readCrds();
    expect(crds.map((crd) => crd.metadata?.name).sort()).to.deep.equal([
      "etcdsnapshots.kubelab.dev",
      "labclusters.kubelab.dev",
    ]);
  });

  it("sets the lab's operator image on the Deployment and the backup Jobs' image (KUBELAB_AGENT_IMAGE) alike", async () => {
    const image = "registry.lab:5000/team/kubelab-operator:0.2.0";
    const objects = await operatorManifests({ image, withDeployment: true });
    const container = operatorContainer(objects);
    expect(container.image).to.equal(image);
    expect(container.env?.find((entry) => entry.name === "KUBELAB_AGENT_IMAGE")?.value).to.equal(image);
    const pinned = await operatorManifests({
      image: `kubelab-operator@sha256:${"a".repeat(64)}`,
      withDeployment: true,
    });
    expect(operatorContainer(pinned).image).to.equal(`kubelab-operator@sha256:${"a".repeat(64)}`);
  });

  it("stamps the digest of the image bootstrap loaded on the pod template, so a rebuild under the same tag rolls it", async () => {
    const digest = `sha256:${"b".repeat(64)}`;
    const objects = await operatorManifests({
      image: "kubelab-operator:0.1.0",
      withDeployment: true,
      imageDigest: digest,
    });
    const deployment = objects.find((object) => object.kind === "Deployment") as unknown as {
      spec: {
        template: { metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> } };
      };
    };
    expect(deployment.spec.template.metadata?.annotations?.[OPERATOR_IMAGE_ANNOTATION]).to.equal(digest);
    expect(deployment.spec.template.metadata?.labels, "the template's labels are kept").to.not.deep.equal({});
    const plain = await operatorManifests({ image: "kubelab-operator:0.1.0", withDeployment: true });
    const template = (plain.find((object) => object.kind === "Deployment") as unknown as typeof deployment)
      .spec.template;
    expect(template.metadata?.annotations?.[OPERATOR_IMAGE_ANNOTATION]).to.equal(undefined);
  });

  it("leaves out the CRDs (their own step) and, for a local operator, the Deployment only", async () => {
    const all = await operatorManifests({ image: "kubelab-operator:0.1.0", withDeployment: true });
    const local = await operatorManifests({ image: "kubelab-operator:0.1.0", withDeployment: false });
    const describe = (objects: readonly KubernetesObject[]) =>
      objects.map((object) => `${object.kind}/${object.metadata?.namespace ?? ""}/${object.metadata?.name}`);
    expect(describe(all).filter((entry) => entry.startsWith("CustomResourceDefinition"))).to.deep.equal([]);
    expect(describe(all).filter((entry) => !describe(local).includes(entry))).to.deep.equal([
      "Deployment/kubelab-system/kubelab-operator",
    ]);
    // Also when the lab's image lives in a registry (its name is no longer the manifests' image name).
    const pushed = await operatorManifests({
      image: "registry.lab:5000/kubelab-operator:0.2.0",
      withDeployment: false,
    });
    expect(describe(pushed)).to.deep.equal(describe(local));
    expect(describe(local)).to.include.members([
      "Namespace//kubelab-system",
      "ServiceAccount/kubelab-system/kubelab-operator",
      "ClusterRole//kubelab-operator",
      "ClusterRoleBinding//kubelab-operator",
      "Role/kube-system/kubelab-operator",
      "ServiceAccount/kube-system/kubelab-snapshot-agent",
    ]);
  });

  it("refuses a kustomization field it does not implement, rather than apply something else", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "k"));
    await writeFile(
      join(dir, "k", "kustomization.yaml"),
      "resources: [a.yaml]\nnamePrefix: lab-\npatches: []\n",
    );
    try {
      await readKustomization(join(dir, "k"));
      expect.fail("must refuse namePrefix and patches");
    } catch (error) {
      expect(error).to.be.instanceOf(StateError);
      expect((error as Error).message).to.contain("namePrefix, patches");
    }
  });

  it("splits image references as kustomize's images entries do", () => {
    expect(splitImage("kubelab-operator:0.1.0")).to.deep.equal({
      newName: "kubelab-operator",
      newTag: "0.1.0",
    });
    expect(splitImage("registry.lab:5000/kubelab-operator")).to.deep.equal({
      newName: "registry.lab:5000/kubelab-operator",
    });
    expect(splitImage("r.io/x:1@sha256:ab")).to.deep.equal({
      newName: "r.io/x",
      newTag: "1",
      digest: "sha256:ab",
    });
  });

  it("fingerprints the install directories, changing with any YAML file", async () => {
    expect(installDigest(INSTALL_DIRS.crds)).to.match(/^[0-9a-f]{16}$/);
    const dir = await tempDir();
    await writeFile(join(dir, "a.yaml"), "a: 1\n");
    const before = installDigest(dir);
    await writeFile(join(dir, "a.yaml"), "a: 2\n");
    expect(installDigest(dir)).to.not.equal(before);
  });
});
