// The node image: everything apt would fetch for the Kubernetes packages is already in it, and its tag follows its content.
import { expect } from "chai";
import { execa } from "execa";

import { kubernetesPackages } from "../../../../bootstrap/kit/debs.ts";
import { rootfsDigest } from "../../../../bootstrap/kit/rootfs.ts";
import {
  NODE_IMAGE_PACKAGES,
  nodeContainerfile,
  nodeImageReference,
  nodeRootfsImage,
  nodeRootfsSpec,
} from "../../../../bootstrap/providers/podman/node-image.ts";

/** What debootstrap's minbase variant always installs (Essential: yes), of what the debs depend on. */
const MINBASE_ESSENTIALS = ["mount", "util-linux", "bash", "coreutils"];

describe("providers/podman/node-image", () => {
  it("holds every dependency of the kit's Kubernetes packages, so install.sh needs no Debian mirror", () => {
    const debs = kubernetesPackages(
      { kubeadm: "x", kubelet: "x", kubectl: "x", crictl: "x", cniPlugins: { bridge: "x" } },
      "amd64",
    );
    const fromKit = new Set(debs.map((deb) => deb.name));
    const inImage = new Set<string>([...NODE_IMAGE_PACKAGES, ...MINBASE_ESSENTIALS]);
    for (const deb of debs) {
      for (const relation of deb.depends) {
        const name = relation.split(/[\s(]/)[0]!;
        expect(fromKit.has(name) || inImage.has(name), `${deb.name} depends on ${name}`).to.equal(true);
      }
    }
    // What install.sh installs from the distribution, and kubeadm's preflight looks for.
    for (const name of [
      "containerd",
      "ca-certificates",
      "curl",
      "gpg",
      "conntrack",
      "socat",
      "iptables",
      "iproute2",
      "ethtool",
    ]) {
      expect(NODE_IMAGE_PACKAGES, name).to.include(name);
    }
  });

  it("post step is POSIX sh that empties the machine id, apt sources and the distribution's sysctl defaults", async () => {
    const postStep = nodeRootfsSpec().postStep ?? "";
    expect((await execa("sh", ["-n", "-c", postStep], { reject: false })).exitCode).to.equal(0);
    expect(postStep).to.contain(": >/etc/machine-id").and.to.contain(": >/etc/apt/sources.list");
    expect(postStep).to.contain("rm -f /usr/lib/sysctl.d/*.conf");
    expect(postStep).to.contain("ln -sf /dev/null /etc/systemd/system/systemd-modules-load.service");
  });

  it("is the rootfs plus an entrypoint layer that runs and downloads nothing, systemd as PID 1", () => {
    const containerfile = nodeContainerfile("localhost/kubelab-node-rootfs:0123456789abcdef");
    expect(containerfile.split("\n")[0]).to.equal("FROM localhost/kubelab-node-rootfs:0123456789abcdef");
    expect(containerfile).to.contain("COPY kubelab-entrypoint /usr/local/bin/kubelab-entrypoint");
    expect(containerfile).to.contain('ENTRYPOINT ["/usr/local/bin/kubelab-entrypoint"]\nCMD ["/sbin/init"]');
    expect(containerfile).to.contain("STOPSIGNAL SIGRTMIN+3");
    expect(containerfile).not.to.match(/^(RUN|ADD)\b/m);
    expect(nodeRootfsSpec().files ?? []).to.deep.equal([]);
  });

  it("is tagged by its content: a change to the rootfs makes another image", () => {
    const spec = nodeRootfsSpec();
    const reference = nodeImageReference(rootfsDigest(spec));
    expect(reference).to.match(/^localhost\/kubelab-node:[0-9a-f]{16}$/);
    expect(nodeImageReference(rootfsDigest(nodeRootfsSpec()))).to.equal(reference);
    const changed = { ...spec, packages: [...spec.packages, "vim"] };
    expect(nodeImageReference(rootfsDigest(changed))).not.to.equal(reference);
    expect(nodeRootfsImage(rootfsDigest(spec))).to.equal(
      `localhost/kubelab-node-rootfs:${rootfsDigest(spec).slice(0, 16)}`,
    );
  });
});
