// The pinned component versions agree with the Go wrapper modules, and builds stamp them into the binaries.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { WRAPPER_MODULES_DIR } from "../../../bootstrap/controlplane/build.ts";
import {
  BINARIES,
  BINARY_NAMES,
  binariesOfModule,
  COMPONENT_VERSIONS,
  goPlatform,
  versionLdflags,
} from "../../../bootstrap/controlplane/versions.ts";

async function goMod(module: string): Promise<string> {
  return readFile(join(WRAPPER_MODULES_DIR, module, "go.mod"), "utf8");
}

describe("controlplane/versions", () => {
  it("pins the same versions as the wrapper modules' go.mod files", async () => {
    expect(await goMod("kubernetes")).to.match(
      new RegExp(
        `^require k8s\\.io/kubernetes ${COMPONENT_VERSIONS.kubernetes.replace(/\./g, "\\.")}\\b`,
        "m",
      ),
    );
    expect(await goMod("etcd")).to.contain(`go.etcd.io/etcd/server/v3 ${COMPONENT_VERSIONS.etcd} `);
    expect(await goMod("kwok")).to.contain(`sigs.k8s.io/kwok ${COMPONENT_VERSIONS.kwok} `);
  });

  it("builds every binary from a tool its wrapper module declares", async () => {
    for (const name of BINARY_NAMES) {
      const info = BINARIES[name];
      expect(await goMod(info.module), `${name}: ${info.goPackage}`).to.match(
        new RegExp(`^\\s*(tool\\s+)?${info.goPackage.replace(/\./g, "\\.")}$`, "m"),
      );
    }
    expect(binariesOfModule("etcd")).to.deep.equal(["etcd", "etcdctl", "etcdutl"]);
  });

  it("stamps gitVersion, gitMajor and gitMinor into Kubernetes builds so version checks see v1.36.x", () => {
    const flags = versionLdflags("kubernetes");
    for (const stamp of [
      `-X k8s.io/component-base/version.gitVersion=${COMPONENT_VERSIONS.kubernetes}`,
      "-X k8s.io/component-base/version.gitMajor=1",
      "-X k8s.io/component-base/version.gitMinor=36",
      "-X k8s.io/component-base/version.gitTreeState=clean",
    ]) {
      expect(flags).to.contain(stamp);
    }
    expect(versionLdflags("kwok")).to.contain("-X sigs.k8s.io/kwok/pkg/consts.Version=0.8.0");
    expect(versionLdflags("etcd")).to.equal("-s -w");
    expect(() => versionLdflags("kubernetes", { ...COMPONENT_VERSIONS, kubernetes: "latest" })).to.throw(
      RangeError,
    );
  });

  it("names platforms as Go and the release files do", () => {
    expect(goPlatform("linux", "x64")).to.deep.equal({ os: "linux", arch: "amd64" });
    expect(goPlatform("darwin", "arm64")).to.deep.equal({ os: "darwin", arch: "arm64" });
  });
});
