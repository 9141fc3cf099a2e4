// The Vagrantfile, evaluated by Ruby with a recording stand-in for Vagrant: it defines the machines of nodes.json.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { VagrantProvider } from "../../../../bootstrap/providers/vagrant/provider.ts";
import { FIXTURES, labOf, tempDir } from "../../helpers.ts";
import { requireSystemTool } from "../../../../scripts/system-tools.ts";

interface Call {
  path: string;
  args: unknown[];
}

async function evaluate(settings: Record<string, unknown>): Promise<Call[]> {
  const dir = await tempDir();
  for (const [name, content] of new VagrantProvider().renderFiles(labOf(settings)))
    await writeFile(join(dir, name), content);
  const { stdout } = await execa("ruby", [join(FIXTURES, "vagrant-stub.rb"), join(dir, "Vagrantfile")]);
  return stdout.split("\n").map((line) => JSON.parse(line) as Call);
}

function args(calls: Call[], path: string): unknown[][] {
  return calls.filter((call) => call.path === path).map((call) => call.args);
}

describe("providers/vagrant/Vagrantfile", () => {
  before(() => requireSystemTool("ruby"));

  it("defines one machine per node, control plane primary, with hostname and host-only address", async () => {
    const calls = await evaluate({ workers: { count: 2 } });
    expect(args(calls, "vm.define")).to.deep.equal([
      ["m-k8s", { primary: true }],
      ["w1-k8s", { primary: false }],
      ["w2-k8s", { primary: false }],
    ]);
    expect(args(calls, "vm.define(w2-k8s).vm.hostname")).to.deep.equal([["w2-k8s"]]);
    expect(args(calls, "vm.define(w2-k8s).vm.network")).to.deep.equal([
      ["private_network", { ip: "192.168.56.102", netmask: "255.255.255.0" }],
    ]);
  });

  it("uses the box, shares no project folder (/vagrant), and needs Vagrant 2.4", async () => {
    const calls = await evaluate({ vagrant: { box: "bento/ubuntu-24.04", boxVersion: "202502.21.0" } });
    expect(args(calls, "require_version")).to.deep.equal([[">= 2.4.0"]]);
    expect(args(calls, "vm.box")).to.deep.equal([["bento/ubuntu-24.04"]]);
    expect(args(calls, "vm.box_version")).to.deep.equal([["202502.21.0"]]);
    expect(args(calls, "vm.synced_folder")).to.deep.equal([[".", "/vagrant", { disabled: true }]]);
  });

  it("sizes each machine for VirtualBox and libvirt from the lab", async () => {
    const calls = await evaluate({
      controlPlane: { cpus: 4, memoryMiB: 8192 },
      workers: { count: 1, memoryMiB: 4096 },
    });
    expect(args(calls, "vm.define(m-k8s).vm.provider(virtualbox).cpus")).to.deep.equal([[4]]);
    expect(args(calls, "vm.define(m-k8s).vm.provider(virtualbox).memory")).to.deep.equal([[8192]]);
    expect(args(calls, "vm.define(w1-k8s).vm.provider(libvirt).memory")).to.deep.equal([[4096]]);
  });

  it("syncs the control plane's etcd backup dir to .kubelab/backups/ (root-only), and no worker's", async () => {
    const calls = await evaluate({ workers: { count: 1 } });
    expect(args(calls, "vm.define(m-k8s).vm.synced_folder")).to.deep.equal([
      [
        "backups",
        "/var/lib/kubelab/etcd-backups",
        {
          type: "virtualbox",
          create: true,
          owner: "root",
          group: "root",
          mount_options: ["dmode=0700", "fmode=0600"],
        },
      ],
    ]);
    expect(args(calls, "vm.define(w1-k8s).vm.synced_folder")).to.deep.equal([]);
  });

  it("uses virtiofs with shared memory for the backup dir on libvirt", async () => {
    const calls = await evaluate({ vagrant: { provider: "libvirt" }, workers: { count: 0 } });
    expect(args(calls, "vm.define(m-k8s).vm.synced_folder")).to.deep.equal([
      ["backups", "/var/lib/kubelab/etcd-backups", { type: "virtiofs" }],
    ]);
    expect(args(calls, "vm.define(m-k8s).vm.provider(libvirt).memorybacking")).to.deep.equal([
      [":access", { mode: "shared" }],
    ]);
  });

  it("creates the owner-only drop folder the provider uploads scripts into", async () => {
    const calls = await evaluate({ workers: { count: 0 } });
    expect(args(calls, "vm.define(m-k8s).vm.provision")).to.deep.equal([
      [
        "kubelab-dropbox",
        { type: "shell", inline: "install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.kubelab" },
      ],
    ]);
  });
});
