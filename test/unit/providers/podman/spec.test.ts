// What the podman provider creates for a lab: names, labels and the podman arguments that make nodes work here.
import { expect } from "chai";

import {
  containerdVolumeName,
  containerName,
  gatewayAddress,
  networkCreateArgs,
  nodeCreateArgs,
  nodeLimits,
  volumeCreateArgs,
} from "../../../../bootstrap/providers/podman/spec.ts";
import { labOf } from "../../helpers.ts";

const lab = labOf({ name: "demo", workers: { count: 2 } });
const owner = { lab: "demo", labId: "0123456789abcdef", workDir: "/labs/demo/.kubelab" };
const labels = [
  "kubelab.dev/lab=demo",
  "kubelab.dev/lab-id=0123456789abcdef",
  "kubelab.dev/workdir=/labs/demo/.kubelab",
];

/** The values following each `flag` in `args`. */
function valuesOf(args: readonly string[], flag: string): string[] {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1]!] : []));
}

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             96363                96363                processes
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;

describe("providers/podman/spec", () => {
  it("names containers and volumes by lab and node, and puts the host at the network's first address", () => {
    expect(containerName(lab, lab.controlPlane)).to.equal("demo-m-k8s");
    expect(containerdVolumeName(lab, lab.workers[1]!)).to.equal("demo-w2-k8s-containerd");
    expect(gatewayAddress(lab)).to.equal("192.168.56.1");
  });

  it("makes an internal network without DNS on the host-only CIDR, labelled with its lab", () => {
    const args = networkCreateArgs(lab, owner);
    expect(args.slice(0, 4)).to.deep.equal(["network", "create", "--internal", "--disable-dns"]);
    expect(valuesOf(args, "--subnet")).to.deep.equal(["192.168.56.0/24"]);
    expect(valuesOf(args, "--gateway")).to.deep.equal(["192.168.56.1"]);
    expect(valuesOf(args, "--label")).to.deep.equal(labels);
    expect(args.at(-1)).to.equal("kubelab-demo");
  });

  it("labels volumes and containers with lab, lab id, work dir, node and role", () => {
    const worker = lab.workers[0]!;
    const expected = [...labels, "kubelab.dev/node=w1-k8s", "kubelab.dev/role=worker"];
    expect(valuesOf(volumeCreateArgs(lab, worker, owner), "--label")).to.deep.equal(expected);
    const args = nodeCreateArgs({
      lab,
      node: worker,
      owner,
      image: "img",
      limits: { nofile: 1, nproc: 2 },
      hostBackupsDir: "/b",
    });
    expect(valuesOf(args, "--label")).to.deep.equal(expected);
  });

  it("runs each node as a privileged systemd container with runc, the host's cgroupns and explicit limits", () => {
    const node = lab.workers[0]!;
    const args = nodeCreateArgs({
      lab,
      node,
      owner,
      image: "localhost/kubelab-node:abc",
      limits: { nofile: 20000, nproc: 32768 },
      hostBackupsDir: "/b",
    });
    expect(args[0]).to.equal("create");
    expect(args).to.include.members([
      "--privileged",
      "--systemd=always",
      "--cgroupns=host",
      "--pids-limit=-1",
      "--no-hosts",
      "--pull=never",
    ]);
    expect(valuesOf(args, "--runtime")).to.deep.equal(["runc"]);
    expect(valuesOf(args, "--ulimit")).to.deep.equal(["nofile=20000:20000", "nproc=32768:32768"]);
    expect(valuesOf(args, "--hostname")).to.deep.equal(["w1-k8s"]);
    expect(valuesOf(args, "--network")).to.deep.equal(["kubelab-demo"]);
    expect(valuesOf(args, "--ip")).to.deep.equal(["192.168.56.101"]);
    expect(valuesOf(args, "--dns")).to.deep.equal(["192.168.56.1"]);
    expect(valuesOf(args, "--cpus")).to.deep.equal(["1"]);
    expect(valuesOf(args, "--memory")).to.deep.equal([`${node.memoryMiB}m`]);
    expect(valuesOf(args, "--memory-swap")).to.deep.equal([`${node.memoryMiB}m`]);
    expect(valuesOf(args, "--tmpfs")).to.deep.equal(["/run", "/tmp"]);
    expect(valuesOf(args, "--volume")).to.deep.equal(["demo-w1-k8s-containerd:/var/lib/containerd"]);
    expect(valuesOf(args, "--env")).to.deep.equal(["KUBELAB_SERVICE_CIDR=10.96.0.0/12"]);
    expect(args.at(-1)).to.equal("localhost/kubelab-node:abc");
  });

  it("mounts the host's backups directory into the control plane only, at the backup Jobs' directory", () => {
    const input = {
      lab,
      owner,
      image: "img",
      limits: { nofile: 1, nproc: 1 },
      hostBackupsDir: "/labs/demo/.kubelab/backups",
    };
    expect(valuesOf(nodeCreateArgs({ ...input, node: lab.controlPlane }), "--volume")).to.include(
      "/labs/demo/.kubelab/backups:/var/lib/kubelab/etcd-backups",
    );
    expect(valuesOf(nodeCreateArgs({ ...input, node: lab.workers[0]! }), "--volume").join()).not.to.contain(
      "backups",
    );
  });

  it("gives nodes this process's hard limits, nproc capped at kernel.pid_max", () => {
    expect(nodeLimits(LIMITS, "32768\n")).to.deep.equal({ nofile: 20000, nproc: 32768 });
    expect(nodeLimits(LIMITS, "4194304\n")).to.deep.equal({ nofile: 20000, nproc: 96363 });
    const unlimited = LIMITS.replace(
      /Max open files .*/,
      "Max open files            unlimited            unlimited            files",
    );
    expect(nodeLimits(unlimited, "32768").nofile).to.equal(1_048_576);
    expect(() => nodeLimits("Limit\n", "32768")).to.throw(/Max open files/);
  });
});
