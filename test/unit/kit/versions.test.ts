// The kit's version table agrees with its wrapper modules and with the images kubeadm v1.36.5 deploys.
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { binaryCacheDir } from "../../../bootstrap/controlplane/binaries.ts";
import { PAUSE_IMAGE } from "../../../bootstrap/provision/packages.ts";
import { KIT_BUILT_BINARIES, KIT_MODULES_DIR, kitLdflags } from "../../../bootstrap/kit/binaries.ts";
import {
  debianArchitecture,
  KIT_MODULES,
  KIT_VERSIONS,
  type KitModule,
  kubeadmImages,
} from "../../../bootstrap/kit/versions.ts";

async function goMod(module: string): Promise<string> {
  return readFile(join(KIT_MODULES_DIR, module, "go.mod"), "utf8");
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe("kit/versions", () => {
  it("pins in each wrapper module's go.mod the version the table names", async () => {
    for (const [module, { goModule, version }] of Object.entries(KIT_MODULES)) {
      expect(await goMod(module), module).to.match(
        new RegExp(`^(require)?\\s+${escape(goModule)} ${escape(version)}(\\s|$)`, "m"),
      );
    }
  });

  it("builds every kit binary from a tool its wrapper module declares", async () => {
    for (const [name, { module, goPackage }] of Object.entries(KIT_BUILT_BINARIES)) {
      expect(await goMod(module), `${name}: ${goPackage}`).to.match(
        new RegExp(`^\\s*(tool\\s+)?${escape(goPackage)}$`, "m"),
      );
    }
  });

  it("stamps the pinned release into the binaries whose projects stamp a version", () => {
    expect(kitLdflags("kubernetes-node")).to.contain(
      `-X k8s.io/component-base/version.gitVersion=${KIT_VERSIONS.kubernetes}`,
    );
    expect(kitLdflags("cri-tools")).to.contain("sigs.k8s.io/cri-tools/pkg/version.Version=1.36.0");
    expect(kitLdflags("cni-plugins")).to.contain("buildversion.BuildVersion=v1.9.1");
    expect(kitLdflags("kube-router")).to.contain("pkg/version.Version=v2.1.0");
    for (const module of Object.keys(KIT_MODULES) as KitModule[])
      expect(kitLdflags(module)).to.match(/^-s -w/);
  });

  it("names the images kubeadm v1.36.5 lists, so the kit and containerd's pause pin hold what kubeadm pulls", async () => {
    const kubeadm = join(binaryCacheDir(), "kubeadm");
    // test:all builds the binary set before the unit tests; alone, `npm run envtest:binaries` makes it.
    await access(kubeadm).catch(() => {
      throw new Error(`no kubeadm in ${binaryCacheDir()}: run \`npm run envtest:binaries\` first`);
    });
    const listed = await execa(kubeadm, [
      "config",
      "images",
      "list",
      "--kubernetes-version",
      KIT_VERSIONS.kubernetes,
    ]);
    expect(kubeadmImages()).to.deep.equal(listed.stdout.trim().split("\n"));
    expect(kubeadmImages()).to.include(PAUSE_IMAGE);
  });

  it("names architectures as Debian does, and refuses one Debian has no port of", () => {
    expect(debianArchitecture("amd64")).to.equal("amd64");
    expect(debianArchitecture("arm64")).to.equal("arm64");
    expect(debianArchitecture("ppc64le")).to.equal("ppc64el");
    expect(() => debianArchitecture("wasm")).to.throw(RangeError);
  });
});
