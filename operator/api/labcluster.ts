// The LabCluster API (kubelab.dev/v1alpha1): its zod schema is the one source of the CRD and the TS types.
import { z } from "zod";

import {
  API_GROUP,
  API_VERSION,
  GROUP_VERSION,
  conditionList,
  count,
  listMap,
  objectMetaSchema,
  timestamp,
} from "./common.ts";
import { BUNDLE_SOURCES, type AddonName } from "./addons/bundle.ts";
import { MESSAGE_KEY, type CrdDefinition } from "./crd.ts";
import { CRON_SCHEDULE, CRON_SCHEDULE_MESSAGE } from "./cron.ts";

/**
 * LabCluster is **cluster-scoped**. One LabCluster describes one lab, and a lab is a whole cluster: the
 * objects it watches and acts on (Nodes, their Leases, kube-system addons, etcd) are cluster-scoped or live in
 * fixed namespaces, so a namespaced LabCluster would suggest an isolation it cannot have, and two of them in
 * different namespaces would fight over the same Nodes. Cluster scope also lets the RBAC say exactly that:
 * whoever may edit a LabCluster may affect the whole cluster.
 */
export const LABCLUSTER_SCOPE = "Cluster";
export const LABCLUSTER_KIND = "LabCluster";
export const LABCLUSTER_PLURAL = "labclusters";
export const LABCLUSTER_API_VERSION = GROUP_VERSION;

/**
 * The label bootstrap puts on the LabCluster of a lab it made (`app.kubernetes.io/managed-by:
 * kubelab-bootstrap`): that one acts for the cluster when there are several (DuplicateLab).
 */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const BOOTSTRAP_MANAGER = "kubelab-bootstrap";

export const NODE_ROLES = ["control-plane", "worker"] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

export const REMEDIATIONS = ["None", "Cordon", "Drain"] as const;
export type Remediation = (typeof REMEDIATIONS)[number];

export const ADDON_MODES = ["Reconcile", "EnsureExists", "Disabled"] as const;
export type AddonMode = (typeof ADDON_MODES)[number];

/** The CNIs a lab can run (spec.cni, from lab.yaml's network.cni); each is also the name of its addon. */
export const CNIS = ["calico", "kube-router"] as const satisfies readonly AddonName[];
export type Cni = (typeof CNIS)[number];

/**
 * The key of each addon under spec.addons and status.addons: camelCase, as API fields are (the addon
 * `kube-router` is `kubeRouter` there).
 */
export const ADDON_FIELDS = {
  calico: "calico",
  "kube-router": "kubeRouter",
  coredns: "coredns",
} as const satisfies Record<AddonName, string>;

/**
 * Whether the lab runs `addon`: CoreDNS always, a CNI only when spec.cni names it. The operator neither
 * restores, captures nor reports an addon the lab does not run, so the other CNI's absence never holds
 * Ready back (and its leftover bundle, if any, is never applied beside the lab's CNI).
 */
export function runsAddon(spec: Pick<LabClusterSpec, "cni">, addon: AddonName): boolean {
  return addon === "coredns" || addon === spec.cni;
}

/** Condition types the LabCluster reports. Parts added later (addons, backups) add theirs here. */
export const ConditionType = {
  /** Every part is healthy. The summary `kubectl wait --for=condition=Ready` waits for. */
  ready: "Ready",
  nodesHealthy: "NodesHealthy",
  /** Reported on Calico labs only (spec.cni: calico). */
  calicoHealthy: "CalicoHealthy",
  /** Reported on kube-router labs only (spec.cni: kube-router). */
  kubeRouterHealthy: "KubeRouterHealthy",
  corednsHealthy: "CoreDNSHealthy",
  backupsHealthy: "BackupsHealthy",
  /** Informational, not part of Ready: whether node remediation may act now, and why not. */
  remediationAllowed: "RemediationAllowed",
} as const;

/** Conditions that inform but do not count towards Ready. */
export const INFORMATIONAL_CONDITIONS: readonly string[] = [ConditionType.remediationAllowed];

/** A count (`2`) or a percentage of the worker nodes (`"40%"`), rounded down. */
const PERCENT = /^(100|[1-9]?[0-9])%$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Where backups may be written on a node: one directory, a DNS label, right below /var/lib/kubelab/. The
 * backup Job runs as root on the control plane and writes every Secret of the cluster there, so a
 * LabCluster must not aim it at another pod's volume or a system directory.
 */
