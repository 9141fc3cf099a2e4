// podman helpers of the kit's integration tests: images from rootfs tarballs and one-shot containers, all labelled.
import { execa } from "execa";

import type { Rootfs } from "../../../bootstrap/kit/rootfs.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

/** Every image and container the kit's tests make carries it, so a killed run's leftovers can be found. */
export const KIT_TEST_LABEL = "kubelab.dev/test=kit";

/**
 * `podman run --rm` with what this host needs: runc (crun 1.8 refuses the hybrid cgroup v1 layout) and
 * explicit ulimits (podman's defaults exceed what a root without CAP_SYS_RESOURCE may set).
 */
export function podmanRunArgs(): string[] {
  return [
    "run",
    "--rm",
    // Images are local (imported or pulled by the test); never ask a registry for one.
    "--pull=never",
    "--label",
    KIT_TEST_LABEL,
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=4096:4096",
    "--ulimit",
    "nproc=4096:4096",
  ];
}

/** `podman import` of a rootfs tarball as `localhost/kubelab-<name>:<digest prefix>`; returns the reference. */
export async function importRootfsImage(rootfs: Rootfs, name: string): Promise<string> {
  const reference = `localhost/kubelab-${name}:${rootfs.digest.slice(0, 12)}`;
  const exists = await execa("podman", ["image", "exists", reference], { reject: false });
  if (exists.exitCode !== 0) {
    await execa("podman", [
      "import",
      "--quiet",
      "--change",
      `LABEL ${KIT_TEST_LABEL}`,
      rootfs.tarball,
      reference,
    ]);
  }
  return reference;
}

export async function removeImage(reference: string): Promise<void> {
  await execa("podman", ["rmi", "--force", reference], { reject: false });
}

/**
 * Runs `script` with bash in a one-shot container of `image` on `network` (`none` for an offline node),
 * with `volumes` (`host:container[:ro]`); never rejects: the caller checks the exit code and reads `all`.
 */
export async function runScriptIn(
  image: string,
  script: string,
  options: { network: string; volumes?: readonly string[] },
): Promise<{ exitCode: number | undefined; all: string }> {
  const result = await execa(
    "podman",
    [
      ...podmanRunArgs(),
      "--network",
      options.network,
      ...(options.volumes ?? []).flatMap((volume) => ["--volume", volume]),
      image,
      "bash",
      "-c",
      script,
    ],
    { reject: false, all: true },
  );
  return { exitCode: result.exitCode, all: result.all };
}

/** A script that writes `text` to `path` and runs it with bash (a heredoc keeps its quoting as is). */
export function runFileScript(path: string, text: string): string {
  return `cat > ${path} <<'KUBELAB_EOF'\n${text}KUBELAB_EOF\nbash ${path}`;
}

/** For a `before` hook: the tools building a kit and running its containers need (the same one-line message). */
export async function requireKitTools(): Promise<void> {
  for (const tool of ["dpkg-deb", "gpg", "debootstrap", "podman"]) await requireSystemTool(tool);
}
