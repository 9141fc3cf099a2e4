// The EtcdSnapshot API (kubelab.dev/v1alpha1): one object per verified snapshot file, for `kubectl get`.
import { z } from "zod";

import { API_GROUP, API_VERSION, GROUP_VERSION, count, objectMetaSchema, timestamp } from "./common.ts";
import type { CrdDefinition } from "./crd.ts";

/**
 * EtcdSnapshot is **cluster-scoped**, like the LabCluster that owns it and the etcd it copies: a snapshot
 * holds every namespace, so it belongs to none. The snapshot agent creates one after a snapshot file was
 * saved, verified and recorded on the control-plane node, and deletes it when it prunes the file; the
 * metadata file beside the snapshot stays the source of truth (the object can be rebuilt from it).
 */
export const ETCDSNAPSHOT_SCOPE = "Cluster";
export const ETCDSNAPSHOT_KIND = "EtcdSnapshot";
export const ETCDSNAPSHOT_PLURAL = "etcdsnapshots";
export const ETCDSNAPSHOT_API_VERSION = GROUP_VERSION;

/**
 * The contract between the operator's backup CronJob and `bootstrap backup`: the labels on the CronJob,
 * its Jobs and Pods, and the namespace they run in by default (kube-system: the Jobs need hostNetwork and
 * hostPath, beside etcd).
 */
export const BACKUP_LABELS = {
  name: "app.kubernetes.io/name",
  component: "app.kubernetes.io/component",
  managedBy: "app.kubernetes.io/managed-by",
  labCluster: "kubelab.dev/lab-cluster",
} as const;
export const BACKUP_COMPONENT = "etcd-backup";
export const DEFAULT_BACKUP_NAMESPACE = "kube-system";

/** `etcd-20260102-030405-ab12`: sorts by time, unique within a second, a valid object name. */
export const SNAPSHOT_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)-(\d{8})-(\d{6})-([0-9a-f]{4})$/;

/** A Node's name (DNS-1123 subdomain). */
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A version as etcd reports it: 3.6.8, maybe with a pre-release or build suffix. */
const VERSION = /^v?[0-9]+\.[0-9]+(\.[0-9]+)?([-+][0-9A-Za-z.+-]+)?$/;

/** How a snapshot was checked. */
export const VERIFICATION_METHODS = ["TrialRestore", "StatusOnly"] as const;
export type VerificationMethod = (typeof VERIFICATION_METHODS)[number];

export const snapshotVerificationSchema = z
  .object({
    verified: z
      .boolean()
      .describe(
        "True only after a trial restore: the file's sha256 matched, etcdutl restored it into a temporary " +
          "data dir, and the restored database has the expected revision and key count.",
      ),
    method: z
      .enum(VERIFICATION_METHODS)
      .describe("TrialRestore, or StatusOnly (etcdutl snapshot status; spec.etcdBackup.verify false)."),
    time: timestamp().describe("When the checks last passed."),
    message: z.string().max(4096).describe("What was checked, in words."),
    durationMs: count().describe("How long the checks took."),
  })
  .describe("How the snapshot was checked.");
export type SnapshotVerification = z.output<typeof snapshotVerificationSchema>;

export const snapshotEtcdSchema = z
  .object({
    endpoint: z
      .string()
      .max(1024)
      .regex(/^https?:\/\/\S+$/)
      .describe("The etcd member it was taken from (its client URL)."),
    version: z.string().max(64).regex(VERSION).describe("Server version of that member, such as 3.6.8."),
    storageVersion: z
      .string()
      .max(64)
      .regex(VERSION)
      .describe("Storage version of the database, such as 3.6.0: restore with etcdutl of at least it."),
    revision: count().describe("The store revision the snapshot holds."),
    keys: count()
      .optional()
      .describe("Keys at that revision as the live etcd counted them (absent when compacted meanwhile)."),
  })
  .describe("What etcd said about the snapshot.");
export type SnapshotEtcd = z.output<typeof snapshotEtcdSchema>;

/** The facts of one snapshot file, fixed when it was taken. */
export const etcdSnapshotSpecSchema = z
  .object({
    fileName: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.db$/)
      .describe("The snapshot file, in directory on node: the object's name + .db."),
    directory: z
      .string()
      .max(4096)
      .regex(/^\/\S*$/)
      .describe("The backup directory on the node (spec.etcdBackup.hostPath), an absolute path."),
    node: z.string().min(1).max(253).regex(NODE_NAME).describe("The control-plane node that holds the file."),
    labCluster: z
      .string()
      .min(1)
      .max(63)
      .optional()
      .describe("The LabCluster it belongs to (also its owner)."),
    createdAt: timestamp().describe("When the snapshot was taken."),
    sizeBytes: count().describe("Bytes of the file, including etcd's 32-byte sha256 trailer."),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe("sha256 of the whole file, as sha256sum prints it."),
    etcd: snapshotEtcdSchema,
    kubernetesVersion: z
      .string()
      .max(64)
      .regex(VERSION)
      .optional()
      .describe("The API server's version when it was taken."),
    saveDurationMs: count().describe("How long saving took."),
  })
  .describe("The snapshot file: where it is and what it holds. Written once by the snapshot agent.");
export type EtcdSnapshotSpec = z.output<typeof etcdSnapshotSpecSchema>;

