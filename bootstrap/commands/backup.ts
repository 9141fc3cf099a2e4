// `bootstrap backup` (run the lab's etcd backup now and print the snapshot) and `bootstrap backups` (list them).
import { listBackups, formatBackups, runBackup } from "../backup.ts";
import { StateError } from "../errors.ts";
import { readTextIfExists } from "../files.ts";
import { loadKubeConfig } from "../kube.ts";
import {
  closeLogger,
  existingOrConfiguredLab,
  openSession,
  type CommandIo,
  type GlobalOptions,
  type LabSession,
} from "./common.ts";

export interface BackupOptions {
  readonly labCluster?: string;
}

async function labKubeConfig(session: LabSession) {
  const lab = await existingOrConfiguredLab(session);
  if ((await readTextIfExists(session.workDir.kubeconfigFile)) === undefined) {
    throw new StateError(`lab ${lab.name} has no kubeconfig yet (${session.workDir.kubeconfigFile})`, {
      hint: "run `bootstrap up` first",
    });
  }
  return loadKubeConfig(session.workDir.kubeconfigFile);
}

/** Runs the backup CronJob once, waits for its Job, and prints the verified snapshot it recorded. */
export async function backup(global: GlobalOptions, options: BackupOptions, io: CommandIo): Promise<void> {
  const session = await openSession(global, io);
  try {
    const config = await labKubeConfig(session);
    const result = await runBackup(config, {
      ...(options.labCluster === undefined ? {} : { labCluster: options.labCluster }),
      signal: io.signal,
      progress: (line) => session.logger.info(line),
    });
    const verification = result.snapshot.status?.verification;
    io.stdout.write(
      `snapshot ${result.snapshot.metadata.name} on ${result.snapshot.spec.node}: ` +
        `${result.snapshot.spec.directory}/${result.snapshot.spec.fileName}, revision ` +
        `${result.snapshot.spec.etcd.revision}, ${verification?.verified === true ? "verified" : "not verified"}` +
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
    const { snapshots, unreadable } = await listBackups(await labKubeConfig(session));
    if (snapshots.length === 0) io.stdout.write("No snapshots yet: `bootstrap backup` takes one now.\n");
    else io.stdout.write(formatBackups(snapshots));
    if (unreadable > 0) io.stderr.write(`(${unreadable} EtcdSnapshot object(s) could not be read)\n`);
  } finally {
    await closeLogger(session.logger);
  }
}
