// The kit's apt repository against real apt: install.sh's own apt lines install the five packages on an offline Debian.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { buildKit, type Kit } from "../../../bootstrap/kit/kit.ts";
import { ensureSigningKey } from "../../../bootstrap/kit/repo.ts";
import { ensureRootfs, type Rootfs } from "../../../bootstrap/kit/rootfs.ts";
import { APT_CLIENT_ROOTFS, installScriptAptPart } from "./apt-client.ts";
import { importRootfsImage, removeImage, runFileScript, runScriptIn, requireKitTools } from "./podman.ts";

describe("kit: apt repository with real apt in an offline Debian", function () {
  this.timeout(60 * 60_000);

  before(requireKitTools);
  let kit: Kit;
  let rootfs: Rootfs;
  let image: string;

  before(async () => {
    kit = await buildKit({ progress: () => {} });
    rootfs = await ensureRootfs(APT_CLIENT_ROOTFS);
    image = await importRootfsImage(rootfs, "kit-apt-client");
  });

  after(async () => {
    if (image !== undefined) await removeImage(image);
  });

  it("installs kubeadm, kubelet, kubectl (with cri-tools and kubernetes-cni) 1.36.5-1.1 through install.sh's lines, signature checked", async () => {
    const repository = `file:///kit/${kit.paths.repositoryPath}`;
    const apt = await installScriptAptPart(repository);
    const checks = `
set -euo pipefail
echo "--- madison"; apt-cache madison kubeadm
echo "--- installed"; dpkg-query -W -f='\${Package} \${Version} \${Status}\\n' kubeadm kubelet kubectl cri-tools kubernetes-cni
echo "--- held"; apt-mark showhold
echo "--- versions"; kubeadm version -o short; kubelet --version; kubectl version --client -o json | grep gitVersion; crictl --version
/opt/cni/bin/bridge 2>&1 | head -1 || true
echo "--- files"; ls /usr/lib/systemd/system/kubelet.service /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf /etc/default/kubelet
cat /etc/default/kubelet
`;
    // An air-gapped node: Debian's mirror is out of reach, so only the kit's repository is configured.
    const result = await runScriptIn(
      image,
      `rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*\n${runFileScript("/tmp/apt.sh", apt)} && ${runFileScript("/tmp/checks.sh", checks)}`,
      { network: "none", volumes: [`${kit.paths.apt}:/kit:ro`] },
    );
    expect(result.exitCode, result.all).to.equal(0);
    const out = result.all;
    expect(out).to.match(
      /^\s*kubeadm \| 1\.36\.5-1\.1 \| file:\/kit\/core:\/stable:\/v1\.36\/deb {2}Packages$/m,
    );
    for (const line of [
      // install.sh holds the three it names; apt pulled in the other two as dependencies.
      "kubeadm 1.36.5-1.1 hold ok installed",
      "kubelet 1.36.5-1.1 hold ok installed",
      "kubectl 1.36.5-1.1 hold ok installed",
      "cri-tools 1.36.0-1.1 install ok installed",
      "kubernetes-cni 1.9.1-1.1 install ok installed",
    ]) {
      expect(out).to.contain(line);
    }
    expect(out).to.match(/--- held\nkubeadm\nkubectl\nkubelet\n/);
    expect(out).to.contain("\nv1.36.5\n");
    expect(out).to.contain("Kubernetes v1.36.5");
    expect(out).to.contain('"gitVersion": "v1.36.5"');
    expect(out).to.contain("crictl version 1.36.0");
    expect(out).to.contain("CNI bridge plugin v1.9.1");
    expect(out).to.contain("KUBELET_EXTRA_ARGS=");
  });

  it("refuses the repository when Release is not signed by the key install.sh trusts", async () => {
    const repository = `file:///kit/${kit.paths.repositoryPath}`;
    const apt = await installScriptAptPart(repository);
    // The same lines, but the keyring install.sh would make is already there, holding an unrelated key.
    let result: Awaited<ReturnType<typeof runScriptIn>>;
    // Another kit's key (made on the host: the client has no gpg-agent), put where install.sh keeps its keyring.
    const scratch = await mkdtemp(join(tmpdir(), "kubelab-kit-apt-"));
    try {
      const options = { logPath: join(scratch, "gpg.log"), signal: new AbortController().signal };
      const foreign = await ensureSigningKey(join(scratch, "gnupg"), options);
      const exported = await execa("gpg", ["--batch", "--export", foreign.fingerprint], {
        env: { GNUPGHOME: foreign.gnupgHome },
        encoding: "buffer",
      });
      await writeFile(join(scratch, "foreign.gpg"), exported.stdout);
      result = await runScriptIn(
        image,
        `rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
install -D -m 0644 /foreign/foreign.gpg /etc/apt/keyrings/kubernetes-v1.36-apt-keyring.gpg
test -s /etc/apt/keyrings/kubernetes-v1.36-apt-keyring.gpg || { echo "no foreign keyring"; exit 99; }
${runFileScript("/tmp/apt.sh", apt)}`,
        { network: "none", volumes: [`${kit.paths.apt}:/kit:ro`, `${scratch}:/foreign:ro`] },
      );
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    expect(result.exitCode, result.all).not.to.be.oneOf([0, 99]);
    expect(result.all).to.match(/NO_PUBKEY|not signed|signatures couldn't be verified|is not signed/);
  });
});
