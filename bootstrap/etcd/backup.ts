// `bootstrap backup` and `bootstrap backups`: an on-demand run of the lab's backup CronJob, and the snapshots.
import {
  BatchV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1CronJob,
  type V1Job,
} from "@kubernetes/client-node";

import { API_GROUP, API_VERSION } from "../../operator/api/common.ts";
import {
  BACKUP_COMPONENT,
  BACKUP_LABELS,
  DEFAULT_BACKUP_NAMESPACE,
  ETCDSNAPSHOT_PLURAL,
  etcdSnapshotSchema,
  snapshotSyncArgs,
  type EtcdSnapshot,
} from "../../operator/api/etcdsnapshot.ts";
import { InterruptedError, StateError, StepError } from "../errors.ts";
import { abortReason } from "../process.ts";

/** The lab's EtcdSnapshots, newest first; objects that do not parse are skipped (and counted). */
export async function listBackups(
  config: KubeConfig,
): Promise<{ snapshots: EtcdSnapshot[]; unreadable: number }> {
  const list = (await config.makeApiClient(CustomObjectsApi).listClusterCustomObject({
    group: API_GROUP,
    version: API_VERSION,
    plural: ETCDSNAPSHOT_PLURAL,
  })) as { items?: unknown[] };
  const snapshots: EtcdSnapshot[] = [];
  let unreadable = 0;
  for (const item of list.items ?? []) {
    const parsed = etcdSnapshotSchema.safeParse(item);
    if (parsed.success) snapshots.push(parsed.data);
    else unreadable++;
  }
  snapshots.sort((a, b) => Date.parse(b.spec.createdAt) - Date.parse(a.spec.createdAt));
  return { snapshots, unreadable };
}

