// The kit's image list: exactly what kubeadm of the pinned version deploys, the CNI's image, and the operator's
// bases under our own names; each image's runtime needs (PATH for kubeadm's bare commands, CoreDNS's file
// capability, pause's user) are in its recipe.
import { expect } from "chai";

import {
  archiveName,
  kitImageRecipes,
  kubeRouterImage,
  operatorBaseImages,
} from "../../../bootstrap/kit/images.ts";
import { KIT_VERSIONS, kubeadmImages } from "../../../bootstrap/kit/versions.ts";

describe("kit/images", () => {
  const recipes = kitImageRecipes();
  const byReference = new Map(recipes.map((recipe) => [recipe.reference, recipe]));

  it("holds kubeadm's images, kube-router's and the operator's two bases, each once", () => {
    const bases = operatorBaseImages();
    expect(recipes.map((recipe) => recipe.reference)).to.have.members([
      ...kubeadmImages(KIT_VERSIONS),
      kubeRouterImage(KIT_VERSIONS),
      bases.runtime,
      bases.build,
    ]);
    expect(new Set(recipes.map((recipe) => recipe.reference)).size).to.equal(recipes.length);
  });

  it("names the operator's bases as ours, not as distroless or Docker Hub's node", () => {
    for (const reference of Object.values(operatorBaseImages())) {
      expect(reference).to.match(/^localhost\/kubelab\//);
    }
  });

  it("gives every image kubeadm runs by bare command name a PATH, so `etcd` and `kube-apiserver` resolve", () => {
    for (const reference of kubeadmImages(KIT_VERSIONS).filter((ref) => !ref.includes("/pause:"))) {
      expect(byReference.get(reference)?.config.Env, reference).to.include(
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      );
    }
  });

  it("runs CoreDNS as nonroot from /coredns and pause as 65535, as upstream's images do", () => {
    const coredns = kubeadmImages(KIT_VERSIONS).find((ref) => ref.includes("coredns")) ?? "";
    expect(byReference.get(coredns)?.config).to.include({ User: "65532:65532" });
    expect(byReference.get(coredns)?.config.Entrypoint).to.deep.equal(["/coredns"]);
    const pause = kubeadmImages(KIT_VERSIONS).find((ref) => ref.includes("/pause:")) ?? "";
    expect(byReference.get(pause)?.config).to.deep.equal({ User: "65535:65535", Entrypoint: ["/pause"] });
    expect(byReference.get(pause)?.base).to.equal("scratch");
  });

  it("says what each image is built from, never a stand-in", () => {
    for (const recipe of recipes) expect(recipe.builtFrom, recipe.reference).to.match(/\S{3,}/);
    expect(byReference.get(kubeRouterImage(KIT_VERSIONS))?.builtFrom).to.include(KIT_VERSIONS.kubeRouter);
  });

  it("archive file names are the reference with / : @ replaced", () => {
    expect(archiveName("registry.k8s.io/coredns/coredns:v1.14.2")).to.equal(
      "registry.k8s.io_coredns_coredns_v1.14.2",
    );
  });
});
