// A debootstrapped rootfs with extra files and a post-step: imported by podman as is, and found again without debootstrap.
import { expect } from "chai";

import { ensureRootfs, type RootfsSpec } from "../../../bootstrap/kit/rootfs.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";
import { importRootfsImage, removeImage, runScriptIn } from "./podman.ts";

const SPEC: RootfsSpec = {
  name: "rootfs-test",
  variant: "minbase",
  packages: ["iproute2"],
  files: [{ path: "/etc/kubelab/test.conf", mode: 0o600, text: "written by the kit\n" }],
  postStep: "useradd --system --no-create-home kubelab-test\n",
};

describe("kit: debootstrap root filesystems", function () {
  this.timeout(60 * 60_000);
  let image: string | undefined;

  before(async () => {
    await requireSystemTool("debootstrap");
    await requireSystemTool("podman");
  });

  after(async () => {
    if (image !== undefined) await removeImage(image);
  });

  it("holds the packages, the files with their modes and the post-step's work, without apt's downloads", async () => {
    const rootfs = await ensureRootfs(SPEC);
    image = await importRootfsImage(rootfs, "kit-rootfs-test");
    const result = await runScriptIn(
      image,
      `set -e
stat -c '%a %U' /etc/kubelab/test.conf; cat /etc/kubelab/test.conf
id -u kubelab-test >/dev/null && echo user-ok
command -v ip
ls /var/cache/apt/archives/*.deb 2>/dev/null | wc -l
ls /var/lib/apt/lists | grep -c Packages || true
test ! -e /kubelab-post-step.sh && echo no-script
grep '^VERSION_CODENAME=' /etc/os-release`,
      { network: "none" },
    );
    expect(result.exitCode, result.all).to.equal(0);
    expect(result.all.split("\n")).to.deep.equal([
      "600 root",
      "written by the kit",
      "user-ok",
      "/usr/sbin/ip",
      "0",
      "0",
      "no-script",
      "VERSION_CODENAME=bookworm",
    ]);
  });

  it("finds the same spec again in the cache without running debootstrap", async () => {
    await ensureRootfs(SPEC);
    const started = Date.now();
    const again = await ensureRootfs({ ...SPEC, name: "renamed", packages: [...SPEC.packages] });
    expect(again.source).to.equal("cache");
    expect(Date.now() - started).to.be.lessThan(1_000);
  });
});
