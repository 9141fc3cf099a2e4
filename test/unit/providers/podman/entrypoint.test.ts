// The node entrypoint: cgroup v1 paths bound under the container's own path, the Service route, then exec.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { execa } from "execa";

import { tempDir } from "../../helpers.ts";
import { NODE_CONTAINER_MOUNTINFO } from "./fixtures.ts";

const ENTRYPOINT = fileURLToPath(
  new URL("../../../../bootstrap/providers/podman/entrypoint.sh", import.meta.url),
);

/**
 * Runs the entrypoint with the system calls it makes replaced by recording fakes (mount, umount, mountpoint,
 * mkdir under /sys/fs/cgroup, stat, ip, systemd-machine-id-setup) and its /proc, /run and /etc files by
 * temp copies.
 */
async function runEntrypoint(options: { filesystem: string; routeKnown: boolean; serviceCidr?: string }) {
  const dir = await tempDir();
  await writeFile(join(dir, "mountinfo"), NODE_CONTAINER_MOUNTINFO);
  await writeFile(join(dir, "machine-id"), "");
  for (const [name, value] of Object.entries(HOST_SYSCTLS)) {
    await mkdir(join(dir, "proc-sys", name, ".."), { recursive: true });
    await writeFile(join(dir, "proc-sys", name), `${value}\n`);
  }
  const source = (await readFile(ENTRYPOINT, "utf8"))
    .replaceAll("/proc/self/mountinfo", join(dir, "mountinfo"))
    .replaceAll("/etc/machine-id", join(dir, "machine-id"))
    .replaceAll("/proc/sys/", `${join(dir, "proc-sys")}/`)
    .replaceAll("/run/kubelab-sysctl", join(dir, "shadows"));
  const fakes = `
mount() { echo "MOUNT $*"; }
umount() { echo "UMOUNT $*"; }
mountpoint() { return 1; }
mkdir() { echo "MKDIR $*"; [[ $* == *"/sys/fs/cgroup"* ]] || command mkdir "$@"; }
stat() { echo ${options.filesystem}; }
systemd-machine-id-setup() { echo 0123456789abcdef0123456789abcdef >"${join(dir, "machine-id")}"; }
ip() {
  case "$*" in
    "-4 route get "*) ${options.routeKnown ? "return 0" : "return 2"} ;;
    "-o -4 route show scope link") echo "192.168.56.0/24 dev eth0 proto kernel scope link src 192.168.56.10" ;;
    *) echo "IP $*" ;;
  esac
}
`;
  const script = source.replace("\ninfo() {", `\n${fakes}\ninfo() {`);
  await writeFile(join(dir, "entrypoint"), script);
  const result = await execa("bash", [join(dir, "entrypoint"), "echo", "EXEC"], {
    env: options.serviceCidr === undefined ? {} : { KUBELAB_SERVICE_CIDR: options.serviceCidr },
    all: true,
  });
  return { ...result, dir };
}

/** The host's values of the kernel-wide sysctls the kubelet tunes, as the fake /proc/sys holds them. */
const HOST_SYSCTLS = {
  "vm/overcommit_memory": "0",
  "kernel/panic": "1",
  "kernel/panic_on_oops": "0",
  "kernel/keys/root_maxkeys": "200",
  "kernel/keys/root_maxbytes": "20000",
};

describe("providers/podman/entrypoint", () => {
  it("on cgroup v1 unstacks the host's whole name=systemd tree and binds each hierarchy at the container's own path", async () => {
    const { stdout } = await runEntrypoint({ filesystem: "tmpfs", routeKnown: true });
    const lines = stdout.split("\n");
    const mounts = lines.filter((line) => line.startsWith("MOUNT --bind /sys/fs/cgroup"));
    expect(mounts.sort()).to.deep.equal([
      "MOUNT --bind /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu/libpod_parent/libpod-ab12",
      "MOUNT --bind /sys/fs/cgroup/memory /sys/fs/cgroup/memory/libpod_parent/libpod-ab12",
      "MOUNT --bind /sys/fs/cgroup/net_cls,net_prio /sys/fs/cgroup/net_cls,net_prio/libpod_parent/libpod-ab12",
      "MOUNT --bind /sys/fs/cgroup/systemd /sys/fs/cgroup/systemd/libpod_parent/libpod-ab12",
    ]);
    const unstack = lines.indexOf("UMOUNT --recursive /sys/fs/cgroup/systemd");
    expect(unstack, stdout).to.be.greaterThan(-1);
    expect(unstack).to.be.lessThan(lines.indexOf(mounts.find((line) => line.includes("/systemd "))!));
    expect(stdout).to.contain("MOUNT --make-rshared /");
    expect(stdout.trim().split("\n").at(-1)).to.equal("EXEC");
  });

  it("on cgroup v2 binds and unmounts nothing", async () => {
    const { stdout } = await runEntrypoint({ filesystem: "cgroup2fs", routeKnown: true });
    expect(stdout).not.to.contain("MOUNT --bind /sys/fs/cgroup");
    expect(stdout).not.to.contain("UMOUNT");
  });

  it("routes the Service CIDR on-link when the node has no route for it, and leaves a routed node alone", async () => {
    const unrouted = await runEntrypoint({
      filesystem: "tmpfs",
      routeKnown: false,
      serviceCidr: "10.96.0.0/12",
    });
    expect(unrouted.stdout).to.contain("IP -4 route add 10.96.0.0/12 dev eth0");
    const routed = await runEntrypoint({
      filesystem: "tmpfs",
      routeKnown: true,
      serviceCidr: "10.96.0.0/12",
    });
    expect(routed.stdout).not.to.contain("route add");
    const unset = await runEntrypoint({ filesystem: "tmpfs", routeKnown: false });
    expect(unset.stdout).not.to.contain("route add");
  });

  it("shadows each kernel-wide sysctl the kubelet tunes with a copy of the host's value, so the host keeps its own", async () => {
    const { stdout, dir } = await runEntrypoint({ filesystem: "tmpfs", routeKnown: true });
    for (const [name, value] of Object.entries(HOST_SYSCTLS)) {
      const shadow = join(dir, "shadows", name.replaceAll("/", "."));
      expect(stdout).to.contain(`MOUNT --bind ${shadow} ${join(dir, "proc-sys", name)}`);
      expect(await readFile(shadow, "utf8")).to.equal(`${value}\n`);
    }
  });

  it("gives an image's empty machine id a fresh one", async () => {
    const { all } = await runEntrypoint({ filesystem: "tmpfs", routeKnown: true });
    expect(all).to.contain("machine id 0123456789abcdef0123456789abcdef");
  });

  it("passes shellcheck", async () => {
    const lint = await execa("shellcheck", ["--severity=style", ENTRYPOINT], { reject: false });
    expect(lint.exitCode, lint.stdout).to.equal(0);
  });
});
