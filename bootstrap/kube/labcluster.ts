// The lab's LabCluster: built from lab.yaml, and read back as readiness, status lines and the `up` summary.
import { Cron } from "croner";

import {
  ConditionType,
  INFORMATIONAL_CONDITIONS,
  LABCLUSTER_API_VERSION,
  LABCLUSTER_KIND,
  type Cni,
  type LabClusterSpecInput,
  type LabClusterStatus,
} from "../../operator/api/labcluster.ts";
import { labCni, type Lab } from "../lab/config.ts";

/** The LabCluster bootstrap applies: what lab.yaml decides, nothing more. */
interface LabClusterObject {
  readonly apiVersion: typeof LABCLUSTER_API_VERSION;
  readonly kind: typeof LABCLUSTER_KIND;
  readonly metadata: { readonly name: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: LabClusterSpecInput;
}

/** A LabCluster as read from the API server (only what bootstrap shows). */
export interface LiveLabCluster {
  readonly metadata?: { readonly name?: string; readonly generation?: number };
  readonly spec?: {
    readonly cni?: Cni;
    readonly etcdBackup?: { readonly schedule?: string; readonly suspend?: boolean };
  };
  readonly status?: LabClusterStatus;
}

/** The LabCluster's name: the lab's (one LabCluster per cluster; `kubectl describe labcluster NAME`). */
export function labClusterName(lab: Pick<Lab, "name">): string {
  return lab.name;
}

/**
 * The LabCluster for a lab: its CNI (labCni: the one the operator guards, set even when it is the default),
 * every node with its role, and the backup schedule and retention of lab.yaml. Everything else (node health, remediation, addon modes, backup hostPath) is left to the CRD's defaults
 * and to the user: bootstrap applies with server-side apply and owns only these fields, so a
 * `kubectl edit labcluster` of the others survives the next `up`.
 */
export function labClusterFor(lab: Lab): LabClusterObject {
  return {
    apiVersion: LABCLUSTER_API_VERSION,
    kind: LABCLUSTER_KIND,
    metadata: {
      name: labClusterName(lab),
      labels: { "app.kubernetes.io/part-of": "kubelab", "app.kubernetes.io/managed-by": "kubelab-bootstrap" },
    },
    spec: {
      cni: labCni(lab),
      nodes: { expected: lab.nodes.map((node) => ({ name: node.name, role: node.role })) },
      etcdBackup: { schedule: lab.backup.schedule, retain: lab.backup.retain },
    },
  };
}

/** Where a LabCluster stands: Ready or not, and the conditions that hold it back. */
export interface LabClusterReadiness {
  readonly ready: boolean;
  /** The operator has not reported on the current generation yet. */
  readonly stale: boolean;
  /** Conditions that count towards Ready and are not True: "CalicoHealthy=False (DaemonSetUnavailable: ...)". */
  readonly notTrue: readonly string[];
}

/**
 * Ready=True for the current generation (observedGeneration), as `kubectl wait --for=condition=Ready` sees
 * it; otherwise the conditions that are not True, named, for progress lines and errors.
 */
export function readinessOf(labCluster: LiveLabCluster): LabClusterReadiness {
  const status = labCluster.status;
  const generation = labCluster.metadata?.generation;
  const stale =
    status?.observedGeneration === undefined ||
    (generation !== undefined && status.observedGeneration < generation);
  const conditions = status?.conditions ?? [];
  const ready = conditions.find((condition) => condition.type === ConditionType.ready);
  const notTrue = conditions
    .filter(
      (condition) =>
        condition.type !== ConditionType.ready &&
        !INFORMATIONAL_CONDITIONS.includes(condition.type) &&
        condition.status !== "True",
    )
    .map((condition) => `${condition.type}=${condition.status} (${condition.reason}: ${condition.message})`);
  if (ready === undefined) return { ready: false, stale, notTrue };
  return {
    ready: !stale && ready.status === "True",
    stale,
    notTrue: ready.status === "True" ? notTrue : notTrue.length > 0 ? notTrue : [`Ready=${ready.status}`],
  };
}

/** One progress line while waiting: what is not true yet. */
export function waitingLine(readiness: LabClusterReadiness): string {
  if (readiness.notTrue.length === 0) {
    return readiness.stale
      ? "waiting for the operator to report on the LabCluster"
      : "waiting for the operator to set Ready";
  }
  return `not Ready yet: ${readiness.notTrue.join("; ")}${readiness.stale ? " (the operator has not reported on the latest spec yet)" : ""}`;
}

/** The next time a 5-field cron schedule fires after `now`, in UTC (the nodes' time zone); undefined if never. */
export function nextBackupTime(schedule: string, now: Date): Date | undefined {
  try {
    const cron = new Cron(schedule, { timezone: "Etc/UTC", mode: "5-part", paused: true });
    const next = cron.nextRun(now) ?? undefined;
    cron.stop();
    return next;
  } catch {
    return undefined;
  }
}

/** "2026-11-27 00:00 UTC". */
function formatUtc(time: Date): string {
  return `${time.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/**
 * Lines about a LabCluster for `status` and the end of `up`: Ready, nodes ready/expected, addon health,
 * last backup and the next one by the schedule.
 */
export function describeLabCluster(labCluster: LiveLabCluster, now: Date): string[] {
  const status = labCluster.status;
  const conditions = status?.conditions ?? [];
  const condition = (type: string) => conditions.find((entry) => entry.type === type);
  const ready = condition(ConditionType.ready);
  const cni = labCluster.spec?.cni ?? "calico";
  const addon = (label: string, type: string, objects: number | undefined) => {
    const found = condition(type);
    const state = found === undefined ? "unknown" : found.status === "True" ? "healthy" : found.reason;
    return `${label} ${state}${objects === undefined ? "" : ` (${objects} objects)`}`;
  };
  const backups = status?.backups;
  const schedule = labCluster.spec?.etcdBackup?.schedule;
  const next =
    labCluster.spec?.etcdBackup?.suspend === true
      ? "suspended"
      : schedule === undefined
        ? "unknown"
        : (() => {
            const time = nextBackupTime(schedule, now);
            return time === undefined ? `schedule ${schedule}` : `${formatUtc(time)} (${schedule})`;
          })();
  return [
    `LabCluster ${labCluster.metadata?.name ?? "?"}: Ready=${ready?.status ?? "Unknown"}${
      ready !== undefined && ready.status !== "True" ? ` (${ready.reason}: ${ready.message})` : ""
    }`,
    `  nodes:   ${status?.readyNodes ?? "?"}/${status?.expectedNodes ?? "?"} ready`,
    `  addons:  ${
      cni === "calico"
        ? addon("calico", ConditionType.calicoHealthy, status?.addons?.calico?.objects)
        : addon("kube-router", ConditionType.kubeRouterHealthy, status?.addons?.kubeRouter?.objects)
    }, ${addon("coredns", ConditionType.corednsHealthy, status?.addons?.coredns?.objects)}`,
    `  backups: last ${
      backups?.lastSuccessfulTime === undefined
        ? "none yet"
        : `${formatUtc(new Date(backups.lastSuccessfulTime))} (${backups.lastSnapshot ?? "?"})`
    }, next ${next}, ${backups?.count ?? 0} kept`,
  ];
}
