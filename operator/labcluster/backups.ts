// Scheduled etcd snapshots as a LabCluster part: the backup CronJob, status.backups and BackupsHealthy.
import { Cron } from "croner";

import { API_GROUP, API_VERSION } from "../api/common.ts";
import {
  BACKUP_COMPONENT,
  BACKUP_LABELS,
  DEFAULT_BACKUP_NAMESPACE,
  ETCDSNAPSHOT_PLURAL,
} from "../api/etcdsnapshot.ts";
import {
  ConditionType,
  LABCLUSTER_API_VERSION,
  LABCLUSTER_KIND,
  type LabCluster,
  type LabClusterStatus,
} from "../api/labcluster.ts";
import { type KubeClient, resourcePath } from "../runtime/client.ts";
import type { CachedObject } from "../runtime/informer.ts";
import { FIELD_MANAGER } from "./names.ts";
import type { LabClusterPart, PartCondition, PartInput, PartResult } from "./part.ts";
import { source } from "./part.ts";

export { BACKUP_LABELS } from "../api/etcdsnapshot.ts";
const COMPONENT = BACKUP_COMPONENT;

/** Where the backup Jobs run and what they run as; the defaults match manifests/. */
export interface BackupOptions {
  /**
   * The namespace of the CronJob. Its pods need hostNetwork and hostPath, which the restricted Pod Security
   * level of kubelab-system forbids, so they run in kube-system beside etcd (privileged, as kubeadm sets it).
   */
  readonly namespace: string;
  /** The operator image: it contains the agent, etcdutl and etcdctl. Default: manifests/' image. */
  readonly image: string;
  /** The agent's ServiceAccount: create, patch, delete EtcdSnapshots; nothing else. */
  readonly serviceAccountName: string;
}

export const DEFAULT_BACKUP_OPTIONS: BackupOptions = {
  namespace: DEFAULT_BACKUP_NAMESPACE,
  image: "kubelab-operator:0.1.0",
  serviceAccountName: "kubelab-snapshot-agent",
};

/** The options from the environment of the operator's Deployment (KUBELAB_AGENT_*), else the defaults. */
export function backupOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): BackupOptions {
  return {
    namespace: env.KUBELAB_BACKUP_NAMESPACE || DEFAULT_BACKUP_OPTIONS.namespace,
    image: env.KUBELAB_AGENT_IMAGE || DEFAULT_BACKUP_OPTIONS.image,
    serviceAccountName: env.KUBELAB_AGENT_SERVICE_ACCOUNT || DEFAULT_BACKUP_OPTIONS.serviceAccountName,
  };
}

/**
 * kubeadm's etcd credentials on a control-plane node that the Job mounts, each file on its own (hostPath
 * type File): the CA certificate and the healthcheck client's certificate and key. Never the directory,
 * which holds the CA's key and the server and peer keys too.
 */
const ETCD_PKI_DIR = "/etc/kubernetes/pki/etcd";
const ETCD_FILES = [
  { volume: "etcd-ca", file: "ca.crt" },
  { volume: "etcd-client-cert", file: "healthcheck-client.crt" },
  { volume: "etcd-client-key", file: "healthcheck-client.key" },
] as const;
const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";
/** A whole run (save, trial restore, record) must finish within this; SIGTERM then cleans up. */
export const JOB_DEADLINE_SECONDS = 30 * 60;

/** The CronJob's name for a LabCluster: at most 52 characters, as CronJob names must be. */
export function cronJobName(labCluster: string): string {
  const name = `kubelab-etcd-backup-${labCluster}`;
  if (name.length <= 52) return name;
  let hash = 0;
  for (const char of labCluster) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `${name.slice(0, 43).replace(/[-.]+$/, "")}-${hash.toString(16).padStart(8, "0").slice(0, 8)}`;
}

