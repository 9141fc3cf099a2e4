// The node provider contract: machines and shells (create, list, destroy, run a script, copy a file), and nothing more.
import type { EtcdSnapshot } from "../../operator/api/etcdsnapshot.ts";
import type { TrustedSnapshot } from "../etcd/record.ts";
import { labClusterSpecSchema } from "../../operator/api/labcluster.ts";
import type { Lab, LabNode } from "../lab/config.ts";
import { workDirAt } from "../lab/workdir.ts";
import type { ProviderName } from "../lab/provider-names.ts";
import type { Logger } from "../log.ts";

/** Where a node stands, as the provider sees it. */
export type NodePhase = "running" | "stopped" | "not-created" | "unknown";

export interface NodeStatus {
  readonly name: string;
  readonly phase: NodePhase;
  /** Provider-specific detail for `bootstrap status` ("virtualbox", "kwok", "pid 1234"). */
  readonly detail?: string;
}

/** Per-call context: the lab's work directory, a logger, progress and cancellation. */
export interface ProviderContext {
  /** The `.kubelab/` directory of this lab (rendered files, state, logs, cache). */
  readonly workDir: string;
  readonly logger: Logger;
  /** Aborted on Ctrl-C / SIGTERM: long calls stop their children and reject with InterruptedError. */
  readonly signal: AbortSignal;
  /** One short line of live progress for a node ("vagrant up: Booting VM..."), shown on a TTY. */
  readonly progress?: (node: string, line: string) => void;
}

export interface RunScriptOptions {
  /** Hard limit; the child is killed and a StepError names the node, the step and the log. */
  readonly timeoutMs: number;
  /** Name of the step, for logs and errors ("prepare", "kubeadm-init"). */
  readonly step: string;
}

/** What a provider can do, as data; the plan skips steps a provider cannot do, with the reason shown. */
export interface ProviderCapabilities {
  /** Nodes are real machines with a shell: node scripts, `ssh`, kubeadm. False for sim. */
  readonly shell: boolean;
  /** Kubernetes is installed by the node scripts (kubeadm init/join). False for sim and kind. */
  readonly installsKubernetes: boolean;
}

/**
 * What the plan knows of a provider: its capabilities, and whether the operator runs as a local process
 * (derived from the provider's `local` extension, never declared separately).
 */
export interface PlanCapabilities extends ProviderCapabilities {
  /** The operator runs beside the lab on the host (`provider.local`), not as the Deployment of manifests/. */
  readonly localOperator: boolean;
}

/** The plan's view of `provider`: its capabilities and whether it has the local extension. */
export function planCapabilities(provider: Pick<Provider, "capabilities" | "local">): PlanCapabilities {
  return { ...provider.capabilities, localOperator: provider.local !== undefined };
}

/** The operator a provider runs locally: its image (for the backup Jobs) and the identity it acts as. */
export interface LocalOperatorSpec {
  readonly image: string;
  /** The operator's namespace and ServiceAccount in manifests/ (kubelab-system/kubelab-operator). */
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** A locally run operator, for `up` and `status`. */
export interface LocalOperatorStatus {
  readonly running: boolean;
  readonly pid?: number;
  readonly logPath: string;
  /** One line for `status` ("local process pid 1234 as the kubelab-operator ServiceAccount, ..."). */
  readonly detail: string;
}

/**
 * The lab's snapshots on the host: `.kubelab/backups/`. Vagrant syncs the control plane's backup directory
 * (spec.etcdBackup.hostPath) here, kind mounts it into the control-plane container, and sim saves here
 * directly, so snapshots outlive `bootstrap down`, which never removes this directory.
 */
export function hostBackupsDir(workDir: string): string {
  return workDirAt(workDir).backupsDir;
}

/**
 * Where the backup Jobs write on the control-plane node: the LabCluster's default spec.etcdBackup.hostPath.
 * Vagrant syncs it with `.kubelab/backups/` and kind bind-mounts that directory there.
 */
export const NODE_BACKUPS_DIR = labClusterSpecSchema.parse({}).etcdBackup.hostPath;

/** What `backupEtcd` needs besides the lab. */
export interface EtcdBackupOptions {
  /** The lab's admin kubeconfig on the host (the agent records the EtcdSnapshot with it). */
  readonly kubeconfigPath: string;
  /** The LabCluster the snapshot belongs to; the only one when undefined (none: no owner). */
  readonly labCluster?: string;
}

/** Where a restore left etcd. */
export interface EtcdRestoreResult {
  /** The new data directory etcd runs on now (on the control-plane node, or on the host for sim). */
  readonly dataDir: string;
  /** The data directory it ran on before, left untouched (kept for a manual roll back). */
  readonly previousDataDir: string;
}

/**
 * A node provider creates, inspects and destroys the lab's machines and runs rendered files on them.
 * Every method is idempotent: `createNodes` on existing nodes starts what is stopped and leaves the
 * rest; `destroy` on a lab that does not exist succeeds. Nothing here knows about Kubernetes steps;
 * those are the plan's.
 */
export interface Provider {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  /**
   * Set by providers whose nodes only pretend to run pods (sim): the operator and the etcd snapshots run on
   * the host instead, through this one extension. Absent: the operator is the Deployment of manifests/,
   * backups are the CronJob's Jobs, and restore runs restore-etcd.sh on the control plane (node-restore.ts).
   */
  readonly local?: LocalLab;