export const BACKUP_ROOT = "/var/lib/kubelab/";
export const BACKUP_DIRECTORY = /^\/var\/lib\/kubelab\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const BACKUP_DIRECTORY_MESSAGE =
  "must be /var/lib/kubelab/<name>, <name> a DNS label (lowercase letters, digits and '-', at most 63): " +
  "the backup Job writes the etcd snapshots, every Secret of the cluster, nowhere else on the node";

/**
 * The floor of spec.nodeHealth.leaseStaleSeconds. The kubelet renews its Lease every quarter of the Lease's
 * leaseDurationSeconds (10 s for the default 40 s): a threshold at or below one renewal would report, and
 * remediate, healthy nodes between two renewals. The operator also never judges a Lease stale sooner than
 * half its own leaseDurationSeconds (two renewals), whatever this says (nodes/decide.ts).
 */
export const MIN_LEASE_STALE_SECONDS = 10;

const expectedNodeSchema = z.object({
  name: z.string().min(1).max(253).regex(DNS1123_SUBDOMAIN).describe("The Node's name."),
  role: z.enum(NODE_ROLES).describe("control-plane nodes are never remediated."),
});

const nodeHealthSpecSchema = z.object({
  leaseStaleSeconds: z
    .number()
    .int()
    .min(MIN_LEASE_STALE_SECONDS)
    .max(3600)
    .default(20)
    .describe(
      "A node whose Lease in kube-node-lease was last renewed longer ago than this is unhealthy, even while " +
        "its Ready condition still says True. At least 10: the kubelet renews every 10 s by default. Never " +
        "less than half the Lease's own leaseDurationSeconds is used (two renewals of its kubelet).",
    ),
  notReadySeconds: z
    .number()
    .int()
    .min(0)
    .max(86400)
    .default(0)
    .describe(
      "How long a node must have been unhealthy before remediation acts on it. Status reports it at once.",
    ),
  remediation: z
    .enum(REMEDIATIONS)
    .default("None")
    .describe(
      "What to do with an unhealthy worker: None (report only), Cordon (mark unschedulable) or Drain " +
        "(cordon, then evict its pods through the Eviction API, respecting PodDisruptionBudgets). Undone " +
        "when the node recovers. Never applied to control-plane nodes.",
    ),
  maxUnhealthy: z
    .union([z.number().int().min(0), z.string().regex(PERCENT)])
    .default(1)
    .meta({
      "x-kubernetes-int-or-string": true,
      [MESSAGE_KEY]: "must be a count >= 0 (such as 1) or a percentage from 0% to 100% (such as 40%)",
    })
    .describe(
      "Remediation stops while more worker nodes than this are unhealthy: a count or a percentage of the " +
        "workers (rounded down). Many silent nodes at once point at the network or the control plane, " +
        "where cordoning would only add damage.",
    ),
  drainTimeoutSeconds: z
    .number()
    .int()
    .min(10)
    .max(86400)
    .default(300)
    .describe(
      "How long a drain keeps retrying evictions that a PodDisruptionBudget refuses. On timeout the node " +
        "stays cordoned and status says so; pods are never deleted around a budget.",
    ),
});

const addonSpecSchema = z.object({
  mode: z
    .enum(ADDON_MODES)
    .optional()
    .describe(
      "Reconcile re-applies drift and deletions, EnsureExists only re-creates missing objects, Disabled " +
        "does nothing. Unset: Reconcile for workloads and RBAC, EnsureExists for the Corefile ConfigMap. " +
        "The label kubelab.dev/addon-mode on an object overrides this.",
    ),
  unavailableSeconds: z
    .number()
    .int()
    .min(10)
    .max(86400)
    .default(180)
    .describe("A DaemonSet or Deployment unavailable for longer than this gets a rollout restart."),
});

const etcdBackupSpecSchema = z.object({
  schedule: z
    .string()
    .max(128)
    .regex(CRON_SCHEDULE)
    .meta({ [MESSAGE_KEY]: CRON_SCHEDULE_MESSAGE })
    .default("0 */6 * * *")
    .describe("When to take a snapshot, as a CronJob schedule (5 fields or @hourly, @daily...)."),
  retain: z.number().int().min(1).max(1000).default(7).describe("How many verified snapshots to keep."),
  hostPath: z
    .string()
    .max(BACKUP_ROOT.length + 63)
    .regex(BACKUP_DIRECTORY)
    .meta({ [MESSAGE_KEY]: BACKUP_DIRECTORY_MESSAGE })
    .default("/var/lib/kubelab/etcd-backups")
    .describe(
      "Directory on the control-plane node that receives the snapshot files: /var/lib/kubelab/<name>. The " +
        "provider maps it to .kubelab/backups/ on the host where it can.",
    ),
  verify: z
    .boolean()
    .default(true)
    .describe("Restore every snapshot into a temporary data dir before recording it as good."),
  suspend: z.boolean().default(false).describe("Stop scheduling new snapshots; existing ones are kept."),
});

