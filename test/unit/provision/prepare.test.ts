// prepare.sh: the host settings kubeadm's preflight expects, and every node in /etc/hosts.
import { expect } from "chai";

import { renderPrepareScript } from "../../../bootstrap/provision/prepare.ts";
import { labOf } from "../helpers.ts";

describe("provision/prepare", () => {
  const lab = labOf({ workers: { count: 2 } });
  const script = renderPrepareScript(lab, lab.workers[0]!);

  it("turns swap off now and comments it out of fstab", () => {
    expect(script).to.contain("swapoff -a");
    expect(script).to.match(/sed -i\S* .*swap.*\/etc\/fstab/);
  });

  it("loads overlay and br_netfilter now and at boot", () => {
    expect(script).to.match(/\/etc\/modules-load\.d\/kubelab\.conf[\s\S]*overlay\nbr_netfilter\n/);
    expect(script).to.contain("modprobe overlay").and.to.contain("modprobe br_netfilter");
  });

  it("sets bridge-nf-call and ip_forward and applies them", () => {
    for (const key of [
      "net.bridge.bridge-nf-call-iptables = 1",
      "net.bridge.bridge-nf-call-ip6tables = 1",
      "net.ipv4.ip_forward = 1",
    ]) {
      expect(script).to.contain(key);
    }
    expect(script).to.contain("sysctl --system");
  });

  it("lists every node of the lab in a managed /etc/hosts block", () => {
    expect(script).to.contain(
      "# BEGIN kubelab nodes (managed by bootstrap)\n192.168.56.10 m-k8s\n192.168.56.101 w1-k8s\n192.168.56.102 w2-k8s\n# END kubelab nodes",
    );
    expect(script).to.contain("NODE_NAME='w1-k8s'");
  });

  it("enables time sync", () => {
    expect(script).to.match(/timedatectl set-ntp true|chrony/);
  });

  it("does not repeat the classic lab's shortcuts (no SELinux, no public DNS override)", () => {
    expect(script).not.to.contain("setenforce");
    expect(script).not.to.contain("resolv.conf");
  });
});
