// The podman suites' harness: real podman as root, unique lab names, and the cleanup of what a killed run left.
import { cp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

import type { Lab } from "../../../bootstrap/lab/config.ts";
import { silentLogger } from "../../../bootstrap/log.ts";
import {
  HOST_PATHS,
  parseMountinfo,
  releaseHostCgroups,
} from "../../../bootstrap/providers/podman/host-cgroups.ts";
import { listLabelled, removeLab, type Podman } from "../../../bootstrap/providers/podman/objects.ts";
import { LAB_ID_LABEL } from "../../../bootstrap/providers/podman/spec.ts";
import type { ProviderContext } from "../../../bootstrap/providers/provider.ts";
import { runProcess } from "../../../bootstrap/process.ts";
import { labOf } from "../../unit/helpers.ts";

/**
 * A podman suite's lab: 1 control plane and 1 worker named `name`, on 192.168.SUBNET.0/24 (each suite its
 * own, so suites never share a network), sized to leave room on a 2-core CI machine.
 */
export function suiteLab(name: string, subnet: number): Lab {
  return labOf({
    name,
    provider: "podman",
    kubernetes: { version: "1.36.5" },
    network: { hostOnlyCidr: `192.168.${subnet}.0/24` },
    controlPlane: { ip: `192.168.${subnet}.10`, memoryMiB: 2048 },
    workers: { count: 1, firstIp: `192.168.${subnet}.101`, memoryMiB: 1536 },
  });
}

/** Why the podman suites cannot run here, or undefined when they can (root, podman and runc present). */
export async function podmanUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "the podman provider needs root";
  for (const tool of ["podman", "runc", "debootstrap"]) {
    const found = await execa(tool, ["--version"], { reject: false, timeout: 30_000 });
    if (found.exitCode !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

/** podman through bootstrap's runner, logging to `logFile`. */
export function podmanRunner(logFile: string): Podman {
  return (args, options = {}) =>
    runProcess("podman", args, {
      timeoutMs: options.timeoutMs ?? 120_000,
      signal: new AbortController().signal,
      logFile,
    });
}

/**
 * Removes everything labelled as lab `labName` (whatever work dir made it: the suites use lab names of
 * their own, so this is an earlier, killed run of the same suite), then undoes the host prep if no node
 * container of any lab remains. Never looks at names.
 */
export async function removeLeftovers(labName: string, logFile: string): Promise<void> {
  const podman = podmanRunner(logFile);
  await removeLab(podman, labName);
  await releaseHostCgroups({
    signal: new AbortController().signal,
    logFile,
    stillNeeded: async () =>
      (await listLabelled(podman, LAB_ID_LABEL)).some((object) => object.kind === "container"),
  });
}

/** The host's cgroup mounts, one "MOUNT_POINT TYPE OPTIONS" line each: compared before and after a suite. */
export async function hostCgroupMounts(): Promise<string[]> {
  return parseMountinfo(await readFile(HOST_PATHS.mountinfo, "utf8"))
    .filter((mount) => mount.mountPoint.startsWith(`${HOST_PATHS.cgroupRoot}/`))
    .map((mount) => `${mount.mountPoint} ${mount.type} ${mount.superOptions.join(",")}`)
    .sort();
}

/** A provider context for `workDir`, collecting progress lines. */
export function providerContext(workDir: string, lines: string[] = []): ProviderContext {
  return {
    workDir,
    logger: silentLogger(),
    signal: new AbortController().signal,
    progress: (node, line) => lines.push(`${node}: ${line}`),
  };
}

/** `podman exec CONTAINER ARGS...`, resolving with stdout. */
export async function execIn(container: string, args: readonly string[]): Promise<string> {
  return (await execa("podman", ["exec", container, ...args], { timeout: 120_000 })).stdout;
}

/** The node log of `node` in `workDir`. */
export function nodeLog(workDir: string, node: string): Promise<string> {
  return readFile(join(workDir, "logs", `${node}.log`), "utf8");
}

/** The kit's archive of `reference` (`registry.k8s.io/pause:3.10.2` -> `registry.k8s.io_pause_3.10.2.tar`). */
export function imageArchive(imagesDir: string, reference: string): string {
  return join(imagesDir, `${reference.replaceAll(/[/:]/g, "_")}.tar`);
}

/**
 * After a failed suite the work dir's logs (every node script's output, podman's commands) would go with
 * the temp dir: they are copied to `<tmp>/kubelab-podman-<lab>-logs/` and the path is printed.
 */
export async function keepLogsOnFailure(suite: Mocha.Suite, workDir: string, labName: string): Promise<void> {
  const failed = suite.tests.some((test) => test.state === "failed");
  if (!failed) return;
  const kept = join(tmpdir(), `kubelab-podman-${labName}-logs`);
  await rm(kept, { recursive: true, force: true });
  await cp(join(workDir, "logs"), kept, { recursive: true }).catch(() => undefined);
  console.log(`      logs of the failed suite kept in ${kept}`);
}

/** `KUBELAB_PODMAN_KEEP=1` keeps a suite's lab (containers, network, work dir) for a look after the run. */
export function keepLab(workDir: string): boolean {
  if (process.env.KUBELAB_PODMAN_KEEP !== "1") return false;
  console.log(`      KUBELAB_PODMAN_KEEP=1: the lab is kept (work dir ${workDir}); the next run removes it`);
  return true;
}