export const labClusterSpecSchema = z
  .object({
    cni: z
      .enum(CNIS)
      .default("calico")
      .describe(
        "The CNI the lab runs (bootstrap sets it from lab.yaml's network.cni): the operator restores that " +
          "one's objects and reports its condition (CalicoHealthy or KubeRouterHealthy), never the other's.",
      ),
    nodes: z
      .object({
        expected: z
          .array(expectedNodeSchema)
          .max(10000)
          .default([])
          .meta(listMap(["name"]))
          .describe(
            "The nodes this lab should have (bootstrap fills it from lab.yaml). An expected node that does " +
              "not exist is reported Missing. Nodes not listed are still watched.",
          ),
      })
      .prefault({}),
    nodeHealth: nodeHealthSpecSchema.prefault({}),
    addons: z
      .object({
        calico: addonSpecSchema.prefault({}),
        kubeRouter: addonSpecSchema.prefault({}),
        coredns: addonSpecSchema.prefault({}),
      })
      .prefault({})
      .describe(
        "Restoration of the objects bootstrap installed: the CNI's (calico or kubeRouter, as spec.cni says) " +
          "and CoreDNS's.",
      ),
    etcdBackup: etcdBackupSpecSchema.prefault({}).describe("Scheduled, verified etcd snapshots."),
  })
  .describe("The desired state of the lab.");

/** Why a node is (un)healthy, in `status.nodes[].reason`. */
export const NodeHealthReason = {
  /** Ready=True and a fresh Lease. */
  healthy: "Healthy",
  /** The Lease was not renewed within leaseStaleSeconds (kubelet silent, node down or cut off). */
  leaseStale: "LeaseStale",
  /** The node has no Lease in kube-node-lease (yet): nothing proves its kubelet is alive. */
  noLease: "NoLease",
  /** The Ready condition is False: the kubelet reports a problem. */
  notReady: "NotReady",
  /** The Ready condition is Unknown or absent: the controller-manager lost the node. */
  readyUnknown: "ReadyUnknown",
  /** Listed in spec.nodes.expected but no Node object exists. */
  missing: "Missing",
} as const;
export type NodeHealthReason = (typeof NodeHealthReason)[keyof typeof NodeHealthReason];

/** What the operator did to a node, in `status.nodes[].remediated`; absent when nothing. */
export const REMEDIATION_STATES = ["Cordoned", "Draining", "Drained", "DrainTimedOut"] as const;
export type RemediationState = (typeof REMEDIATION_STATES)[number];

const nodeStatusSchema = z.object({
  name: z.string().describe("The Node's name."),
  role: z.enum(NODE_ROLES),
  ready: z.boolean().describe("Healthy: Ready=True and a Lease renewed within leaseStaleSeconds."),
  reason: z
    .string()
    .describe("Healthy, LeaseStale, NoLease, NotReady, ReadyUnknown or Missing (see the operator docs)."),
  message: z.string().max(1024).optional().describe("Details for humans."),
  since: timestamp().optional().describe("When the node entered its current health state, as observed."),
  lastHeartbeat: timestamp()
    .optional()
    .describe("The last renewal of the node's Lease; reported for nodes that are not healthy."),
  remediated: z
    .enum(REMEDIATION_STATES)
    .optional()
    .describe("What the operator did to the node: Cordoned, Draining, Drained or DrainTimedOut."),
});

const addonStatusSchema = z.object({
  healthy: z.boolean().optional().describe("Every object of the addon exists and is available."),
  restores: count()
    .optional()
    .describe("How many times the operator re-created, re-applied or restarted one of the addon's objects."),
  lastRestore: z
    .object({
      time: timestamp(),
      object: z
        .string()
        .describe("kind/namespace/name of the restored object (kind/name if cluster-scoped)."),
      reason: z
        .string()
        .describe(
          "Why: Deleted (re-created), Drifted (re-applied) or Unavailable (rollout restart of a workload).",
        ),
    })
    .optional(),
  objects: count().optional().describe("How many objects the addon's bundle holds."),
  source: z
    .enum(BUNDLE_SOURCES)
    .optional()
    .describe("Where the bundle came from: bootstrap (what it applied) or capture (live objects, once)."),
});