/** A table of snapshots as `bootstrap backups` prints it. */
export function formatBackups(snapshots: readonly EtcdSnapshot[]): string {
  const rows = [
    ["NAME", "CREATED", "NODE", "SIZE", "REVISION", "KEYS", "VERIFIED"],
    ...snapshots.map((snapshot) => [
      snapshot.metadata.name,
      snapshot.spec.createdAt,
      snapshot.spec.node,
      `${(snapshot.spec.sizeBytes / 1024 / 1024).toFixed(1)}MiB`,
      String(snapshot.spec.etcd.revision),
      snapshot.spec.etcd.keys === undefined ? "?" : String(snapshot.spec.etcd.keys),
      snapshot.status?.verification === undefined
        ? "unknown"
        : snapshot.status.verification.verified
          ? `yes (${snapshot.status.verification.method})`
          : `no (${snapshot.status.verification.method})`,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}

export interface BackupRunOptions {
  /** The LabCluster whose CronJob to run; the only one when undefined. */
  readonly labCluster?: string;
  readonly namespace?: string;
  readonly signal: AbortSignal;
  /** How long to wait for the Job. Default 35 minutes (the Job's own deadline is 30). */
  readonly timeoutMs?: number;
  readonly progress?: (line: string) => void;
  readonly intervalMs?: number;
}

/** What an on-demand backup produced. */
export interface BackupRunResult {
  readonly job: string;
  readonly snapshot: EtcdSnapshot;
}

/**
 * Runs the lab's backup CronJob now, as `kubectl create job --from=cronjob/...` does (a Job from its
 * template, owned by it, so Forbid and the history limits count it), waits until it finishes, and returns
 * the EtcdSnapshot it recorded. A failed Job is a StepError naming the Job and how to read its log; a Job
 * that succeeded without recording a snapshot (a simulated node runs no container) is a StateError.
 */
export async function runBackup(config: KubeConfig, options: BackupRunOptions): Promise<BackupRunResult> {
  const namespace = options.namespace ?? DEFAULT_BACKUP_NAMESPACE;
  const batch = config.makeApiClient(BatchV1Api);
  const cronJob = await backupCronJob(batch, namespace, options.labCluster);
  const cronJobName = cronJob.metadata?.name ?? "";
  const started = new Date();
  const created = await batch.createNamespacedJob({ namespace, body: jobFromCronJob(cronJob, "manual") });
  const jobName = created.metadata?.name ?? "";
  // The Job's pod starts after the Job exists: a snapshot older than the Job is not this run's. The
  // timestamp has whole seconds, so the Job may be up to 1 s younger than it says; a pod needs longer.
  const jobCreated = (created.metadata?.creationTimestamp ?? started).getTime() + 1000;
  options.progress?.(`backup Job ${namespace}/${jobName} started from CronJob ${cronJobName}`);
  const job = await waitForJob(batch, namespace, jobName, options);
  const failed = job.status?.conditions?.find(
    (condition) => condition.type === "Failed" && condition.status === "True",
  );
  if (failed !== undefined) {
    throw new StepError(
      "backup",
      `Job ${namespace}/${jobName} failed: ${failed.reason ?? ""} ${failed.message ?? ""}`.trim(),
      {
        hint: `kubectl -n ${namespace} logs job/${jobName}`,
      },
    );
  }
  const labCluster = cronJob.metadata?.labels?.[BACKUP_LABELS.labCluster];
  const { snapshots } = await listBackups(config);
  const snapshot = snapshots.find(
    (candidate) =>
      Date.parse(candidate.spec.createdAt) >= jobCreated &&
      (labCluster === undefined || candidate.spec.labCluster === labCluster),
  );
  if (snapshot === undefined) {
    throw new StateError(`backup Job ${namespace}/${jobName} completed but recorded no EtcdSnapshot`, {
      hint:
        `kubectl -n ${namespace} logs job/${jobName}; on simulated nodes (provider sim) a Job's container ` +
        "does not run, so backups there need the lab's own etcd",
    });
  }
  return { job: jobName, snapshot };
}

/**
 * After a restore, etcd holds the EtcdSnapshot objects of the restored moment, not those of the files in the
 * backup directory: runs the agent's `snapshot sync` once, as a Job made from the backup CronJob's template
 * (same image, node, mounts and identity; only the agent's arguments differ), so the objects match the
 * records on disk again. Resolves once the Job completed; a failed Job is a StepError.
 */
export async function runSnapshotSync(config: KubeConfig, options: BackupRunOptions): Promise<string> {
  const namespace = options.namespace ?? DEFAULT_BACKUP_NAMESPACE;
  const batch = config.makeApiClient(BatchV1Api);
  const cronJob = await backupCronJob(batch, namespace, options.labCluster);
  const container = cronJob.spec?.jobTemplate.spec?.template.spec?.containers[0];
  const dir = container?.args?.find((arg) => arg.startsWith("--dir="))?.slice("--dir=".length);
  const labCluster = cronJob.metadata?.labels?.[BACKUP_LABELS.labCluster];
  const owner = cronJob.metadata?.ownerReferences?.find((reference) => reference.kind === "LabCluster");
  if (container === undefined || dir === undefined || labCluster === undefined) {
    throw new StateError(
      `the backup CronJob ${namespace}/${cronJob.metadata?.name ?? ""} names no agent --dir or LabCluster`,
    );
  }
  const args = snapshotSyncArgs({
    dir,
    labCluster,
    ...(owner === undefined ? {} : { labClusterUid: owner.uid }),
  });
  const created = await batch.createNamespacedJob({ namespace, body: jobFromCronJob(cronJob, "sync", args) });
  const jobName = created.metadata?.name ?? "";
  options.progress?.(
    `snapshot sync Job ${namespace}/${jobName} started from CronJob ${cronJob.metadata?.name ?? ""}`,
  );
  const job = await waitForJob(batch, namespace, jobName, options);
  const failed = job.status?.conditions?.find(
    (condition) => condition.type === "Failed" && condition.status === "True",
  );
  if (failed !== undefined) {
    throw new StepError(
      "restore",
      `snapshot sync Job ${namespace}/${jobName} failed: ${failed.reason ?? ""}`.trim(),
      {
        hint: `kubectl -n ${namespace} logs job/${jobName}`,
      },
    );
  }
  return jobName;
}

/** The one backup CronJob of the lab (of `labCluster` when given): StateError when there is none or several. */
async function backupCronJob(
  batch: BatchV1Api,
  namespace: string,
  labCluster: string | undefined,
): Promise<V1CronJob> {
  const selector = [
    `${BACKUP_LABELS.component}=${BACKUP_COMPONENT}`,
    ...(labCluster === undefined ? [] : [`${BACKUP_LABELS.labCluster}=${labCluster}`]),
  ].join(",");
  const cronJobs = (await batch.listNamespacedCronJob({ namespace, labelSelector: selector })).items;
  if (cronJobs.length === 0) {
    throw new StateError(`no backup CronJob in ${namespace} (label ${selector})`, {
      hint:
        "the operator creates it for each LabCluster: check `kubectl get labclusters` and the operator's " +
        "logs (kubectl -n kubelab-system logs deploy/kubelab-operator)",
    });
  }
  if (cronJobs.length > 1) {
    const labs = cronJobs.map((cronJob) => cronJob.metadata?.labels?.[BACKUP_LABELS.labCluster]).join(", ");
    throw new StateError(`several LabClusters have backups (${labs})`, {
      hint: "name one with --lab-cluster",
    });
  }
  return cronJobs[0]!;
}

/**
 * A Job from the CronJob's template, as `kubectl create job --from=cronjob/...` makes it (owned by the
 * CronJob, so Forbid and the history limits count it); `args` replaces the agent's arguments.
 */
function jobFromCronJob(cronJob: V1CronJob, purpose: "manual" | "sync", args?: string[]): V1Job {
  const name = cronJob.metadata?.name ?? "";
  const template = cronJob.spec?.jobTemplate;
  const spec = structuredClone(template?.spec);
  const container = spec?.template.spec?.containers[0];
  if (args !== undefined && container !== undefined) container.args = args;
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      generateName: `${name.slice(0, 40)}-${purpose}-`,
      namespace: cronJob.metadata?.namespace,
      labels: { ...template?.metadata?.labels },
      annotations: { "cronjob.kubernetes.io/instantiate": "manual" },
      ownerReferences: [
        { apiVersion: "batch/v1", kind: "CronJob", name, uid: cronJob.metadata?.uid ?? "", controller: true },
      ],
    },
    ...(spec === undefined ? {} : { spec }),
  };
}

async function waitForJob(
  batch: BatchV1Api,
  namespace: string,
  name: string,
  options: BackupRunOptions,
): Promise<V1Job> {
  const deadline = Date.now() + (options.timeoutMs ?? 35 * 60_000);
  for (;;) {
    if (options.signal.aborted) throw new InterruptedError(abortReason(options.signal));
    const job = await batch.readNamespacedJob({ name, namespace });
    const done = job.status?.conditions?.some(
      (condition) =>
        (condition.type === "Complete" || condition.type === "Failed") && condition.status === "True",
    );
    if (done === true) return job;
    if (Date.now() > deadline) {
      throw new StepError("backup", `Job ${namespace}/${name} did not finish in time`, {
        hint: `kubectl -n ${namespace} describe job/${name}`,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 2000));
  }
}
