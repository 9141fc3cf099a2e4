// `bootstrap restore`: bring the lab's etcd back to a verified snapshot, through the provider, then wait for the nodes.
import { labClusterSpecSchema } from "../../operator/api/labcluster.ts";
import { listBackups, runSnapshotSync } from "../etcd/backup.ts";
import {
  loadKubeConfig,
  readLabCluster,
  waitForKubelabResources,
  waitForNodesReady,
} from "../kube/client.ts";
import { labClusterName } from "../kube/labcluster.ts";
import { chooseSnapshot, LATEST, restoreSummary } from "../etcd/choose-snapshot.ts";
import { acquireLock } from "../lab/state.ts";
import { readTrustedSnapshot, restoreLabEtcd } from "../providers/node-restore.ts";
import { NODE_BACKUPS_DIR } from "../providers/provider.ts";
import {
  closeLogger,
  confirm,
  existingOrConfiguredLab,
  openSession,
  providerContextOf,
  providerFor,
  recordLog,
  requireLabKubeconfig,
  secondsFromEnv,
  type CommandIo,
  type GlobalOptions,
} from "./common.ts";

/** How long the LabCluster read (for its backup directory) may take. */
const API_TIMEOUT_MS = 10_000;

export interface RestoreOptions {
  /** A snapshot name, or `latest` (the newest verified one). */
  readonly snapshot?: string;
  readonly yes?: boolean;
}

/**
 * Chooses the snapshot (refusing one that was never verified), asks for confirmation on a terminal
 * (without one it needs --yes: UsageError, exit 2, nothing changed), restores it through the provider
 * (which verifies the file again before it stops anything) and waits until every node of the lab is Ready.
 */
export async function restore(global: GlobalOptions, options: RestoreOptions, io: CommandIo): Promise<void> {
  const session = await openSession(global, io);
  try {
    const lab = await existingOrConfiguredLab(session);
    await requireLabKubeconfig(session, lab);
    const config = loadKubeConfig(session.workDir.kubeconfigFile);
    const { snapshots } = await listBackups(config);
    // The object only names the snapshot; the file, its hash and its verification are the agent's record's.
    const chosen = chooseSnapshot(snapshots, options.snapshot ?? LATEST);
    const provider = providerFor(lab);
    const context = providerContextOf(session, (node, line) => io.stdout.write(`  ${node}: ${line}\n`));
    await provider.preflight(lab, context);
    const labCluster = await readLabCluster(config, labClusterName(lab), API_TIMEOUT_MS);
    // The LabCluster's backup directory (validated at admission: under /var/lib/kubelab/), default otherwise.
    const directory =
      labClusterSpecSchema.safeParse(labCluster?.spec ?? {}).data?.etcdBackup.hostPath ?? NODE_BACKUPS_DIR;
    const snapshot = await readTrustedSnapshot(provider, lab, chosen.metadata.name, directory, context);
    const confirmed = await confirm(io, {
      ...(options.yes === undefined ? {} : { yes: options.yes }),
      refusal: `bootstrap restore replaces lab ${lab.name}'s etcd with snapshot ${snapshot.name} and needs confirmation`,
      question: "Restore? [y/N] ",
      preamble: restoreSummary(lab.name, snapshot.record),
    });
    if (!confirmed) {
      io.stdout.write("Nothing restored.\n");
      return;
    }
    recordLog(session, "restore");
    const release = await acquireLock(session.workDir.root, "restore");
    try {
      const restored = await restoreLabEtcd(provider, lab, snapshot, context);
      io.stdout.write(`etcd restored into ${restored.dataDir}; waiting for the nodes to be Ready...\n`);
      await waitForNodesReady(
        loadKubeConfig(session.workDir.kubeconfigFile),
        lab.nodes.map((node) => node.name),
        {
          step: "restore",
          signal: io.signal,
          timeoutMs: secondsFromEnv(io.env, "KUBELAB_READY_TIMEOUT_SECONDS", 900),
          progress: (line) => session.logger.info(line),
        },
      );
      // etcd now holds the EtcdSnapshot objects of the restored moment: record the files on disk again, once
      // the API serves the custom resources again.
      await waitForKubelabResources(loadKubeConfig(session.workDir.kubeconfigFile), {
        step: "restore",
        signal: io.signal,
        timeoutMs: secondsFromEnv(io.env, "KUBELAB_API_TIMEOUT_SECONDS", 300),
      });
      const syncOptions = {
        labCluster: labClusterName(lab),
        signal: io.signal,
        progress: (line: string) => session.logger.info(line),
      };
      if (provider.local === undefined) await runSnapshotSync(config, syncOptions);
      else
        await provider.local.syncSnapshots(
          lab,
          { kubeconfigPath: session.workDir.kubeconfigFile, labCluster: labClusterName(lab) },
          context,
        );
      io.stdout.write(
        `Lab ${lab.name} restored from ${snapshot.name}; all ${lab.nodes.length} nodes are Ready, and the snapshot ` +
          `records match the backup directory again. The previous etcd data is kept in ${restored.previousDataDir}.\n`,
      );
    } finally {
      await release();
    }
  } finally {
    await closeLogger(session.logger);
  }
}