  /**
   * Checks, before anything is created, that the provider can serve this lab: MissingToolError (exit 2)
   * when a required program is not installed, UsageError (exit 2) for lab settings the provider cannot
   * honour. Changes nothing.
   */
  preflight(lab: Lab, context: ProviderContext): Promise<void>;

  /** Files the provider needs rendered into the work dir (Vagrantfile, nodes.json...); pure. */
  renderFiles(lab: Lab): ReadonlyMap<string, string>;

  /** Current phase of every node of the lab (not-created for unknown ones). */
  status(lab: Lab, context: ProviderContext): Promise<NodeStatus[]>;

  /** Creates and starts the nodes that are not running. */
  createNodes(lab: Lab, nodes: readonly LabNode[], context: ProviderContext): Promise<void>;

  /** Destroys every node and the provider's own state; the lab's backups are kept. */
  destroy(lab: Lab, context: ProviderContext): Promise<void>;

  /**
   * Runs a script file (already rendered in the work dir) as root on a node; output goes to the node's
   * log. Resolves with stdout on exit code 0, throws StepError otherwise. Requires `capabilities.shell`.
   */
  runScript(
    node: LabNode,
    scriptPath: string,
    options: RunScriptOptions,
    context: ProviderContext,
  ): Promise<string>;

  /**
   * Copies a file from a node to the host, written atomically with mode 0600 (callers copy secrets such
   * as admin.conf; the content is never logged). Requires `capabilities.shell`.
   */
  copyFromNode(node: LabNode, remotePath: string, localPath: string, context: ProviderContext): Promise<void>;

  /**
   * Writes the cluster's admin kubeconfig to `localPath` (mode 0600), with a server URL the host can
   * reach. Called once the control plane is up: after `kubeadm init` for providers that install
   * Kubernetes, after `createNodes` for the others. Never logs the content.
   */
  fetchAdminKubeconfig(lab: Lab, localPath: string, context: ProviderContext): Promise<void>;

  /** Interactive shell or command on a node with the terminal attached; resolves with its exit code. */
  ssh(node: LabNode, command: readonly string[], context: ProviderContext): Promise<number>;

  /**
   * Imports an OCI image archive into the containerd of `nodes` (namespace k8s.io, digest kept), so their
   * kubelets find it with imagePullPolicy IfNotPresent: the operator image bootstrap assembles is in no
   * registry. Through the provider's own channel (ssh stdin, podman exec, kind load), never a shared folder.
   */
  loadImage(lab: Lab, archive: string, nodes: readonly LabNode[], context: ProviderContext): Promise<void>;
}

/**
 * The parts of a lab that run on the host because its nodes cannot run them (sim: KWOK only pretends to run
 * pods). One extension object, so a caller checks `provider.local` once and gets all of it.
 */
export interface LocalLab {
  /**
   * Runs the operator as a supervised local process beside the lab (restarted when it dies, stopped by
   * `destroy`), authorised as its ServiceAccount, and resolves once it answers its health probe. Idempotent:
   * a second call with the same spec only checks.
   */
  runOperator(lab: Lab, spec: LocalOperatorSpec, context: ProviderContext): Promise<LocalOperatorStatus>;

  /** The local operator's state; undefined when it was never started. */
  operatorStatus(lab: Lab, context: ProviderContext): Promise<LocalOperatorStatus | undefined>;

  /**
   * Takes a verified etcd snapshot now with the snapshot agent on the host and records its EtcdSnapshot
   * object, resolving with that object (the CronJob's Job would record nothing: its pod is simulated).
   * Throws StepError/CommandError when the snapshot failed or did not verify.
   */
  backupEtcd(lab: Lab, options: EtcdBackupOptions, context: ProviderContext): Promise<EtcdSnapshot>;

  /**
   * Restores `snapshot` (already chosen and confirmed by the user) the kubeadm way, on the host: verifies
   * the file first (a failure changes nothing), stops etcd and the API server, restores into a NEW data
   * directory, starts them on it and resolves once the API server answers. The previous data dir is kept.
   */
  restoreEtcd(lab: Lab, snapshot: TrustedSnapshot, context: ProviderContext): Promise<EtcdRestoreResult>;

  /**
   * Makes the EtcdSnapshot objects match the agent's records in `.kubelab/backups/` (the agent's `snapshot
   * sync` on the host): after a restore, etcd holds the objects of the restored moment.
   */
  syncSnapshots(lab: Lab, options: EtcdBackupOptions, context: ProviderContext): Promise<void>;

  /**
   * The control-plane components it runs as host processes instead of static pods (etcd, kube-apiserver,
   * ...), with their pids as its supervisor last recorded them; empty when the lab is not running.
   */
  controlPlaneProcesses(context: ProviderContext): Promise<readonly HostProcess[]>;
}

/** A component that runs as a process on the host, and whether that process is alive. */
export interface HostProcess {
  readonly component: string;
  readonly pid?: number;
  readonly running: boolean;
}