export const etcdSnapshotStatusSchema = z
  .object({ verification: snapshotVerificationSchema.optional() })
  .describe("How the snapshot was verified (updated when it is verified again).");
export type EtcdSnapshotStatus = z.output<typeof etcdSnapshotStatusSchema>;

export const etcdSnapshotSchema = z.object({
  apiVersion: z.literal(ETCDSNAPSHOT_API_VERSION).optional(),
  kind: z.literal(ETCDSNAPSHOT_KIND).optional(),
  metadata: objectMetaSchema,
  spec: etcdSnapshotSpecSchema,
  status: etcdSnapshotStatusSchema.optional(),
});
export type EtcdSnapshot = z.output<typeof etcdSnapshotSchema>;

/** The CRD of EtcdSnapshot; `npm run gen:crds` writes it to crds/. */
export const etcdSnapshotCrd: CrdDefinition = {
  group: API_GROUP,
  version: API_VERSION,
  kind: ETCDSNAPSHOT_KIND,
  plural: ETCDSNAPSHOT_PLURAL,
  singular: "etcdsnapshot",
  shortNames: ["etcdsnap"],
  scope: ETCDSNAPSHOT_SCOPE,
  description:
    "A verified etcd snapshot file on a control-plane node, recorded by the kubelab snapshot agent. " +
    "Deleting the object does not delete the file; pruning (spec.etcdBackup.retain) removes both.",
  spec: etcdSnapshotSpecSchema,
  status: etcdSnapshotStatusSchema,
  printerColumns: [
    { name: "Node", type: "string", jsonPath: ".spec.node" },
    { name: "Revision", type: "integer", jsonPath: ".spec.etcd.revision" },
    { name: "Keys", type: "integer", jsonPath: ".spec.etcd.keys" },
    { name: "Size", type: "integer", jsonPath: ".spec.sizeBytes", description: "bytes" },
    { name: "Verified", type: "boolean", jsonPath: ".status.verification.verified" },
    { name: "Method", type: "string", jsonPath: ".status.verification.method", priority: 1 },
    { name: "LabCluster", type: "string", jsonPath: ".spec.labCluster", priority: 1 },
    { name: "Kubernetes", type: "string", jsonPath: ".spec.kubernetesVersion", priority: 1 },
    { name: "Age", type: "date", jsonPath: ".spec.createdAt" },
  ],
  validations: [
    {
      rule: `self.metadata.name.matches(${JSON.stringify(SNAPSHOT_NAME.source)})`,
      message:
        "metadata.name must be a snapshot name as the agent makes them: <prefix>-YYYYMMDD-HHMMSS-<4 hex>",
    },
    {
      rule: "self.spec.fileName == self.metadata.name + '.db'",
      message: "spec.fileName must be the object's name followed by .db: the file the agent wrote for it",
    },
  ],
};

/** Version of the record file format; a reader refuses a newer one instead of misreading it. */
export const RECORD_SCHEMA_VERSION = 1;

/**
 * The agent's record of one complete snapshot, written as `<name>.json` beside `<name>.db` in the backup
 * directory on the node. This, not the EtcdSnapshot object, is what a restore trusts: the object is an API
 * object that whoever may write EtcdSnapshots (or their status) could plant, while the record is written
 * by the agent next to the file it describes, before the file gets its final name, in a directory only
 * root on the control-plane node writes (0700). A reader checks, in order: the record parses (this
 * schema, this version); `name` is the file's stem and `fileName` is `<name>.db` (the record describes the
 * file beside it and nothing else); the file's sha256 and size are `sha256` and `sizeBytes`;
 * `verification.verified` is true (a trial restore passed). Its other fields are those of the
 * EtcdSnapshot object (spec without `directory`, and status.verification), so the object can be rebuilt
 * from the record alone (`kubelab-operator snapshot sync`).
 */
export const snapshotRecordSchema = etcdSnapshotSpecSchema
  .omit({ directory: true })
  .extend({
    schema: z.literal(RECORD_SCHEMA_VERSION),
    name: z.string().regex(SNAPSHOT_NAME),
    verification: snapshotVerificationSchema,
  })
  .refine((record) => record.fileName === `${record.name}.db`, {
    message: "fileName must be the record's name + .db",
    path: ["fileName"],
  });
export type SnapshotRecord = z.infer<typeof snapshotRecordSchema>;

/** Parses a record file's content; a record of another schema version or shape is an error (ZodError). */
export function parseSnapshotRecord(text: string): SnapshotRecord {
  return snapshotRecordSchema.parse(JSON.parse(text));
}

/**
 * The arguments of the agent's `snapshot sync` for a LabCluster: what a one-off Job made from the backup
 * CronJob's jobTemplate runs instead of `snapshot save` (the same image, node, mounts and identity).
 * It makes the EtcdSnapshot objects match the records on disk: after `bootstrap restore`, etcd holds the
 * objects of the restored moment, not those of the files that are there.
 */
export function snapshotSyncArgs(options: {
  readonly dir: string;
  readonly labCluster: string;
  readonly labClusterUid?: string;
}): string[] {
  return [
    "snapshot",
    "sync",
    `--dir=${options.dir}`,
    `--lab-cluster=${options.labCluster}`,
    ...(options.labClusterUid === undefined ? [] : [`--lab-cluster-uid=${options.labClusterUid}`]),
  ];
}
