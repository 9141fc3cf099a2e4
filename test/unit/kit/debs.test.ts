// The kit's packages carry pkgs.k8s.io's names, versions, relations and files, and dpkg-deb builds them as described.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import {
  buildDeb,
  controlFile,
  debFileName,
  KUBEADM_DROP_IN,
  kubernetesPackages,
  type PackageBinaries,
} from "../../../bootstrap/kit/debs.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

const BINARIES: PackageBinaries = {
  kubeadm: "/b/kubeadm",
  kubelet: "/b/kubelet",
  kubectl: "/b/kubectl",
  crictl: "/b/crictl",
  cniPlugins: { portmap: "/b/portmap", bridge: "/b/bridge", loopback: "/b/loopback" },
};

describe("kit/debs", () => {
  before(async () => {
    await requireSystemTool("dpkg-deb");
  });

  const packages = kubernetesPackages(BINARIES, "amd64");
  const byName = (name: string) => packages.find((pkg) => pkg.name === name)!;

  it("names and versions the five packages as pkgs.k8s.io's v1.36 repository does", () => {
    expect(packages.map(debFileName).sort()).to.deep.equal([
      "cri-tools_1.36.0-1.1_amd64.deb",
      "kubeadm_1.36.5-1.1_amd64.deb",
      "kubectl_1.36.5-1.1_amd64.deb",
      "kubelet_1.36.5-1.1_amd64.deb",
      "kubernetes-cni_1.9.1-1.1_amd64.deb",
    ]);
    expect(kubernetesPackages(BINARIES, "arm64").map(debFileName)).to.include("kubelet_1.36.5-1.1_arm64.deb");
  });

  it("declares the relations pkgs.k8s.io declares, so apt pulls in cri-tools and kubernetes-cni", () => {
    expect(byName("kubeadm").depends).to.deep.equal(["cri-tools (>= 1.30.0)"]);
    expect(byName("kubelet").depends).to.deep.equal(["kubernetes-cni (>= 1.2.0)", "mount", "util-linux"]);
    expect(byName("kubelet").recommends).to.deep.equal(["iptables (>= 1.8.4)"]);
    for (const name of ["kubectl", "cri-tools", "kubernetes-cni"]) expect(byName(name).depends).to.be.empty;
  });

  it("installs the files where the upstream packages put them, /etc/default/kubelet as a conffile", () => {
    const paths = (name: string) => byName(name).files.map((file) => file.path);
    expect(paths("kubeadm")).to.deep.equal([
      "/usr/bin/kubeadm",
      "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
    ]);
    expect(paths("kubelet")).to.include.members([
      "/usr/bin/kubelet",
      "/usr/lib/systemd/system/kubelet.service",
      "/etc/default/kubelet",
      "/var/lib/kubelet/.kubelet-keep",
      "/etc/kubernetes/manifests/.kubelet-keep",
    ]);
    expect(byName("kubelet").conffiles).to.deep.equal(["/etc/default/kubelet"]);
    expect(paths("kubernetes-cni")).to.deep.equal([
      "/opt/cni/bin/bridge",
      "/opt/cni/bin/loopback",
      "/opt/cni/bin/portmap",
      "/etc/cni/net.d/.kubernetes-cni-keep",
    ]);
    expect(paths("cri-tools")).to.deep.equal(["/usr/bin/crictl"]);
  });

  it("starts the kubelet the way kubeadm expects: its kubeconfigs, config file, flags file and the admin's extra args last", () => {
    const execStart = /^ExecStart=(\/.+)$/m.exec(KUBEADM_DROP_IN)?.[1];
    expect(execStart).to.equal(
      "/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS",
    );
    expect(KUBEADM_DROP_IN).to.match(/^ExecStart=$/m);
    expect(KUBEADM_DROP_IN).to.contain("EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env");
    expect(KUBEADM_DROP_IN).to.contain("EnvironmentFile=-/etc/default/kubelet");
    expect(KUBEADM_DROP_IN).to.contain("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf");
    expect(KUBEADM_DROP_IN).to.contain("--kubeconfig=/etc/kubernetes/kubelet.conf");
    expect(KUBEADM_DROP_IN).to.contain("--config=/var/lib/kubelet/config.yaml");
  });

  it("writes a control file dpkg reads: every field on one line, the description's body indented, no empty relation", () => {
    const control = controlFile(byName("kubectl"), 51234);
    expect(control).to.match(/^Package: kubectl\nVersion: 1\.36\.5-1\.1\nArchitecture: amd64\n/);
    expect(control).to.contain("Installed-Size: 51234\n");
    expect(control).not.to.contain("Depends:");
    expect(control).to.match(/\nDescription: [^\n]+\n [^\n]+\n$/);
    expect(controlFile(byName("kubelet"), 1)).to.contain(
      "Depends: kubernetes-cni (>= 1.2.0), mount, util-linux\nRecommends: iptables (>= 1.8.4)\n",
    );
  });

  it("builds a .deb owned by root whose control, conffiles and maintainer scripts dpkg-deb reads back", async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(join(tmpdir(), "kubelab-debs-test-"));
    try {
      const fake = join(dir, "kubelet-binary");
      await writeFile(fake, "#!/bin/sh\necho kubelet\n");
      await chmod(fake, 0o700);
      const kubelet = kubernetesPackages({ ...BINARIES, kubelet: fake }, "amd64").find(
        (p) => p.name === "kubelet",
      )!;
      const deb = await buildDeb(kubelet, {
        outDir: dir,
        logPath: join(dir, "build.log"),
        signal: new AbortController().signal,
        sourceDateEpoch: 1_700_000_000,
      });
      expect(deb).to.equal(join(dir, "kubelet_1.36.5-1.1_amd64.deb"));
      const fields = await execa("dpkg-deb", [
        "--field",
        deb,
        "Package",
        "Version",
        "Depends",
        "Installed-Size",
      ]);
      expect(fields.stdout).to.contain("Package: kubelet\nVersion: 1.36.5-1.1\n");
      expect(fields.stdout).to.match(/Installed-Size: \d+/);
      const contents = await execa("dpkg-deb", ["--contents", deb]);
      expect(contents.stdout).to.match(/-rwxr-xr-x root\/root .* \.\/usr\/bin\/kubelet/);
      expect(contents.stdout).to.match(/-rw-r--r-- root\/root .* \.\/etc\/default\/kubelet/);
      expect(contents.stdout).to.contain("2023-11-14");
      const control = await execa("sh", ["-c", `dpkg-deb --ctrl-tarfile "$0" | tar -t`, deb]);
      expect(control.stdout.split("\n").sort()).to.include.members([
        "./conffiles",
        "./control",
        "./postinst",
        "./prerm",
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