/** The desired CronJob of a LabCluster: a pure function of its spec and the options. */
export function backupCronJob(labCluster: LabCluster, options: BackupOptions): Record<string, unknown> {
  const name = labCluster.metadata.name;
  const backup = labCluster.spec.etcdBackup;
  const labels = {
    [BACKUP_LABELS.name]: "kubelab-operator",
    [BACKUP_LABELS.component]: COMPONENT,
    [BACKUP_LABELS.managedBy]: FIELD_MANAGER,
    [BACKUP_LABELS.labCluster]: name,
  };
  const args = [
    "snapshot",
    "save",
    `--dir=${backup.hostPath}`,
    "--endpoint=https://127.0.0.1:2379",
    `--cacert=${ETCD_PKI_DIR}/ca.crt`,
    `--cert=${ETCD_PKI_DIR}/healthcheck-client.crt`,
    `--key=${ETCD_PKI_DIR}/healthcheck-client.key`,
    "--etcdutl=/usr/local/bin/etcdutl",
    "--work-dir=/tmp",
    `--lab-cluster=${name}`,
    ...(labCluster.metadata.uid === undefined ? [] : [`--lab-cluster-uid=${labCluster.metadata.uid}`]),
    `--retain=${backup.retain}`,
    ...(backup.verify ? [] : ["--no-verify"]),
    "--record-objects",
  ];
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: {
      name: cronJobName(name),
      namespace: options.namespace,
      labels,
      ownerReferences: [
        {
          apiVersion: LABCLUSTER_API_VERSION,
          kind: LABCLUSTER_KIND,
          name,
          ...(labCluster.metadata.uid === undefined ? {} : { uid: labCluster.metadata.uid }),
          controller: true,
        },
      ],
    },
    spec: {
      schedule: backup.schedule,
      timeZone: "Etc/UTC",
      suspend: backup.suspend,
      concurrencyPolicy: "Forbid",
      // A run missed while the controller-manager was down starts late, but not hours late.
      startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: JOB_DEADLINE_SECONDS,
          ttlSecondsAfterFinished: 7 * 24 * 3600,
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: options.serviceAccountName,
              restartPolicy: "Never",
              // etcd listens on the node's loopback only.
              hostNetwork: true,
              dnsPolicy: "ClusterFirstWithHostNet",
              nodeSelector: { [CONTROL_PLANE_LABEL]: "" },
              tolerations: [{ key: CONTROL_PLANE_LABEL, operator: "Exists", effect: "NoSchedule" }],
              // The etcd client key is root's (0600): root, but without any capability or escalation.
              securityContext: { runAsUser: 0, runAsGroup: 0, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "snapshot",
                  image: options.image,
                  args,
                  env: [
                    { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                    // Frees the stream's buffers sooner: flat, low memory (bench/snapshot).
                    { name: "NODE_OPTIONS", value: "--max-semi-space-size=1" },
                  ],
                  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "1Gi" } },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"] },
                  },
                  volumeMounts: [
                    ...ETCD_FILES.map(({ volume, file }) => ({
                      name: volume,
                      mountPath: `${ETCD_PKI_DIR}/${file}`,
                      readOnly: true,
                    })),
                    { name: "backups", mountPath: backup.hostPath },
                    { name: "tmp", mountPath: "/tmp" },
                  ],
                },
              ],
              volumes: [
                ...ETCD_FILES.map(({ volume, file }) => ({
                  name: volume,
                  hostPath: { path: `${ETCD_PKI_DIR}/${file}`, type: "File" },
                })),
                { name: "backups", hostPath: { path: backup.hostPath, type: "DirectoryOrCreate" } },
                { name: "tmp", emptyDir: {} },
              ],
            },
          },
        },
      },
    },
  };
}

/**
 * The longest gap between two runs of `schedule` (UTC) over its next runs: the backup interval the health
 * rule uses. Throws a RangeError naming the schedule when it is not a 5-field cron or @nickname.
 */
