// The sim provider's etcd backup and restore, for real: the snapshot agent runs on the host against the lab's etcd.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ApiextensionsV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";

import { API_GROUP, API_VERSION } from "../../../operator/api/common.ts";
import {
  ETCDSNAPSHOT_PLURAL,
  etcdSnapshotSchema,
  type EtcdSnapshot,
  snapshotSyncArgs,
} from "../../../operator/api/etcdsnapshot.ts";
import { LABCLUSTER_PLURAL, labClusterSpecSchema } from "../../../operator/api/labcluster.ts";
import type { Lab } from "../../lab/config.ts";
import { StateError, UsageError } from "../../errors.ts";
import { FileMode, pathExists } from "../../files.ts";
import { loadKubeConfig } from "../../kube/client.ts";
import { runProcess } from "../../process.ts";
import type { TrustedSnapshot } from "../../etcd/record.ts";
import { restoreStamp } from "../node-restore.ts";
import {
  hostBackupsDir,
  type EtcdBackupOptions,
  type EtcdRestoreResult,
  type ProviderContext,
} from "../provider.ts";
import { OPERATOR_BIN } from "./operator.ts";
import { readSpec, readSupervisorState, simPaths, writeSpec, type SimEtcdAccess } from "./spec.ts";

/** Time limits of the agent runs (the CronJob's Job has 30 minutes). */
const SIM_ETCD_TIMEOUTS = {
  save: 30 * 60_000,
  restore: 30 * 60_000,
} as const;

/** What the sim provider lends the restore: stopping the lab's control plane and starting it again. */
export interface SimControlPlaneControl {
  /** Stops the supervisor and every component; the lab's data stays. */
  stop(context: ProviderContext): Promise<void>;
  /** Starts the supervisor from spec.json again (same ports) and waits until the nodes are Ready. */
  start(context: ProviderContext): Promise<void>;
}

/** The running etcd of a sim lab, from supervisor.json; a StateError says what to run when it is not up. */
async function runningEtcd(workDir: string): Promise<SimEtcdAccess> {
  const state = await readSupervisorState(simPaths(workDir).supervisor);
  if (state?.phase !== "running") {
    throw new StateError("the sim lab's control plane is not running", { hint: "run `bootstrap up` first" });
  }
  if (state.etcd === undefined) {
    throw new StateError("the sim lab's supervisor predates etcd backups (it does not say where etcd is)", {
      hint: "restart it: `bootstrap down --yes && bootstrap up --provider sim` (or kill its pid, then `bootstrap up`)",
    });
  }
  return state.etcd;
}

/** The etcdutl of the lab's binary set (the same etcd version as the lab's etcd). */
function etcdutlOf(spec: { readonly binariesDir: string }): string {
  return join(spec.binariesDir, "etcdutl");
}

/** The LabCluster's default backup settings, for a LabCluster whose spec cannot be read. */
const DEFAULT_BACKUP = labClusterSpecSchema.parse({}).etcdBackup;

async function runAgent(
  args: readonly string[],
  context: ProviderContext,
  label: string,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const { stdout } = await runProcess(process.execPath, [OPERATOR_BIN, "snapshot", ...args], {
    timeoutMs,
    signal: context.signal,
    logFile: join(context.workDir, "logs", "etcd-backup.log"),
    label,
  });
  const last = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch (error) {
    throw new StateError(`${label} printed no result: ${JSON.stringify(last)}`, { cause: error });
  }
}

/** The LabCluster to own the snapshot (the named one, else the only one) and its backup settings. */
async function owningLabCluster(
  config: KubeConfig,
  requested: string | undefined,
): Promise<{ name: string; uid: string; retain: number; verify: boolean } | undefined> {
  const api = config.makeApiClient(CustomObjectsApi);
  let items: { metadata?: { name?: string; uid?: string }; spec?: unknown }[];
  try {
    const list = (await api.listClusterCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      plural: LABCLUSTER_PLURAL,
    })) as { items?: typeof items };
    items = list.items ?? [];
  } catch (error) {
    if ((error as { code?: number }).code === 404 && requested === undefined) return undefined;
    throw error;
  }
  const candidates = items.filter((item) => requested === undefined || item.metadata?.name === requested);
  if (requested !== undefined && candidates.length === 0) {
    throw new UsageError(`no LabCluster named ${requested}`, { hint: "kubectl get labclusters" });
  }
  if (candidates.length > 1) {
    throw new UsageError(
      `several LabClusters (${candidates.map((item) => item.metadata?.name).join(", ")})`,
      {
        hint: "name one with --lab-cluster",
      },
    );
  }
  const item = candidates[0];
  if (item === undefined) return undefined;
  const spec = labClusterSpecSchema.safeParse(item.spec ?? {});
  const backup = spec.success ? spec.data.etcdBackup : DEFAULT_BACKUP;
  return {
    name: item.metadata?.name ?? "",
    uid: item.metadata?.uid ?? "",
    retain: backup.retain,
    verify: backup.verify,
  };
}

async function readEtcdSnapshot(config: KubeConfig, name: string): Promise<EtcdSnapshot> {
  const object: unknown = await config
    .makeApiClient(CustomObjectsApi)
    .getClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: ETCDSNAPSHOT_PLURAL, name });
  return etcdSnapshotSchema.parse(object);
}

/** Fails early, with the fix, when the API server does not serve EtcdSnapshots (the CRD is missing). */
async function requireEtcdSnapshotCrd(config: KubeConfig): Promise<void> {
  const crd = `${ETCDSNAPSHOT_PLURAL}.${API_GROUP}`;
  try {
    await config.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({
      name: crd,
    });
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
    throw new StateError(`the lab has no ${crd} CRD, so a snapshot could not be recorded`, {
      hint: "`bootstrap up` installs kubelab's CRDs (or: kubectl apply --server-side -f crds/)",
      cause: error,
    });
  }
}