export const labClusterStatusSchema = z
  .object({
    observedGeneration: count().optional().describe("The .metadata.generation this status describes."),
    conditions: conditionList()
      .optional()
      .describe(
        "Ready, NodesHealthy, CalicoHealthy or KubeRouterHealthy (the CNI spec.cni names), CoreDNSHealthy, " +
          "BackupsHealthy.",
      ),
    readyNodes: count().optional().describe("Nodes that are healthy."),
    expectedNodes: count()
      .optional()
      .describe("The length of spec.nodes.expected, or the number of Nodes when it is empty."),
    nodeSummary: z.string().optional().describe("readyNodes/expectedNodes, for the NODES printer column."),
    nodes: z
      .array(nodeStatusSchema)
      .max(200)
      .optional()
      .meta(listMap(["name"]))
      .describe(
        "Per-node health, unhealthy or remediated nodes first, then expected ones; every node while there are " +
          "at most 50. At most 200 entries; the others are only counted (omittedNodes).",
      ),
    omittedNodes: count().optional().describe("Healthy nodes left out of status.nodes to keep it small."),
    addons: z
      .object({
        calico: addonStatusSchema.optional(),
        kubeRouter: addonStatusSchema.optional(),
        coredns: addonStatusSchema.optional(),
      })
      .optional(),
    backups: z
      .object({
        lastSuccessfulTime: timestamp().optional(),
        lastSnapshot: z.string().optional().describe("The name of the newest verified EtcdSnapshot."),
        count: count().optional().describe("How many EtcdSnapshots are kept."),
      })
      .optional(),
  })
  .describe("The observed state of the lab.");

export type LabClusterSpec = z.output<typeof labClusterSpecSchema>;
export type LabClusterSpecInput = z.input<typeof labClusterSpecSchema>;
export type LabClusterStatus = z.output<typeof labClusterStatusSchema>;
export type NodeStatus = z.output<typeof nodeStatusSchema>;
export type AddonStatus = z.output<typeof addonStatusSchema>;
export type ExpectedNode = z.output<typeof expectedNodeSchema>;
export type NodeHealthSpec = z.output<typeof nodeHealthSpecSchema>;

/** A LabCluster as read from the API server; `spec` has every default applied. */
export const labClusterSchema = z.object({
  apiVersion: z.literal(LABCLUSTER_API_VERSION).optional(),
  kind: z.literal(LABCLUSTER_KIND).optional(),
  metadata: objectMetaSchema,
  spec: labClusterSpecSchema.prefault({}),
  status: labClusterStatusSchema.optional(),
});
export type LabCluster = z.output<typeof labClusterSchema>;

/** The CRD of LabCluster; `npm run gen:crds` writes it to crds/. */
export const labClusterCrd: CrdDefinition = {
  group: API_GROUP,
  version: API_VERSION,
  kind: LABCLUSTER_KIND,
  plural: LABCLUSTER_PLURAL,
  singular: "labcluster",
  shortNames: ["lab"],
  scope: LABCLUSTER_SCOPE,
  description:
    "A kubelab lab: the nodes it should have and how the operator keeps it healthy (node health, CNI (Calico " +
    "or kube-router) and CoreDNS restoration, etcd snapshots). One per cluster.",
  spec: labClusterSpecSchema,
  status: labClusterStatusSchema,
  printerColumns: [
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Nodes", type: "string", jsonPath: ".status.nodeSummary", description: "ready/expected" },
    { name: "Calico", type: "string", jsonPath: '.status.conditions[?(@.type=="CalicoHealthy")].status' },
    {
      name: "KubeRouter",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="KubeRouterHealthy")].status',
    },
    { name: "CoreDNS", type: "string", jsonPath: '.status.conditions[?(@.type=="CoreDNSHealthy")].status' },
    { name: "Last Backup", type: "date", jsonPath: ".status.backups.lastSuccessfulTime" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
  validations: [
    {
      rule: "self.metadata.name.size() <= 63",
      message:
        "metadata.name: at most 63 characters: the name labels the backup CronJob, its Jobs and the " +
        "EtcdSnapshots (kubelab.dev/lab-cluster), and a label value is at most 63",
    },
  ],
};