export function scheduleInterval(schedule: string, from: Date, samples = 12): number {
  let cron: Cron;
  try {
    cron = new Cron(schedule, { timezone: "Etc/UTC", mode: "5-part", paused: true });
  } catch (error) {
    throw new RangeError(
      `spec.etcdBackup.schedule ${JSON.stringify(schedule)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const runs = cron.nextRuns(samples, from);
  if (runs.length < 2)
    throw new RangeError(`spec.etcdBackup.schedule ${JSON.stringify(schedule)} never repeats`);
  let longest = 0;
  for (let index = 1; index < runs.length; index++) {
    longest = Math.max(longest, runs[index]!.getTime() - runs[index - 1]!.getTime());
  }
  return longest;
}

/** What the informers hold of a backup Job. */
export interface CachedJob extends CachedObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labCluster: string };
  readonly createdAt: string;
  /** Complete, Failed, or undefined while it runs. */
  readonly outcome: "Complete" | "Failed" | undefined;
  readonly finishedAt: string | undefined;
  /** The reason and message of the Failed condition. */
  readonly failure: string | undefined;
}

/** What the informers hold of an EtcdSnapshot. */
export interface CachedSnapshot extends CachedObject {
  readonly metadata: { readonly name: string; readonly labCluster: string };
  readonly createdAt: string;
  readonly verified: boolean;
}

interface RawCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** Name, namespace, LabCluster label and creation time: what every cached backup object keeps. */
function backupObjectIdentity(raw: Record<string, unknown>): {
  metadata: { name: string; namespace?: string; labCluster: string };
  createdAt: string;
  generation: number;
} {
  const metadata = (raw.metadata ?? {}) as {
    name?: string;
    namespace?: string;
    creationTimestamp?: string;
    generation?: number;
    labels?: Record<string, string>;
  };
  return {
    metadata: {
      name: metadata.name ?? "",
      ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
      labCluster: metadata.labels?.[BACKUP_LABELS.labCluster] ?? "",
    },
    createdAt: metadata.creationTimestamp ?? "",
    generation: metadata.generation ?? 0,
  };
}

export function toCachedJob(raw: Record<string, unknown>): CachedJob {
  const { metadata, createdAt } = backupObjectIdentity(raw);
  const conditions = ((raw.status as { conditions?: RawCondition[] } | undefined)?.conditions ?? []).filter(
    (condition) => condition.status === "True",
  );
  const failed = conditions.find((condition) => condition.type === "Failed");
  const complete = conditions.find((condition) => condition.type === "Complete");
  const done = failed ?? complete;
  return {
    metadata,
    createdAt,
    outcome: failed !== undefined ? "Failed" : complete !== undefined ? "Complete" : undefined,
    finishedAt: done?.lastTransitionTime,
    failure:
      failed === undefined ? undefined : `${failed.reason ?? "Failed"}: ${failed.message ?? ""}`.trim(),
  };
}

export function toCachedSnapshot(raw: Record<string, unknown>): CachedSnapshot {
  const metadata = (raw.metadata ?? {}) as { name?: string; labels?: Record<string, string> };
  const spec = (raw.spec ?? {}) as { createdAt?: string; labCluster?: string };
  const status = (raw.status ?? {}) as { verification?: { verified?: boolean } };
  return {
    metadata: {
      name: metadata.name ?? "",
      labCluster: spec.labCluster ?? metadata.labels?.[BACKUP_LABELS.labCluster] ?? "",
    },
    createdAt: spec.createdAt ?? "",
    verified: status.verification?.verified === true,
  };
}

/** What the health decision looks at. */
export interface BackupObservation {
  readonly suspended: boolean;
  /** The newest Job of the LabCluster's CronJob (scheduled or on demand), if any. */
  readonly lastJob: CachedJob | undefined;
  /** Snapshots of the LabCluster, any order. */
  readonly snapshots: readonly CachedSnapshot[];
  /** When backups were first scheduled (the CronJob's creation): the clock before the first success. */
  readonly scheduledSince: Date;
  readonly intervalMs: number;
  readonly now: Date;
}

export interface BackupHealth {
  readonly condition: PartCondition;
  readonly status: NonNullable<LabClusterStatus["backups"]>;
  /** When the condition would turn False without any event (no success by then); undefined: never. */
  readonly staleAt: Date | undefined;
}

/**
 * BackupsHealthy: False when the newest Job failed, or when no verified snapshot is younger than twice the
 * schedule interval (counted from when backups were scheduled while there is none). Suspended backups are
 * reported as such, True: a suspension is the user's choice, not a fault of the lab.
 */
export function backupHealth(observation: BackupObservation): BackupHealth {
  const verified = observation.snapshots
    .filter((snapshot) => snapshot.verified)
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  const newest = verified[0];
  const status = {
    ...(newest === undefined
      ? {}
      : { lastSuccessfulTime: newest.createdAt, lastSnapshot: newest.metadata.name }),
    count: observation.snapshots.length,
  };
  const kept = `${observation.snapshots.length} snapshot(s) kept`;
  if (observation.suspended) {
    return {
      condition: {
        type: ConditionType.backupsHealthy,
        status: "True",
        reason: "Suspended",
        message: `backups are suspended (spec.etcdBackup.suspend); ${kept}`,
      },
      status,
      staleAt: undefined,
    };
  }
  const job = observation.lastJob;
  if (job?.outcome === "Failed") {
    return {
      condition: {
        type: ConditionType.backupsHealthy,
        status: "False",
        reason: "BackupJobFailed",
        message:
          `backup Job ${job.metadata.name} failed (${job.failure ?? "no reason given"}); ` +
          `kubectl -n <namespace> logs job/${job.metadata.name}; ${kept}`,
      },
      status,
      staleAt: undefined,
    };
  }
  const since = newest === undefined ? observation.scheduledSince : new Date(newest.createdAt);
  const staleAt = new Date(since.getTime() + 2 * observation.intervalMs);
  if (observation.now >= staleAt) {
    return {
      condition: {
        type: ConditionType.backupsHealthy,
        status: "False",
        reason: "NoRecentBackup",
        message:
          newest === undefined
            ? `no verified snapshot since backups were scheduled at ${since.toISOString()} (more than twice the schedule interval)`
            : `the newest verified snapshot ${newest.metadata.name} is from ${newest.createdAt}, more than twice the schedule interval ago`,
      },
      status,
      staleAt: undefined,
    };
  }
  return {
    condition: {
      type: ConditionType.backupsHealthy,
      status: "True",
      reason: newest === undefined ? "FirstBackupPending" : "BackupsSucceeding",
      message:
        newest === undefined
          ? `no snapshot yet; the first is due by ${staleAt.toISOString()}`
          : `newest verified snapshot ${newest.metadata.name} (${newest.createdAt}); ${kept}`,
    },
    status,
    staleAt,
  };
}

/** The path of the backup CronJobs (a namespace's collection, or one). */
function cronJobPath(namespace: string, name?: string): string {
  return resourcePath({
    group: "batch",
    version: "v1",
    plural: "cronjobs",
    namespace,
    ...(name === undefined ? {} : { name }),
  });
}

interface CachedCronJob extends CachedObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labCluster: string };
  readonly createdAt: string;
  readonly generation: number;
}

function toCachedCronJob(raw: Record<string, unknown>): CachedCronJob {
  return backupObjectIdentity(raw);
}

/** Maps any object labelled with its LabCluster to that LabCluster. */
function byLabel<T extends { metadata: { labCluster: string } }>(object: T): readonly string[] {
  return object.metadata.labCluster === "" ? [] : [object.metadata.labCluster];
}

/**
 * Scheduled, verified etcd snapshots: keeps the LabCluster's backup CronJob as the spec says (server-side
 * apply: spec changes update it, `suspend` suspends it), and reports status.backups and BackupsHealthy
 * from the EtcdSnapshot objects the agent records and the Jobs the CronJob runs. Events: schedule applied,
 * Job failed, snapshot recorded.
 */
export function backupsPart(options: BackupOptions = backupOptionsFromEnv()): LabClusterPart {
  return {
    name: "backups",
    setup(context) {
      const selector = `${BACKUP_LABELS.component}=${COMPONENT}`;
      const cronJobs = context.informer({
        name: "backup-cronjobs",
        path: cronJobPath(options.namespace),
        transform: toCachedCronJob,
        labelSelector: selector,
      });
      const jobs = context.informer({
        name: "backup-jobs",
        path: resourcePath({ group: "batch", version: "v1", plural: "jobs", namespace: options.namespace }),
        transform: toCachedJob,
        labelSelector: selector,
      });
      const snapshots = context.informer({
        name: "etcdsnapshots",
        path: resourcePath({ group: API_GROUP, version: API_VERSION, plural: ETCDSNAPSHOT_PLURAL }),
        transform: toCachedSnapshot,
      });
      return {
        sources: [source(cronJobs, byLabel), source(jobs, byLabel), source(snapshots, byLabel)],
        reconcile: (input) =>
          reconcileBackups(input, {
            client: context.client,
            options,
            cronJobs: () => [...cronJobs.list()],
            jobs: () => [...jobs.list()],
            snapshots: () => [...snapshots.list()],
          }),
      };
    },
  };
}

interface BackupDependencies {
  readonly client: KubeClient;
  readonly options: BackupOptions;
  readonly cronJobs: () => readonly CachedCronJob[];
  readonly jobs: () => readonly CachedJob[];
  readonly snapshots: () => readonly CachedSnapshot[];
}

async function reconcileBackups(input: PartInput, dependencies: BackupDependencies): Promise<PartResult> {
  const { labCluster, previous, now } = input;
  const name = labCluster.metadata.name;
  const backup = labCluster.spec.etcdBackup;
  let intervalMs: number;
  try {
    intervalMs = scheduleInterval(backup.schedule, now);
  } catch (error) {
    return {
      conditions: [
        {
          type: ConditionType.backupsHealthy,
          status: "False",
          reason: "InvalidSchedule",
          message: `${(error as Error).message}; the backup CronJob was left as it was`,
        },
      ],
      status: previous.backups === undefined ? {} : { backups: previous.backups },
    };
  }

  const desired = backupCronJob(labCluster, dependencies.options);
  const desiredName = (desired.metadata as { name: string }).name;
  const cached = dependencies
    .cronJobs()
    .find((cronJob) => cronJob.metadata.name === desiredName && cronJob.metadata.labCluster === name);
  const applied = await dependencies.client.apply<{
    metadata: { generation?: number; creationTimestamp?: string };
  }>(cronJobPath(dependencies.options.namespace, desiredName), desired, FIELD_MANAGER, {
    signal: input.signal,
  });
  if (cached === undefined || applied.metadata.generation !== cached.generation) {
    await input.emit({
      type: "Normal",
      reason: cached === undefined ? "BackupScheduled" : "BackupScheduleUpdated",
      action: "Apply",
      note:
        `${cached === undefined ? "scheduled" : "updated"} etcd backups: CronJob ` +
        `${dependencies.options.namespace}/${desiredName}, "${backup.schedule}" UTC, retain ${backup.retain}, ` +
        `verify ${backup.verify}${backup.suspend ? ", suspended" : ""}`,
    });
  }

  const jobs = dependencies
    .jobs()
    .filter((job) => job.metadata.labCluster === name)
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  const lastJob = jobs.find((job) => job.outcome !== undefined);
  const snapshots = dependencies.snapshots().filter((snapshot) => snapshot.metadata.labCluster === name);
  const scheduledSince = new Date(
    applied.metadata.creationTimestamp ?? cached?.createdAt ?? now.toISOString(),
  );
  const health = backupHealth({
    suspended: backup.suspend,
    lastJob,
    snapshots,
    scheduledSince,
    intervalMs,
    now,
  });

  const before = previous.backups;
  if (health.status.lastSnapshot !== undefined && health.status.lastSnapshot !== before?.lastSnapshot) {
    await input.emit({
      type: "Normal",
      reason: "SnapshotRecorded",
      action: "Backup",
      note: `verified etcd snapshot ${health.status.lastSnapshot} recorded (${health.status.count} kept)`,
    });
  }
  const previousCondition = previous.conditions?.find(
    (condition) => condition.type === ConditionType.backupsHealthy,
  );
  if (
    health.condition.status === "False" &&
    (previousCondition?.status !== "False" || previousCondition.reason !== health.condition.reason)
  ) {
    await input.emit({
      type: "Warning",
      reason: health.condition.reason === "BackupJobFailed" ? "BackupFailed" : "BackupOverdue",
      action: "Backup",
      note: health.condition.message.slice(0, 1000),
    });
  }
  return {
    conditions: [health.condition],
    status: { backups: health.status },
    ...(health.staleAt === undefined
      ? {}
      : { requeueAfterMs: Math.max(0, health.staleAt.getTime() - now.getTime()) + 1000 }),
  };
}
