// The podman provider's node image: a Debian rootfs with what the VM scripts expect of an Ubuntu cloud box.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import type { RootfsSpec } from "../../kit/rootfs.ts";

/** The image's repository in podman's local storage; the tag is the digest of everything it is made of. */
export const NODE_IMAGE_REPOSITORY = "localhost/kubelab-node";

/** Where the entrypoint lives in the image. */
const ENTRYPOINT_PATH = "/usr/local/bin/kubelab-entrypoint";
const ENTRYPOINT = readFileSync(new URL("./entrypoint.sh", import.meta.url), "utf8");

/**
 * The packages of the node image, on top of debootstrap's minbase (which brings apt, bash, coreutils,
 * dpkg, gpgv, mount, util-linux...). What the node scripts run, what the kubelet and kubeadm's preflight
 * look for (the kubelet package's Depends and kubeadm's FileExisting checks), and the tools a user expects
 * on a lab node. The Kubernetes packages themselves come from the lab's apt repository through install.sh,
 * as on a VM. No openssh: `bootstrap ssh` is `podman exec`, and nothing in the scripts uses ssh.
 */
export const NODE_IMAGE_PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "containerd",
  "runc",
  "iptables",
  "iproute2",
  "kmod",
  "conntrack",
  "socat",
  "ethtool",
  "ebtables",
  "ca-certificates",
  "curl",
  "gpg",
  "procps",
  "util-linux",
  "mount",
  "sudo",
  "less",
  "iputils-ping",
] as const;

/**
 * Run in the finished rootfs (chroot, POSIX sh): what turns a Debian install into an image every node can
 * share (the rootfs builder already empties apt's caches and drops resolv.conf and hostname).
 * - an empty machine id (each container gets its own at start, the entrypoint sees to it), and D-Bus's
 *   copy pointing at it, so no two nodes share an id;
 * - no apt sources: nothing in the image reaches for the internet; install.sh adds the lab's repository
 *   as on a VM;
 * - none of the distribution's sysctl defaults: a privileged container writing kernel.* or fs.* settings
 *   at boot would set them for the whole host; the sysctls the node needs are prepare.sh's;
 * - systemd-modules-load masked: the kernel is the host's, and the image has no modules of it to load.
 */
const POST_STEP = `: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
: >/etc/apt/sources.list
rm -rf /etc/apt/sources.list.d/*
rm -f /usr/lib/sysctl.d/*.conf
ln -sf /dev/null /etc/systemd/system/systemd-modules-load.service
`;

/**
 * What the kit's rootfs builder makes: Debian minbase plus the packages and the post step. The entrypoint
 * is not in it: it is the layer nodeContainerfile adds, so changing it does not mean a new debootstrap.
 */
export function nodeRootfsSpec(): RootfsSpec {
  return { name: "node", variant: "minbase", packages: [...NODE_IMAGE_PACKAGES], postStep: POST_STEP };
}

/** The rootfs imported as it is, tagged by its digest: the base the node image is built on. */
export function nodeRootfsImage(rootfsDigest: string): string {
  return `${NODE_IMAGE_REPOSITORY}-rootfs:${rootfsDigest.slice(0, 16)}`;
}

/** The build context's file name of the entrypoint. */
export const ENTRYPOINT_FILE = "kubelab-entrypoint";

/**
 * The node image's Containerfile (`podman build --pull=never`, no RUN: nothing runs or downloads): the
 * entrypoint on the rootfs, systemd as PID 1 behind it, stopped the way systemd wants (SIGRTMIN+3 is its
 * "halt"), and the `container` variable systemd and systemd-detect-virt read.
 */
export function nodeContainerfile(base: string): string {
  return `FROM ${base}
COPY ${ENTRYPOINT_FILE} ${ENTRYPOINT_PATH}
ENV container=podman
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["${ENTRYPOINT_PATH}"]
CMD ["/sbin/init"]
`;
}

/** The entrypoint's text, as the build context gets it. */
export function nodeEntrypoint(): string {
  return ENTRYPOINT;
}

/**
 * The node image's reference: tagged by the digest of its rootfs (the cache key of everything in it), its
 * Containerfile and its entrypoint, so a change to any makes a new image and an unchanged one is found.
 */
export function nodeImageReference(rootfsDigest: string): string {
  const digest = createHash("sha256")
    .update(
      JSON.stringify({
        rootfsDigest,
        containerfile: nodeContainerfile(nodeRootfsImage(rootfsDigest)),
        entrypoint: ENTRYPOINT,
      }),
    )
    .digest("hex");
  return `${NODE_IMAGE_REPOSITORY}:${digest.slice(0, 16)}`;
}
