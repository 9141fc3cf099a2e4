// The etcd restore of providers whose nodes have a shell (vagrant, kind, podman): restore-etcd.sh on the control plane.
import { join } from "node:path";

import { readFile, rm } from "node:fs/promises";

import { printable, trustedSnapshotRecord, type TrustedSnapshot } from "../etcd/record.ts";
import type { Lab } from "../lab/config.ts";
import { StateError, StepError } from "../errors.ts";
import { FileMode, writeFileAtomic } from "../files.ts";
import { hostBackupsDir, type EtcdRestoreResult, type Provider, type ProviderContext } from "./provider.ts";
import { parseRestoreResult, renderRestoreScript } from "../etcd/restore-script.ts";
import { nodeLogPath } from "../lab/workdir.ts";

/** The whole script: verify, stop the static pods, restore, restart, wait for /readyz (each wait 5 min). */
const RESTORE_SCRIPT_TIMEOUT_MS = 20 * 60_000;

/** `2026-11-26T23:30:05.123Z` -> `20261126T233005Z`: names the new data dir and the manifest stash. */
export function restoreStamp(now: Date): string {
  return now
    .toISOString()
    .replaceAll(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/**
 * Reads and checks the agent's record of snapshot `name` (etcd/record.ts): from the control plane's backup
 * `directory` through the provider's shell, or from `.kubelab/backups/` where the lab's etcd runs on the host
 * (sim). This, not the EtcdSnapshot object, is what the restore then uses: the file, its sha256, its node.
 */
export async function readTrustedSnapshot(
  provider: Pick<Provider, "copyFromNode" | "local">,
  lab: Lab,
  name: string,
  directory: string,
  context: ProviderContext,
): Promise<TrustedSnapshot> {
  const local = provider.local !== undefined;
  const dir = local ? hostBackupsDir(context.workDir) : directory;
  const record = await trustedSnapshotRecord(name, dir, async (path) => {
    if (local) return readFile(path, "utf8");
    const copy = join(context.workDir, "cache", `record-${process.pid}-${name}.json`);
    try {
      await provider.copyFromNode(lab.controlPlane, path, copy, context);
      return await readFile(copy, "utf8");
    } finally {
      await rm(copy, { force: true });
    }
  });
  return { name, directory: dir, record };
}

/**
 * Renders restore-etcd.sh for `snapshot` into `.kubelab/nodes/CONTROL_PLANE/` and runs it there through
 * `provider.runScript` (vagrant ssh, docker exec): a kubeadm node has static pods, containerd's ctr and
 * crictl. The file and its sha256 are the agent's record's, in the LabCluster's backup directory on the control
 * plane: vagrant syncs that directory with `.kubelab/backups/` and kind and podman mount it, so the file
 * outlives the machine. Resolves with the new and the kept data directories the script reported; a failing
 * script is the StepError runScript throws.
 */
export async function restoreEtcdWithScript(
  provider: Pick<Provider, "runScript">,
  lab: Lab,
  snapshot: TrustedSnapshot,
  context: ProviderContext,
  now = new Date(),
): Promise<EtcdRestoreResult> {
  const node = lab.controlPlane;
  if (snapshot.record.node !== node.name) {
    throw new StateError(
      `snapshot ${snapshot.name} was taken on node ${printable(snapshot.record.node)}, not on the control plane ${node.name}`,
      { hint: "restore a snapshot taken on this lab's control plane (bootstrap backups lists them)" },
    );
  }
  const script = renderRestoreScript(lab, {
    snapshotPath: `${snapshot.directory.replace(/\/+$/, "")}/${snapshot.record.fileName}`,
    sha256: snapshot.record.sha256,
    stamp: restoreStamp(now),
  });
  const scriptPath = join(context.workDir, "nodes", node.name, "restore-etcd.sh");
  await writeFileAtomic(scriptPath, script, FileMode.secret);
  const stdout = await provider.runScript(
    node,
    scriptPath,
    { timeoutMs: RESTORE_SCRIPT_TIMEOUT_MS, step: "restore-etcd" },
    context,
  );
  const result = parseRestoreResult(stdout);
  if (result === undefined) {
    throw new StepError("restore-etcd", "restore-etcd.sh ended without reporting the new data directory", {
      node: node.name,
      logPath: nodeLogPath(context.workDir, node.name),
    });
  }
  return result;
}

/**
 * Restores `snapshot` on the lab: on the host through the provider's local extension (sim), otherwise with
 * restore-etcd.sh on the control plane.
 */
export function restoreLabEtcd(
  provider: Provider,
  lab: Lab,
  snapshot: TrustedSnapshot,
  context: ProviderContext,
): Promise<EtcdRestoreResult> {
  return provider.local === undefined
    ? restoreEtcdWithScript(provider, lab, snapshot, context)
    : provider.local.restoreEtcd(lab, snapshot, context);
}
