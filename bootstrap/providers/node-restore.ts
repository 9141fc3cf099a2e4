// The etcd restore of providers whose nodes have a shell (vagrant, kind, podman): restore-etcd.sh on the control plane.
import { join } from "node:path";

import type { EtcdSnapshot } from "../../operator/api/etcdsnapshot.ts";
import type { Lab } from "../lab/config.ts";
import { StateError, StepError } from "../errors.ts";
import { FileMode, writeFileAtomic } from "../files.ts";
import type { EtcdRestoreResult, Provider, ProviderContext } from "./provider.ts";
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
 * Renders restore-etcd.sh for `snapshot` into `.kubelab/nodes/CONTROL_PLANE/` and runs it there through
 * `provider.runScript` (vagrant ssh, docker exec): a kubeadm node has static pods, containerd's ctr and
 * crictl. The snapshot file must be on the control plane, where the backup CronJob wrote it (spec.directory,
 * the LabCluster's hostPath): vagrant syncs that directory with `.kubelab/backups/` and kind mounts it, so the
 * file outlives the machine. Resolves with the new and the
 * kept data directories the script reported; a failing script is the StepError runScript throws.
 */
export async function restoreEtcdWithScript(
  provider: Pick<Provider, "runScript">,
  lab: Lab,
  snapshot: EtcdSnapshot,
  context: ProviderContext,
  now = new Date(),
): Promise<EtcdRestoreResult> {
  const node = lab.controlPlane;
  if (snapshot.spec.node !== node.name) {
    throw new StateError(
      `snapshot ${snapshot.metadata.name} is on node ${snapshot.spec.node}, not on the control plane ${node.name}`,
      { hint: "restore a snapshot taken on this lab's control plane (bootstrap backups lists them)" },
    );
  }
  const script = renderRestoreScript(lab, {
    snapshotPath: `${snapshot.spec.directory.replace(/\/+$/, "")}/${snapshot.spec.fileName}`,
    sha256: snapshot.spec.sha256,
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
  snapshot: EtcdSnapshot,
  context: ProviderContext,
): Promise<EtcdRestoreResult> {
  return provider.local === undefined
    ? restoreEtcdWithScript(provider, lab, snapshot, context)
    : provider.local.restoreEtcd(lab, snapshot, context);
}
