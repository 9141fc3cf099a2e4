// Where the operator image of a lab takes its bases from: the offline kit's archives on a kit lab, else registries.
import { join } from "node:path";
import { expect } from "chai";

import { labImageInputs, usesKit } from "../../../bootstrap/image/lab-image.ts";
import { archiveName, operatorBaseImages } from "../../../bootstrap/kit/images.ts";
import { kitPaths } from "../../../bootstrap/kit/kit.ts";
import { KIT_VERSIONS } from "../../../bootstrap/kit/versions.ts";
import { labOf } from "../helpers.ts";

const signal = new AbortController().signal;

describe("image/lab-image", () => {
  it("a podman lab on the kit builds from the kit's runtime and etcd archives, named as build arguments", () => {
    const lab = labOf({ provider: "podman" });
    expect(usesKit(lab)).to.equal(true);
    const env = { KUBELAB_CACHE_DIR: "/tmp/kubelab-cache-test" };
    const inputs = labImageInputs(lab, signal, env);
    const bases = operatorBaseImages();
    const etcd = `registry.k8s.io/etcd:${KIT_VERSIONS.etcdImageTag}`;
    expect(inputs.buildArgs).to.deep.equal({
      RUNTIME_IMAGE: bases.runtime,
      NODE_BUILD_IMAGE: bases.build,
      ETCD_IMAGE: etcd,
    });
    const images = kitPaths(env).images;
    expect(inputs.sources.archives).to.deep.equal([
      join(images, `${archiveName(bases.runtime)}.tar`),
      join(images, `${archiveName(etcd)}.tar`),
    ]);
    expect(inputs.sources.registry, "nothing is fetched on a kit lab").to.equal(undefined);
  });

  it("any other lab keeps the Dockerfile's pinned bases and fetches them through lab.yaml's mirrors", () => {
    for (const lab of [
      labOf({ provider: "vagrant", images: { mirrors: { "gcr.io": "http://mirror.lab:5000" } } }),
      labOf({
        provider: "podman",
        podman: { kit: false },
        packages: { repository: "http://apt.lab/core:/stable:/v1.36/deb/" },
        images: { mirrors: { "gcr.io": "http://m:5000" } },
      }),
    ]) {
      expect(usesKit(lab)).to.equal(false);
      const inputs = labImageInputs(lab, signal);
      expect(inputs.buildArgs).to.deep.equal({});
      expect(inputs.sources.archives).to.equal(undefined);
      expect(inputs.sources.registry).to.not.equal(undefined);
      expect(inputs.from).to.contain("mirrors for gcr.io");
    }
  });
});
