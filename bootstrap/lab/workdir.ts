// The layout of a lab's work directory `.kubelab/`, next to lab.yaml: one place that names every path, and its modes.
import { mkdirSync } from "node:fs";
import { chmod, lstat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

import { UsageError } from "../errors.ts";

/** Name of the work directory created next to lab.yaml. */
export const WORK_DIR_NAME = ".kubelab";
/** The name of the snapshots directory inside it: providers mount or sync it into the control plane. */
export const BACKUPS_DIR_NAME = "backups";

/**
 * Paths inside a lab's work directory. Everything bootstrap writes lives here, so `rm -rf .kubelab`
 * after `bootstrap down` leaves nothing behind, and two labs in two folders never share files.
 */
export interface WorkDir {
  readonly root: string;
  /** Progress of `up` (steps done, the lab as created); see state.ts. */
  readonly stateFile: string;
  /** Owner-only directory for the bootstrap token. */
  readonly secretsDir: string;
  readonly bootstrapTokenFile: string;
  /** The admin kubeconfig of the lab (mode 0600). */
  readonly kubeconfigFile: string;
  /** The cluster CA certificate fetched from the control plane (public). */
  readonly caCertFile: string;
  /** Downloads kept between runs (the Calico manifest). */
  readonly cacheDir: string;
  /** bootstrap.log (JSON records of every run) and one log per node. */
  readonly logsDir: string;
  /** Manifests exactly as applied to the cluster (addons/calico.yaml). */
  readonly addonsDir: string;
  /** Rendered per-node files: nodes/NODE/prepare.sh, install.sh, init.sh or join.sh, kubeadm-*.yaml. */
  readonly nodesDir: string;
  /** The lab's etcd snapshots (backups/), kept by `bootstrap down`: owner-only, they hold every Secret. */
  readonly backupsDir: string;
}

/** The work directory of the lab described by the lab.yaml at `configPath`. */
export function workDirFor(configPath: string): WorkDir {
  return workDirAt(join(dirname(resolve(configPath)), WORK_DIR_NAME));
}

export function workDirAt(root: string): WorkDir {
  return {
    root,
    stateFile: join(root, "state.json"),
    secretsDir: join(root, "secrets"),
    bootstrapTokenFile: join(root, "secrets", "bootstrap-token"),
    kubeconfigFile: join(root, "kubeconfig"),
    caCertFile: join(root, "pki", "ca.crt"),
    cacheDir: join(root, "cache"),
    logsDir: join(root, "logs"),
    addonsDir: join(root, "addons"),
    nodesDir: join(root, "nodes"),
    backupsDir: join(root, BACKUPS_DIR_NAME),
  };
}

/** The log that collects everything run on (or for) one node. */
export function nodeLogPath(workDir: string, node: string): string {
  return join(workDir, "logs", `${node}.log`);
}

/** The CLI's own log of a run (JSON records, debug level). */
export function cliLogPath(workDir: string): string {
  return join(workDir, "logs", "bootstrap.log");
}

/** The work directory's mode: it holds the lab's kubeconfig, join token and etcd snapshots (every Secret). */
export const WORK_DIR_MODE = 0o700;

/**
 * Creates the work directory owner-only when it is missing (the first command that writes calls this). An
 * existing one is left to secureWorkDir.
 */
export function createWorkDir(root: string): void {
  mkdirSync(root, { recursive: true, mode: WORK_DIR_MODE });
}

/**
 * Refuses a work directory another user could change or plant files in, and tightens the modes of one that
 * is only too readable (made by an older kubelab, or by a umask of 022). Throws UsageError (exit 2, nothing
 * changed) when it is not a directory, belongs to another user, or is group- or world-writable: bootstrap
 * would run its scripts as root on the nodes and trust the kubeconfig found there. Missing: nothing to do.
 */
export async function secureWorkDir(workDir: WorkDir, uid = process.getuid?.()): Promise<void> {
  const info = await lstat(workDir.root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (info === undefined) return;
  const hint = `move it away and let bootstrap make a new one (mv ${workDir.root} ${workDir.root}.old), or fix it: chown $(id -u) ${workDir.root} && chmod 700 ${workDir.root}`;
  if (!info.isDirectory()) {
    throw new UsageError(`${workDir.root} is not a directory (a symbolic link or a file)`, { hint });
  }
  if (uid !== undefined && info.uid !== uid) {
    throw new UsageError(`${workDir.root} belongs to user ${info.uid}, not to you (${uid})`, { hint });
  }
  if ((info.mode & 0o022) !== 0) {
    throw new UsageError(
      `${workDir.root} is writable by ${(info.mode & 0o002) !== 0 ? "every user" : "its group"} (mode ${(info.mode & 0o777).toString(8)})`,
      { hint },
    );
  }
  if ((info.mode & 0o077) !== 0) await chmod(workDir.root, WORK_DIR_MODE);
  for (const [path, mode] of [
    [workDir.secretsDir, WORK_DIR_MODE],
    [workDir.backupsDir, WORK_DIR_MODE],
    [workDir.kubeconfigFile, 0o600],
  ] as const) {
    const existing = await lstat(path).catch(() => undefined);
    if (existing !== undefined && !existing.isSymbolicLink() && (existing.mode & 0o077) !== 0)
      await chmod(path, mode);
  }
}
