// The apt client of the kit's integration tests: its rootfs, and install.sh's apt lines pointed at a kit repository.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { expect } from "chai";

const GOLDEN_INSTALL = fileURLToPath(
  new URL("../../unit/golden/render-default/nodes/m-k8s/install.sh", import.meta.url),
);

/** The apt client's rootfs: what install.sh's repository part needs (curl, gpg) and kubelet recommends. */
export const APT_CLIENT_ROOTFS = {
  name: "apt-client",
  variant: "minbase",
  packages: ["ca-certificates", "curl", "gpg", "iptables"],
} as const;

/**
 * install.sh's repository and package part, unchanged but for REPOSITORY (and the containerd part, which
 * needs Debian's mirror, left out): the lines from `log "apt repository` to `apt-mark hold`.
 */
export async function installScriptAptPart(repository: string): Promise<string> {
  const script = await readFile(GOLDEN_INSTALL, "utf8");
  const lines = script.split("\n");
  const header = lines.slice(
    0,
    lines.findIndex((line) => line.startsWith('log "containerd (')),
  );
  const start = lines.findIndex((line) => line.startsWith('log "apt repository'));
  const end = lines.findIndex((line) => line.startsWith("apt-mark hold kubeadm kubelet kubectl"));
  expect(start, "install.sh has an apt repository part").to.be.greaterThan(0);
  expect(end, "install.sh holds the packages").to.be.greaterThan(start);
  const withRepository = header.map((line) =>
    line.startsWith("REPOSITORY=") ? `REPOSITORY='${repository}'` : line,
  );
  expect(withRepository.join("\n")).to.contain(`REPOSITORY='${repository}'`);
  return [...withRepository, ...lines.slice(start, end + 1)].join("\n") + "\n";
}
