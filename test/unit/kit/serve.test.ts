// The registry mirror's storage: every image of the kit's archives under its upstream repository name, as distribution lays it out.
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

import { mirroredName, writeRegistryStorage } from "../../../bootstrap/kit/serve.ts";
import { writeOciArchive } from "./oci-fixture.ts";

describe("kit/serve", () => {
  it("mirrors a reference under its upstream path without the registry host, as containerd asks a mirror for it", () => {
    expect(mirroredName("registry.k8s.io/kube-apiserver:v1.36.5")).to.deep.equal({
      repository: "kube-apiserver",
      tag: "v1.36.5",
    });
    expect(mirroredName("registry.k8s.io/coredns/coredns:v1.14.2").repository).to.equal("coredns/coredns");
    expect(mirroredName("docker.io/cloudnativelabs/kube-router:v2.1.0").repository).to.equal(
      "cloudnativelabs/kube-router",
    );
    expect(mirroredName("localhost:5000/x/y:1").repository).to.equal("x/y");
    expect(() => mirroredName("kube-apiserver:v1.36.5")).to.throw(RangeError);
    expect(() => mirroredName("registry.k8s.io/pause")).to.throw(RangeError);
  });

  it("writes blobs by digest, layer and manifest links and the tag for each archived image, and replaces old storage", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kubelab-serve-test-"));
    try {
      const images = join(dir, "images");
      await mkdir(images);
      const digest = await writeOciArchive(
        dir,
        join(images, "hello.tar"),
        "registry.k8s.io/team/hello:1.0",
        "hi\n",
      );
      const storage = join(dir, "registry");
      await mkdir(join(storage, "stale"), { recursive: true });
      expect(await writeRegistryStorage(images, storage)).to.deep.equal(["registry.k8s.io/team/hello:1.0"]);
      const v2 = join(storage, "docker", "registry", "v2");
      const repo = join(v2, "repositories", "team", "hello");
      expect(await readFile(join(repo, "_manifests", "tags", "1.0", "current", "link"), "utf8")).to.equal(
        digest,
      );
      const hex = digest.slice(7);
      expect(await readFile(join(repo, "_manifests", "revisions", "sha256", hex, "link"), "utf8")).to.equal(
        digest,
      );
      const manifest = JSON.parse(
        await readFile(join(v2, "blobs", "sha256", hex.slice(0, 2), hex, "data"), "utf8"),
      ) as {
        config: { digest: string };
        layers: { digest: string }[];
      };
      for (const part of [manifest.config, ...manifest.layers]) {
        const partHex = part.digest.slice(7);
        expect(await readFile(join(repo, "_layers", "sha256", partHex, "link"), "utf8")).to.equal(
          part.digest,
        );
        expect(await readdir(join(v2, "blobs", "sha256", partHex.slice(0, 2), partHex))).to.deep.equal([
          "data",
        ]);
      }
      expect(await readdir(storage)).to.have.members(["docker", "images.json"]);
      expect(await writeRegistryStorage(join(dir, "no-images"), storage)).to.deep.equal([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
