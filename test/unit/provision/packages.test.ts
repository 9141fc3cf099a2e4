// install.sh: containerd for kubeadm (1.7 and 2.x layouts), pkgs.k8s.io for the minor, pinned and held packages.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import {
  containerdConfigV2,
  containerdConfigV3,
  PAUSE_IMAGE,
  renderInstallScript,
} from "../../../bootstrap/provision/packages.ts";
import { installSources } from "../../../bootstrap/lab/sources.ts";
import { labOf, tempDir } from "../helpers.ts";

describe("provision/packages", () => {
  it("uses the pause image kubeadm 1.36 expects", () => {
    expect(PAUSE_IMAGE).to.equal("registry.k8s.io/pause:3.10.2");
  });

  it("configures SystemdCgroup and the sandbox image in both containerd layouts", () => {
    expect(containerdConfigV2("false"))
      .to.contain("version = 2")
      .and.to.contain(
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true',
      );
    expect(containerdConfigV2("false")).to.contain(`sandbox_image = "${PAUSE_IMAGE}"`);
    expect(containerdConfigV3("false"))
      .to.contain("version = 3")
      .and.to.contain(
        "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true",
      );
    expect(containerdConfigV3("false")).to.contain(
      `[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = '${PAUSE_IMAGE}'`,
    );
  });

  it("puts restrict_oom_score_adj in the CRI table of each layout, and nothing bash would expand", () => {
    expect(containerdConfigV2("true")).to.contain(
      '[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.10.2"\n  restrict_oom_score_adj = true\n',
    );
    expect(containerdConfigV3("true")).to.contain(
      "[plugins.'io.containerd.cri.v1.runtime']\n  restrict_oom_score_adj = true\n",
    );
    // The script writes them through unquoted heredocs, to fill in the detected value.
    for (const config of [containerdConfigV2("x"), containerdConfigV3("x")]) {
      expect(config).not.to.match(/[$`\\]/);
    }
  });

  it("restricts oom_score_adj exactly where the process lacks CAP_SYS_RESOURCE", async () => {
    const lab = labOf();
    const script = renderInstallScript(lab, lab.controlPlane, installSources(lab, "/"));
    const detect = script.slice(script.indexOf("cap_effective="), script.indexOf("version_line="));
    const dir = await tempDir();
    for (const [capEffective, restricted] of [
      // A VM's root: every capability. podman's root on a host without CAP_SYS_RESOURCE (bit 24): this machine.
      ["000001ffffffffff", "false"],
      ["000001fffeffffff", "true"],
      ["0000000001000000", "false"],
    ]) {
      const status = join(dir, `status-${capEffective}`);
      await writeFile(status, `Name:\tbash\nCapInh:\t0000000000000000\nCapEff:\t${capEffective}\n`);
      const snippet = `set -euo pipefail\nlog() { :; }\n${detect.replaceAll("/proc/self/status", status)}\necho "restrict=$RESTRICT_OOM_SCORE_ADJ"`;
      const { stdout } = await execa("bash", ["-c", snippet]);
      expect(stdout, capEffective).to.equal(`restrict=${restricted}`);
    }
  });

  it("picks the config layout from containerd's major version", async () => {
    const lab = labOf();
    const script = renderInstallScript(lab, lab.controlPlane, installSources(lab, "/"));
    const parse = script.slice(
      script.indexOf("version_line=$(containerd --version)"),
      script.indexOf('log "containerd $containerd_major.x'),
    );
    for (const [line, major] of [
      ["containerd github.com/containerd/containerd 1.7.24", "1"],
      ["containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da", "1"],
      ["containerd github.com/containerd/containerd/v2 v2.1.3 c787fb98911740dd3ff2d0e45ce88cdf01410486", "2"],
    ]) {
      const snippet = `set -euo pipefail\nfail() { echo "FAIL $*"; exit 1; }\ncontainerd() { echo '${line}'; }\n${parse}\necho "major=$containerd_major"`;
      const { stdout } = await execa("bash", ["-c", snippet]);
      expect(stdout, line).to.equal(`major=${major}`);
    }
  });

  it("adds pkgs.k8s.io for the lab's minor with its own signing key (no Google repository)", () => {
    const lab = labOf({ kubernetes: { version: "1.35" } });
    const script = renderInstallScript(lab, lab.controlPlane, installSources(lab, "/"));
    expect(script).to.contain("REPOSITORY='https://pkgs.k8s.io/core:/stable:/v1.35/deb/'");
    expect(script).to.contain("KEYRING='/etc/apt/keyrings/kubernetes-v1.35-apt-keyring.gpg'");
    expect(script).to.contain("deb [signed-by=$KEYRING] $REPOSITORY /");
    expect(script).not.to.contain("packages.cloud.google.com");
    expect(script).not.to.match(/docker/i);
  });

  it("installs kubeadm, kubelet and kubectl at one version and holds them", () => {
    const lab = labOf({ kubernetes: { version: "1.36.5" } });
    const script = renderInstallScript(lab, lab.controlPlane, installSources(lab, "/"));
    expect(script).to.contain("KUBERNETES_PATCH='1.36.5'");
    expect(script).to.contain(
      '"kubeadm=$package_version" "kubelet=$package_version" "kubectl=$package_version"',
    );
    expect(script).to.contain("apt-mark hold kubeadm kubelet kubectl");
    expect(renderInstallScript(labOf(), lab.controlPlane, installSources(labOf(), "/"))).to.contain(
      "KUBERNETES_PATCH=''",
    );
  });

  it("pins the kubelet's node-ip to the node's host-only address", () => {
    const lab = labOf();
    expect(renderInstallScript(lab, lab.workers[2]!, installSources(lab, "/")))
      .to.contain("NODE_IP='192.168.56.103'")
      .and.to.contain("KUBELET_EXTRA_ARGS=--node-ip=$NODE_IP");
  });

  it("installs the containerd package lab.yaml names", () => {
    const lab = labOf({ containerd: { package: "containerd.io" } });
    expect(renderInstallScript(lab, lab.controlPlane, installSources(lab, "/"))).to.contain(
      "CONTAINERD_PACKAGE='containerd.io'",
    );
  });
});
