// `bootstrap down`: destroy the lab's machines and forget its progress (the download cache and logs stay).
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";

import { hostBackupsDir } from "../providers/provider.ts";
import { acquireLock } from "../lab/state.ts";
import {
  closeLogger,
  confirm,
  existingOrConfiguredLab,
  openSession,
  providerContextOf,
  providerFor,
  recordLog,
  type CommandIo,
  type GlobalOptions,
} from "./common.ts";

export interface DownOptions {
  readonly yes?: boolean;
  /** Also delete `.kubelab/backups/`: the etcd snapshots, which hold every Secret of the cluster. */
  readonly purgeBackups?: boolean;
}

/** Work-dir entries that describe a cluster that no longer exists after `down`. */
const CLUSTER_ENTRIES = [
  "state.json",
  "kubeconfig",
  "pki",
  "secrets",
  "nodes",
  "addons",
  "Vagrantfile",
  "nodes.json",
];

/**
 * Destroys every machine of the lab (the lab as created, from state.json, so an edited lab.yaml cannot
 * hide a VM), then removes the state, kubeconfig, secrets and rendered files. The etcd snapshots are kept
 * (they rebuild the lab's state) unless --purge-backups; either way the output says what they hold. Asks
 * first on a terminal; without a terminal it needs --yes (UsageError, exit 2, nothing destroyed).
 */
export async function down(global: GlobalOptions, options: DownOptions, io: CommandIo): Promise<void> {
  const session = await openSession(global, io);
  try {
    const lab = await existingOrConfiguredLab(session);
    const names = lab.nodes.map((node) => node.name).join(", ");
    const backups = hostBackupsDir(session.workDir.root);
    const purge = options.purgeBackups === true;
    const confirmed = await confirm(io, {
      ...(options.yes === undefined ? {} : { yes: options.yes }),
      refusal: `bootstrap down destroys the lab ${lab.name} (${names}) and needs confirmation`,
      question: `Destroy lab ${lab.name} (${names}) and its state${purge ? ", and its etcd snapshots" : ""} in ${session.workDir.root}? [y/N] `,
    });
    if (!confirmed) {
      io.stdout.write("Nothing destroyed.\n");
      return;
    }
    recordLog(session, "down");
    const release = await acquireLock(session.workDir.root, "down");
    try {
      const provider = providerFor(lab);
      const context = providerContextOf(session, (node, line) => io.stdout.write(`  ${node}: ${line}\n`));
      await provider.preflight(lab, context);
      io.stdout.write(`Destroying lab ${lab.name} (${names})...\n`);
      await provider.destroy(lab, context);
      await session.state.remove();
      for (const entry of CLUSTER_ENTRIES)
        await rm(join(session.workDir.root, entry), { recursive: true, force: true });
      const snapshots = await snapshotFiles(backups);
      if (purge) await rm(backups, { recursive: true, force: true });
      io.stdout.write(
        `Lab ${lab.name} destroyed. Kept: ${purge ? "" : `${backups} (etcd snapshots), `}` +
          `${session.workDir.cacheDir} (downloads) and ${session.workDir.logsDir}.\n`,
      );
      if (purge) {
        io.stdout.write(`Deleted ${snapshots.length} etcd snapshot(s) with ${backups}.\n`);
      } else if (snapshots.length > 0) {
        io.stdout.write(
          `The ${snapshots.length} etcd snapshot(s) in ${backups} hold every Secret of the cluster, in clear ` +
            `(owner-only files). Keep them to restore the lab, or delete them: bootstrap down --purge-backups ` +
            `(or rm -r ${backups}).\n`,
        );
      }
      io.stdout.write(`If you merged its kubeconfig: kubectl config delete-context kubelab-${lab.name}\n`);
    } finally {
      await release();
    }
  } finally {
    await closeLogger(session.logger);
  }
}

/** The snapshot files (`*.db`) in the backups directory; none when it does not exist. */
async function snapshotFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  return entries.filter((name) => name.endsWith(".db"));
}
