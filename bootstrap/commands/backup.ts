// `bootstrap backup` (run the lab's etcd backup now and print the snapshot) and `bootstrap backups` (list them).
import { listBackups, formatBackups, runBackup } from "../etcd/backup.ts";
import { loadKubeConfig } from "../kube/client.ts";
import {
  closeLogger,
  existingOrConfiguredLab,
  openSession,
  providerContextOf,
  providerFor,
  requireLabKubeconfig,
  type CommandIo,
  type GlobalOptions,
} from "./common.ts";

export interface BackupOptions {
  readonly labCluster?: string;
}

/**
 * Takes a snapshot now and prints it: runs the backup CronJob once and waits for its Job, or, on providers
 * that cannot run its pod (sim), the provider's own backupEtcd with the same agent on the host.
 */
export async function backup(global: GlobalOptions, options: BackupOptions, io: CommandIo): Promise<void> {
  const session = await openSession(global, io);
  try {
    const lab = await existingOrConfiguredLab(session);
    await requireLabKubeconfig(session, lab);
    const provider = providerFor(lab);
    const labCluster = options.labCluster === undefined ? {} : { labCluster: options.labCluster };
    // Providers whose pods are simulated take the snapshot themselves; the others run the CronJob.
    const snapshot =
      provider.local === undefined
        ? (
            await runBackup(loadKubeConfig(session.workDir.kubeconfigFile), {
              ...labCluster,
              signal: io.signal,
              progress: (line) => session.logger.info(line),
            })
          ).snapshot
        : await provider.local.backupEtcd(
            lab,
            { kubeconfigPath: session.workDir.kubeconfigFile, ...labCluster },
            providerContextOf(session, (node, line) => session.logger.info(`${node}: ${line}`)),
          );
    const verification = snapshot.status?.verification;
    io.stdout.write(
      `snapshot ${snapshot.metadata.name} on ${snapshot.spec.node}: ` +
        `${snapshot.spec.directory}/${snapshot.spec.fileName}, revision ` +
        `${snapshot.spec.etcd.revision}, ${verification?.verified === true ? "verified" : "not verified"}` +
        `${verification === undefined ? "" : ` (${verification.message})`}\n`,
    );
  } finally {
    await closeLogger(session.logger);
  }
}

/** Lists the lab's EtcdSnapshots, newest first. */
export async function backups(global: GlobalOptions, io: CommandIo): Promise<void> {
  const session = await openSession(global, io);
  try {
    await requireLabKubeconfig(session, await existingOrConfiguredLab(session));
    const { snapshots, unreadable } = await listBackups(loadKubeConfig(session.workDir.kubeconfigFile));
    if (snapshots.length === 0) io.stdout.write("No snapshots yet: `bootstrap backup` takes one now.\n");
    else io.stdout.write(formatBackups(snapshots));
    if (unreadable > 0) io.stderr.write(`(${unreadable} EtcdSnapshot object(s) could not be read)\n`);
  } finally {
    await closeLogger(session.logger);
  }
}
