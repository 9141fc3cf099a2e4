// What the podman provider creates for a lab, as data: names, labels and the exact podman arguments (pure).
import type { Lab, LabNode } from "../../lab/config.ts";
import { nthAddress, parseCidr } from "../../lab/ipv4.ts";
import { NODE_BACKUPS_DIR } from "../provider.ts";

/** The label every object of a lab carries (containers, volumes, the network): how leftovers are found. */
export const LAB_LABEL = "kubelab.dev/lab";
/** Which work dir's lab made the object: one random id per work dir (`.kubelab/podman/lab-id`). */
export const LAB_ID_LABEL = "kubelab.dev/lab-id";
/** The work dir itself, so a leftover whose lab folder is gone can be told from a live lab elsewhere. */
export const WORK_DIR_LABEL = "kubelab.dev/workdir";
export const NODE_LABEL = "kubelab.dev/node";
export const ROLE_LABEL = "kubelab.dev/role";

/** Where containerd keeps images and snapshots in a node: a volume (overlayfs cannot nest on overlayfs). */
export const CONTAINERD_DIR = "/var/lib/containerd";

/** Per-process limits given to every node container (podman's defaults exceed what this host allows). */
export interface NodeLimits {
  readonly nofile: number;
  readonly nproc: number;
}

/** Who made an object: the lab's name, the id of its work dir, and the work dir. */
export interface LabOwner {
  readonly lab: string;
  readonly labId: string;
  readonly workDir: string;
}

/** The lab's podman network: `kubelab-<lab>`. */
export function networkName(lab: Lab): string {
  return `kubelab-${lab.name}`;
}

/** A node's container: `<lab>-<node>`, as kind names them. Its hostname is the node's name. */
export function containerName(lab: Lab, node: LabNode): string {
  return `${lab.name}-${node.name}`;
}

/** A node's containerd volume: `<lab>-<node>-containerd`. */
export function containerdVolumeName(lab: Lab, node: LabNode): string {
  return `${containerName(lab, node)}-containerd`;
}

/**
 * The host's address on the lab network: the first of network.hostOnlyCidr (lab.yaml keeps it free for
 * the host, as on a VirtualBox host-only network). podman gives it to the bridge.
 */
export function gatewayAddress(lab: Lab): string {
  return nthAddress(parseCidr(lab.network.hostOnlyCidr), 1);
}

function labelArgs(labels: Readonly<Record<string, string>>): string[] {
  return Object.entries(labels).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
}

/** The labels that say who made an object: every object of a lab carries them (destroy and leftovers go by them). */
export function ownerLabels(owner: LabOwner): Record<string, string> {
  return { [LAB_LABEL]: owner.lab, [LAB_ID_LABEL]: owner.labId, [WORK_DIR_LABEL]: owner.workDir };
}

/**
 * `podman network create` for the lab: `--internal` (no route off the bridge, no NAT: nothing a node sends
 * leaves the machine), `--disable-dns` (aardvark-dns would forward the nodes' queries to the host's
 * resolvers), the host-only subnet with the host at its first address, which the host uses to reach the
 * nodes (the API server at the control plane's address).
 */
export function networkCreateArgs(lab: Lab, owner: LabOwner): string[] {
  return [
    "network",
    "create",
    "--internal",
    "--disable-dns",
    "--subnet",
    lab.network.hostOnlyCidr,
    "--gateway",
    gatewayAddress(lab),
    ...labelArgs(ownerLabels(owner)),
    networkName(lab),
  ];
}

/** `podman volume create` for a node's containerd directory. */
export function volumeCreateArgs(lab: Lab, node: LabNode, owner: LabOwner): string[] {
  return [
    "volume",
    "create",
    ...labelArgs({ ...ownerLabels(owner), [NODE_LABEL]: node.name, [ROLE_LABEL]: node.role }),
    containerdVolumeName(lab, node),
  ];
}

export interface RunInput {
  readonly lab: Lab;
  readonly node: LabNode;
  readonly owner: LabOwner;
  readonly image: string;
  readonly limits: NodeLimits;
  /** The host's `.kubelab/backups/`, mounted into the control plane at the backup Jobs' directory. */
  readonly hostBackupsDir: string;
}

/**
 * `podman create` for one node: a privileged systemd container (the node runs containerd, the kubelet and
 * pods, and its scripts change sysctls and mounts), with the runtime and cgroup settings this kind of host
 * needs: runc (crun 1.8 refuses the hybrid cgroup v1 layout), the host's cgroup namespace (the entrypoint
 * makes the v1 paths agree), explicit ulimits (podman's defaults exceed what a root without
 * CAP_SYS_RESOURCE may set), no pids limit (podman's 2048 is less than a control plane needs). Named,
 * addressed and sized from lab.yaml; /etc/hosts is the image's own (prepare.sh manages it; podman's would
 * be a bind mount that cannot be replaced); resolv.conf names the host's bridge address, where nothing
 * answers: nodes resolve each other through /etc/hosts and nothing else. Never pulls: the image is local.
 */
export function nodeCreateArgs(input: RunInput): string[] {
  const { lab, node } = input;
  const memory = `${node.memoryMiB}m`;
  const args = [
    "create",
    "--name",
    containerName(lab, node),
    "--hostname",
    node.name,
    ...labelArgs({ ...ownerLabels(input.owner), [NODE_LABEL]: node.name, [ROLE_LABEL]: node.role }),
    "--runtime",
    "runc",
    "--privileged",
    "--systemd=always",
    "--cgroupns=host",
    "--ulimit",
    `nofile=${input.limits.nofile}:${input.limits.nofile}`,
    "--ulimit",
    `nproc=${input.limits.nproc}:${input.limits.nproc}`,
    "--pids-limit=-1",
    "--cpus",
    String(node.cpus),
    "--memory",
    memory,
    "--memory-swap",
    memory,
    "--network",
    networkName(lab),
    "--ip",
    node.ip,
    "--dns",
    gatewayAddress(lab),
    "--no-hosts",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/tmp",
    "--volume",
    `${containerdVolumeName(lab, node)}:${CONTAINERD_DIR}`,
    "--env",
    `KUBELAB_SERVICE_CIDR=${lab.network.serviceCidr}`,
    "--pull=never",
  ];
  if (node.role === "control-plane") {
    // The backup Jobs write here; on the host it is .kubelab/backups/, so snapshots outlive `down`.
    args.push("--volume", `${input.hostBackupsDir}:${NODE_BACKUPS_DIR}`);
  }
  args.push(input.image);
  return args;
}

/**
 * The limits a node container gets: the hard limits of this process (a root without CAP_SYS_RESOURCE
 * cannot raise them), nproc also capped at kernel.pid_max (podman lowers its own and conmon's process
 * limit to it: measured, a larger nproc fails in runc with EPERM). Inputs are /proc/self/limits and
 * /proc/sys/kernel/pid_max.
 */
export function nodeLimits(procLimits: string, pidMax: string): NodeLimits {
  const hard = (name: string): number => {
    const line = procLimits.split("\n").find((text) => text.startsWith(name));
    const value = line?.slice(name.length).trim().split(/\s+/)[1];
    if (value === undefined) throw new Error(`no "${name}" line in /proc/self/limits`);
    return value === "unlimited" ? Number.POSITIVE_INFINITY : Number(value);
  };
  const cap = 1_048_576;
  const nofile = Math.min(hard("Max open files"), cap);
  const nproc = Math.min(hard("Max processes"), Number(pidMax.trim()), cap);
  if (!Number.isFinite(nofile) || !Number.isFinite(nproc)) throw new Error("unreadable process limits");
  return { nofile, nproc };
}
