// `bootstrap down`: destroy the lab's machines and forget its progress (the download cache and logs stay).
import { rm } from "node:fs/promises";
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
 * hide a VM), then removes the state, kubeconfig, secrets and rendered files. Asks first on a terminal;
 * without a terminal it needs --yes (UsageError, exit 2, nothing destroyed).
 */
export async function down(global: GlobalOptions, options: DownOptions, io: CommandIo): Promise<void> {
  const session = await openSession(global, io);
  try {
    const lab = await existingOrConfiguredLab(session);
    const names = lab.nodes.map((node) => node.name).join(", ");
    const confirmed = await confirm(io, {
      ...(options.yes === undefined ? {} : { yes: options.yes }),
      refusal: `bootstrap down destroys the lab ${lab.name} (${names}) and needs confirmation`,
      question: `Destroy lab ${lab.name} (${names}) and its state in ${session.workDir.root}? [y/N] `,
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
      io.stdout.write(
        `Lab ${lab.name} destroyed. Kept: ${hostBackupsDir(session.workDir.root)} (etcd snapshots), ` +
          `${session.workDir.cacheDir} (downloads) and ${session.workDir.logsDir}.\n`,
      );
      io.stdout.write(`If you merged its kubeconfig: kubectl config delete-context kubelab-${lab.name}\n`);
    } finally {
      await release();
    }
  } finally {
    await closeLogger(session.logger);
  }
}
