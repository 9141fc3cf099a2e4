// `bootstrap restore`: bring the lab's etcd back to a verified snapshot, through the provider, then wait for the nodes.
import { listBackups } from "../etcd/backup.ts";
import { loadKubeConfig, waitForNodesReady } from "../kube/client.ts";
import { chooseSnapshot, LATEST, restoreSummary } from "../etcd/choose-snapshot.ts";
import { acquireLock } from "../lab/state.ts";
import { restoreLabEtcd } from "../providers/node-restore.ts";
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
    const { snapshots } = await listBackups(loadKubeConfig(session.workDir.kubeconfigFile));
    const snapshot = chooseSnapshot(snapshots, options.snapshot ?? LATEST);
    const confirmed = await confirm(io, {
      ...(options.yes === undefined ? {} : { yes: options.yes }),
      refusal: `bootstrap restore replaces lab ${lab.name}'s etcd with snapshot ${snapshot.metadata.name} and needs confirmation`,
      question: "Restore? [y/N] ",
      preamble: restoreSummary(lab.name, snapshot),
    });
    if (!confirmed) {
      io.stdout.write("Nothing restored.\n");
      return;
    }
    recordLog(session, "restore");
    const release = await acquireLock(session.workDir.root, "restore");
    try {
      const provider = providerFor(lab);
      const context = providerContextOf(session, (node, line) => io.stdout.write(`  ${node}: ${line}\n`));
      await provider.preflight(lab, context);
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
      io.stdout.write(
        `Lab ${lab.name} restored from ${snapshot.metadata.name}; all ${lab.nodes.length} nodes are Ready. ` +
          `The previous etcd data is kept in ${restored.previousDataDir}.\n`,
      );
    } finally {
      await release();
    }
  } finally {
    await closeLogger(session.logger);
  }
}