/**
 * Takes a snapshot of the sim lab's etcd with the snapshot agent on the host, into `.kubelab/backups/`:
 * saved over the lab's etcd client mTLS, verified by a trial restore (unless the LabCluster says
 * verify: false), recorded beside the file and as an EtcdSnapshot owned by the LabCluster, pruned to its
 * `retain`. Resolves with the recorded object.
 */
export async function simBackupEtcd(
  lab: Lab,
  options: EtcdBackupOptions,
  context: ProviderContext,
): Promise<EtcdSnapshot> {
  const etcd = await runningEtcd(context.workDir);
  const config = loadKubeConfig(options.kubeconfigPath);
  await requireEtcdSnapshotCrd(config);
  const owner = await owningLabCluster(config, options.labCluster);
  const dir = hostBackupsDir(context.workDir);
  await mkdir(dir, { recursive: true, mode: FileMode.secretDirectory });
  context.progress?.(lab.controlPlane.name, `saving an etcd snapshot into ${dir}`);
  const result = await runAgent(
    [
      "save",
      `--dir=${dir}`,
      `--etcdutl=${etcdutlOf(await readSpec(simPaths(context.workDir).spec))}`,
      `--endpoint=${etcd.endpoint}`,
      `--cacert=${etcd.caCertPath}`,
      `--cert=${etcd.certPath}`,
      `--key=${etcd.keyPath}`,
      `--node=${lab.controlPlane.name}`,
      "--record-objects",
      `--kubeconfig=${options.kubeconfigPath}`,
      `--retain=${owner?.retain ?? DEFAULT_BACKUP.retain}`,
      ...(owner === undefined ? [] : [`--lab-cluster=${owner.name}`, `--lab-cluster-uid=${owner.uid}`]),
      ...(owner?.verify === false ? ["--no-verify"] : []),
    ],
    context,
    "kubelab-operator snapshot save",
    SIM_ETCD_TIMEOUTS.save,
  );
  if (typeof result.snapshot !== "string") {
    throw new StateError(`the snapshot agent named no snapshot: ${JSON.stringify(result)}`);
  }
  return readEtcdSnapshot(config, result.snapshot);
}

/**
 * Restores `snapshot` on the sim lab the kubeadm way, adapted to a supervisor instead of static pods:
 * the agent verifies the stored file again (sha256, etcdutl status and a trial restore; a failure changes
 * nothing) and restores it into a new data directory beside the current one; then the control plane is
 * stopped, spec.json pointed at the new directory, and the control plane started again on the same ports
 * (the supervisor waits until the API server answers and the nodes are Ready). The old directory stays.
 */
export async function simRestoreEtcd(
  control: SimControlPlaneControl,
  snapshot: TrustedSnapshot,
  context: ProviderContext,
): Promise<EtcdRestoreResult> {
  const paths = simPaths(context.workDir);
  const etcd = await runningEtcd(context.workDir);
  const spec = await readSpec(paths.spec);
  const dir = hostBackupsDir(context.workDir);
  const file = join(dir, snapshot.record.fileName);
  if (!(await pathExists(file))) {
    throw new StateError(
      `snapshot ${snapshot.name} is not in ${dir} (its file ${snapshot.record.fileName})`,
      {
        hint: "a sim lab restores the snapshots it saved itself (bootstrap backups lists them)",
      },
    );
  }
  const dataDir = join(paths.cluster, `etcd-restore-${restoreStamp(new Date())}`);
  context.progress?.("sim", `verifying ${snapshot.name} and restoring it into ${dataDir}`);
  await runAgent(
    [
      "restore",
      snapshot.name,
      `--dir=${dir}`,
      `--etcdutl=${etcdutlOf(spec)}`,
      `--data-dir=${dataDir}`,
      `--member-name=${etcd.name}`,
      `--peer-url=${etcd.peerUrl}`,
      `--initial-cluster=${etcd.initialCluster}`,
    ],
    context,
    `kubelab-operator snapshot restore ${snapshot.name}`,
    SIM_ETCD_TIMEOUTS.restore,
  );
  context.progress?.("sim", "stopping the control plane");
  await control.stop(context);
  await writeSpec(paths.spec, { ...spec, etcdDataDir: dataDir });
  context.progress?.("sim", `starting the control plane on ${dataDir} (same ports)`);
  await control.start(context);
  return { dataDir, previousDataDir: etcd.dataDir };
}

/**
 * Makes the lab's EtcdSnapshot objects match the agent's records in `.kubelab/backups/` (`snapshot sync` on
 * the host, as the LabCluster's owner): after a restore, etcd holds the objects of the restored moment.
 */
export async function simSyncSnapshots(
  lab: Lab,
  options: EtcdBackupOptions,
  context: ProviderContext,
): Promise<void> {
  const config = loadKubeConfig(options.kubeconfigPath);
  const owner = await owningLabCluster(config, options.labCluster);
  const [, , ...args] = snapshotSyncArgs({
    dir: hostBackupsDir(context.workDir),
    labCluster: owner?.name ?? "",
    ...(owner === undefined ? {} : { labClusterUid: owner.uid }),
  });
  await runAgent(
    [
      "sync",
      ...args.filter((arg) => owner !== undefined || !arg.startsWith("--lab-cluster")),
      `--node=${lab.controlPlane.name}`,
      `--kubeconfig=${options.kubeconfigPath}`,
    ],
    context,
    "kubelab-operator snapshot sync",
    SIM_ETCD_TIMEOUTS.save,
  );
}
