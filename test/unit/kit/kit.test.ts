// The kit's directory is keyed by what it is made of, and laid out as pkgs.k8s.io and the kit server expect.
import { expect } from "chai";

import { kitDigest, kitPaths } from "../../../bootstrap/kit/kit.ts";

describe("kit/kit", () => {
  it("keeps one directory per architecture, named by a digest of the version table", () => {
    expect(kitDigest("amd64")).to.match(/^[0-9a-f]{16}$/);
    expect(kitDigest("amd64")).to.equal(kitDigest("amd64"));
    expect(kitDigest("arm64")).not.to.equal(kitDigest("amd64"));
    const env = { KUBELAB_CACHE_DIR: "/cache" };
    expect(kitPaths(env, "amd64").root).to.equal(`/cache/kit/${kitDigest("amd64")}`);
  });

  it("puts the repository at pkgs.k8s.io's path under the HTTP root, the key outside it", () => {
    const paths = kitPaths({ KUBELAB_CACHE_DIR: "/cache" }, "arm64");
    expect(paths.repositoryPath).to.equal("core:/stable:/v1.36/deb/");
    expect(paths.repository).to.equal(`${paths.apt}/core:/stable:/v1.36/deb/`);
    expect(paths.gnupgHome.startsWith(paths.apt)).to.equal(false);
    expect(paths.bin).to.equal(`${paths.root}/bin/linux-arm64`);
    expect(paths.images).to.equal(`${paths.root}/images`);
  });
});
