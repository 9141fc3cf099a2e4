// The layout of a lab's work directory `.kubelab/`, next to lab.yaml: one place that names every path.
import { dirname, join, resolve } from "node:path";

/** Name of the work directory created next to lab.yaml. */
export const WORK_DIR_NAME = ".kubelab";

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
