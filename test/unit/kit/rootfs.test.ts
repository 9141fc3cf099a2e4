// A rootfs is cached by the content of its inputs: equal specs share one entry, any changed input makes another.
import { expect } from "chai";

import {
  DEBIAN_MIRROR,
  debootstrapArgs,
  rootfsDigest,
  type RootfsSpec,
} from "../../../bootstrap/kit/rootfs.ts";

const SPEC: RootfsSpec = {
  name: "node",
  variant: "minbase",
  packages: ["systemd", "containerd", "iptables"],
  files: [{ path: "/etc/motd", mode: 0o644, text: "kubelab\n" }],
  postStep: "ln -s /bin/true /usr/local/bin/x\n",
  arch: "amd64",
};

describe("kit/rootfs", () => {
  it("keys the cache by content: the name and the order of packages change nothing, every input does", () => {
    const digest = rootfsDigest(SPEC);
    expect(digest).to.match(/^[0-9a-f]{64}$/);
    expect(
      rootfsDigest({ ...SPEC, name: "other", packages: ["iptables", "containerd", "systemd", "iptables"] }),
    ).to.equal(digest);
    for (const changed of [
      { packages: ["systemd", "containerd"] },
      { variant: "buildd" as const },
      { files: [{ path: "/etc/motd", mode: 0o644, text: "other\n" }] },
      { files: [{ path: "/etc/motd", mode: 0o600, text: "kubelab\n" }] },
      { postStep: "true\n" },
      { arch: "arm64" },
      { suite: "trixie" },
      { mirror: "http://127.0.0.1:3142/debian" },
    ]) {
      expect(rootfsDigest({ ...SPEC, ...changed }), JSON.stringify(changed)).not.to.equal(digest);
    }
  });

  it("runs debootstrap for the variant, Debian's architecture name, the sorted packages, suite and mirror", () => {
    expect(debootstrapArgs({ ...SPEC, arch: "ppc64le" }, "/t")).to.deep.equal([
      "--variant=minbase",
      "--arch=ppc64el",
      "--include=containerd,iptables,systemd",
      "bookworm",
      "/t",
      DEBIAN_MIRROR,
    ]);
    expect(debootstrapArgs({ name: "bare", variant: "minbase", packages: [] }, "/t")).not.to.include.members([
      "--include=",
    ]);
  });
});
