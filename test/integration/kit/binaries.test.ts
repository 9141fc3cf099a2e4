// The kit's binaries as built from the wrapper modules: static, stamped with the pinned releases, found again from the cache.
import { readFile } from "node:fs/promises";
import { expect } from "chai";
import { execa } from "execa";

import { CNI_PLUGIN_NAMES, ensureKitModule, kitBinary } from "../../../bootstrap/kit/binaries.ts";

/** Whether an ELF file has a PT_INTERP program header (a dynamic loader): static Go binaries have none. */
function hasInterpreter(elf: Buffer): boolean {
  expect(elf.subarray(0, 4).toString("latin1")).to.equal("\x7fELF");
  expect(elf[4], "64-bit ELF").to.equal(2);
  const programHeaders = Number(elf.readBigUInt64LE(0x20));
  const entrySize = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) {
    if (elf.readUInt32LE(programHeaders + i * entrySize) === 3) return true;
  }
  return false;
}

describe("kit: binaries built from the wrapper modules", function () {
  this.timeout(60 * 60_000);

  it("reports the pinned release from each binary's own version output", async () => {
    const version = async (name: Parameters<typeof kitBinary>[0], args: string[], env = {}) => {
      const result = await execa(await kitBinary(name), args, { env, reject: false, all: true });
      return result.all;
    };
    expect(await version("kubelet", ["--version"])).to.equal("Kubernetes v1.36.5");
    expect(await version("kube-proxy", ["--version"])).to.equal("Kubernetes v1.36.5");
    expect(await version("crictl", ["--version"])).to.equal("crictl version 1.36.0");
    expect(await version("coredns", ["-version"])).to.match(/^CoreDNS-1\.14\.2\n/);
    expect(await version("kube-router", ["--version"])).to.contain("version v2.1.0");
    for (const plugin of ["bridge", "host-local", "loopback", "portmap"] as const) {
      expect(await version(plugin, [])).to.match(new RegExp(`^CNI ${plugin} plugin v1\\.9\\.1\\n`));
    }
    expect(await version("kubeadm", ["version", "-o", "short"])).to.equal("v1.36.5");
  });

  it("builds every binary static (CGO off), so it runs in any image base", async () => {
    for (const name of [
      "kubelet",
      "kube-proxy",
      "crictl",
      "coredns",
      "kube-router",
      ...CNI_PLUGIN_NAMES,
    ] as const) {
      expect(hasInterpreter(await readFile(await kitBinary(name))), name).to.equal(false);
    }
  });

  it("finds a built module in the cache without building it again", async () => {
    await ensureKitModule("cri-tools");
    const started = Date.now();
    const again = await ensureKitModule("cri-tools");
    expect(again.source).to.equal("cache");
    expect(Date.now() - started).to.be.lessThan(5_000);
  });
});
