// prepare.sh: the host settings kubeadm's preflight expects, and every node in /etc/hosts.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { renderPrepareScript } from "../../../bootstrap/provision/prepare.ts";
import { labOf, tempDir } from "../helpers.ts";

describe("provision/prepare", () => {
  const lab = labOf({ workers: { count: 2 } });
  const script = renderPrepareScript(lab, lab.workers[0]!);

  /** Runs the script's lines from `from` up to `to` with fakes defined first; resolves with the result. */
  async function runPart(from: string, to: string, fakes: string, replace: Record<string, string> = {}) {
    let part = script.slice(script.indexOf(from), script.indexOf(to));
    for (const [path, by] of Object.entries(replace)) part = part.replaceAll(path, by);
    const snippet = `set -euo pipefail\nlog() { echo "log: $*"; }\nfail() { echo "fail: $*"; exit 1; }\nput_file() { cat >/dev/null; }\n${fakes}\n${part}`;
    return execa("bash", ["-c", snippet], { reject: false });
  }

  it("turns swap off now and comments it out of fstab", () => {
    expect(script).to.contain("swapoff -a");
    expect(script).to.match(/sed -i\S* .*swap.*\/etc\/fstab/);
  });

  it("in a container never turns swap off (it is the host's), and fails while the host has swap on", async () => {
    const fakes = (swaps: string) =>
      `systemd-detect-virt() { echo podman; }\nswapon() { printf '%s' '${swaps}'; }\nswapoff() { echo SWAPOFF; }`;
    const none = await runPart("CONTAINER=", 'log "kernel modules', fakes(""));
    expect(none.exitCode).to.equal(0);
    expect(none.stdout).to.contain("swap: none").and.not.to.contain("SWAPOFF");
    const on = await runPart("CONTAINER=", 'log "kernel modules', fakes("/dev/zram0 partition 8G 0B 100"));
    expect(on.exitCode).to.equal(1);
    expect(on.stdout).to.contain("turn swap off on the host").and.not.to.contain("SWAPOFF");
  });

  it("loads overlay and br_netfilter at boot, and now only where the kernel lacks them", async () => {
    expect(script).to.match(/\/etc\/modules-load\.d\/kubelab\.conf[\s\S]*overlay\nbr_netfilter\n/);
    const kernel = await tempDir();
    const paths = {
      "/sys/module/": `${kernel}/module/`,
      "/proc/filesystems": `${kernel}/filesystems`,
      "/proc/sys/net/bridge": `${kernel}/bridge`,
    };
    const modprobe = `modprobe() { echo "MODPROBE $1"; }`;
    await mkdir(join(kernel, "module"));
    await writeFile(join(kernel, "filesystems"), "nodev\tproc\n\text4\n");
    const bare = await runPart('log "kernel modules', 'log "sysctls', modprobe, paths);
    expect(bare.stdout).to.contain("MODPROBE overlay").and.to.contain("MODPROBE br_netfilter");
    // Built in, as on this machine's kernel: overlay listed as a filesystem, the bridge sysctls present,
    // and no /sys/module entry for br_netfilter (it has no parameters).
    await writeFile(join(kernel, "filesystems"), "nodev\tproc\nnodev\toverlay\n\text4\n");
    await mkdir(join(kernel, "bridge"));
    const builtIn = await runPart('log "kernel modules', 'log "sysctls', modprobe, paths);
    expect(builtIn.exitCode).to.equal(0);
    expect(builtIn.stdout).not.to.contain("MODPROBE");
    expect(builtIn.stdout).to.contain("overlay: already in the kernel");
    await rm(join(kernel, "bridge"), { recursive: true });
    await mkdir(join(kernel, "module", "br_netfilter"));
    const loaded = await runPart('log "kernel modules', 'log "sysctls', modprobe, paths);
    expect(loaded.stdout).not.to.contain("MODPROBE");
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

  it("enables time sync on a VM, and leaves the clock to the host in a container", async () => {
    expect(script).to.match(/timedatectl set-ntp true|chrony/);
    const fakes = (virt: string) =>
      `CONTAINER=${virt}\ntimedatectl() { echo "TIMEDATECTL $*"; }\nsystemctl() { [[ $2 != chrony.service ]]; }\napt_get() { echo APT; }`;
    const vm = await runPart('log "time sync"', 'log "prepare done', fakes("none"));
    expect(vm.stdout).to.contain("TIMEDATECTL set-ntp true");
    const container = await runPart('log "time sync"', 'log "prepare done', fakes("podman"));
    expect(container.exitCode).to.equal(0);
    expect(container.stdout).to.contain("the host's clock").and.not.to.contain("TIMEDATECTL");
  });

  it("does not repeat the classic lab's shortcuts (no SELinux, no public DNS override)", () => {
    expect(script).not.to.contain("setenforce");
    expect(script).not.to.contain("resolv.conf");
  });
});
