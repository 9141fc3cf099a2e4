// The backups part's decisions: the CronJob it wants, the schedule interval, and when backups are healthy.
import { expect } from "chai";

import { labClusterSchema } from "../../../../operator/api/labcluster.ts";
import {
  backupCronJob,
  backupHealth,
  cronJobName,
  DEFAULT_BACKUP_OPTIONS,
  scheduleInterval,
  type CachedJob,
  type CachedSnapshot,
} from "../../../../operator/labcluster/backups.ts";

const HOUR = 3600_000;

function lab(etcdBackup: Record<string, unknown> = {}) {
  return labClusterSchema.parse({
    metadata: { name: "lab", uid: "0b3c-uid" },
    spec: { etcdBackup },
  });
}

interface PodSpec {
  hostNetwork: boolean;
  nodeSelector: Record<string, string>;
  tolerations: { key: string; operator: string; effect: string }[];
  serviceAccountName: string;
  containers: {
    args: string[];
    image: string;
    volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
    securityContext: { readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } };
  }[];
  volumes: { name: string; hostPath?: { path: string; type: string } }[];
}

function shape(cronJob: Record<string, unknown>) {
  const spec = cronJob.spec as {
    schedule: string;
    suspend: boolean;
    concurrencyPolicy: string;
    successfulJobsHistoryLimit: number;
    failedJobsHistoryLimit: number;
    jobTemplate: { spec: { activeDeadlineSeconds: number; template: { spec: PodSpec } } };
  };
  const pod = spec.jobTemplate.spec.template.spec;
  return { spec, pod, container: pod.containers[0]! };
}

describe("backupCronJob", () => {
  it("runs the agent on the control plane: selector, toleration, host network, Forbid, history, deadline", () => {
    const { spec, pod, container } = shape(backupCronJob(lab(), DEFAULT_BACKUP_OPTIONS));
    expect(spec.schedule).to.equal("0 */6 * * *");
    expect(spec.concurrencyPolicy).to.equal("Forbid");
    expect(spec.successfulJobsHistoryLimit).to.be.within(1, 10);
    expect(spec.failedJobsHistoryLimit).to.be.within(1, 10);
    expect(spec.jobTemplate.spec.activeDeadlineSeconds).to.be.greaterThan(0);
    expect(pod.hostNetwork).to.equal(true);
    expect(pod.nodeSelector).to.deep.equal({ "node-role.kubernetes.io/control-plane": "" });
    expect(pod.tolerations).to.deep.include({
      key: "node-role.kubernetes.io/control-plane",
      operator: "Exists",
      effect: "NoSchedule",
    });
    expect(pod.serviceAccountName).to.equal("kubelab-snapshot-agent");
    expect(container.args.slice(0, 2)).to.deep.equal(["snapshot", "save"]);
    expect(container.securityContext.readOnlyRootFilesystem).to.equal(true);
    expect(container.securityContext.capabilities.drop).to.deep.equal(["ALL"]);
  });

  it("mounts only etcd's CA certificate and the healthcheck client's pair, each a read-only File, and the backup directory", () => {
    const { pod, container } = shape(
      backupCronJob(lab({ hostPath: "/var/lib/kubelab/lab-a" }), DEFAULT_BACKUP_OPTIONS),
    );
    const files = ["ca.crt", "healthcheck-client.crt", "healthcheck-client.key"];
    const mounts = container.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
    const volumes = pod.volumes as { name: string; hostPath?: { path: string; type: string } }[];
    expect(mounts.filter((mount) => mount.mountPath.startsWith("/etc/kubernetes/pki/etcd"))).to.deep.equal(
      files.map((file) => ({
        name: mounts.find((mount) => mount.mountPath === `/etc/kubernetes/pki/etcd/${file}`)?.name,
        mountPath: `/etc/kubernetes/pki/etcd/${file}`,
        readOnly: true,
      })),
    );
    const hostPaths = volumes.flatMap((volume) => (volume.hostPath === undefined ? [] : [volume.hostPath]));
    expect(hostPaths).to.deep.equal([
      ...files.map((file) => ({ path: `/etc/kubernetes/pki/etcd/${file}`, type: "File" })),
      { path: "/var/lib/kubelab/lab-a", type: "DirectoryOrCreate" },
    ]);
    expect(container.volumeMounts).to.deep.include({ name: "backups", mountPath: "/var/lib/kubelab/lab-a" });
    expect(container.args).to.include("--dir=/var/lib/kubelab/lab-a");
  });

  it("follows the spec: schedule, retain, verify, suspend, and the owning LabCluster", () => {
    const cronJob = backupCronJob(
      lab({ schedule: "@daily", retain: 3, verify: false, suspend: true }),
      DEFAULT_BACKUP_OPTIONS,
    );
    const { spec, container } = shape(cronJob);
    expect(spec.schedule).to.equal("@daily");
    expect(spec.suspend).to.equal(true);
    expect(container.args).to.include.members([
      "--retain=3",
      "--no-verify",
      "--lab-cluster=lab",
      "--lab-cluster-uid=0b3c-uid",
      "--record-objects",
    ]);
    const owner = (cronJob.metadata as { ownerReferences: Record<string, unknown>[] }).ownerReferences[0];
    expect(owner).to.include({ kind: "LabCluster", name: "lab", uid: "0b3c-uid", controller: true });
  });

  it("keeps CronJob names within 52 characters, distinct for distinct long LabCluster names", () => {
    expect(cronJobName("lab")).to.equal("kubelab-etcd-backup-lab");
    const a = cronJobName(`${"a".repeat(60)}-one`);
    const b = cronJobName(`${"a".repeat(60)}-two`);
    expect(a.length).to.be.at.most(52);
    expect(a).to.not.equal(b);
  });
});

describe("scheduleInterval", () => {
  const from = new Date("2026-01-05T10:00:00Z");

  it("is the period of a regular schedule", () => {
    expect(scheduleInterval("0 */6 * * *", from)).to.equal(6 * HOUR);
    expect(scheduleInterval("@hourly", from)).to.equal(HOUR);
  });

  it("is the longest gap of an irregular one (weekdays only: the weekend)", () => {
    expect(scheduleInterval("0 2 * * 1-5", from)).to.equal(72 * HOUR);
  });

  it("refuses what is not a 5-field schedule, naming spec.etcdBackup.schedule", () => {
    expect(() => scheduleInterval("61 * * * *", from)).to.throw(RangeError, /spec\.etcdBackup\.schedule/);
    expect(() => scheduleInterval("0 0 * * * *", from)).to.throw(RangeError, /spec\.etcdBackup\.schedule/);
  });
});

describe("backupHealth", () => {
  const now = new Date("2026-01-05T12:00:00Z");
  const snapshot = (name: string, hoursAgo: number, verified = true): CachedSnapshot => ({
    metadata: { name, labCluster: "lab" },
    createdAt: new Date(now.getTime() - hoursAgo * HOUR).toISOString(),
    verified,
  });
  const job = (outcome: CachedJob["outcome"]): CachedJob => ({
    metadata: { name: "backup-1", labCluster: "lab" },
    createdAt: now.toISOString(),
    outcome,
    finishedAt: now.toISOString(),
    failure:
      outcome === "Failed" ? "DeadlineExceeded: Job was active longer than specified deadline" : undefined,
  });
  const base = {
    suspended: false,
    lastJob: undefined,
    snapshots: [] as CachedSnapshot[],
    scheduledSince: new Date(now.getTime() - HOUR),
    intervalMs: 6 * HOUR,
    now,
  };

  it("is healthy with a verified snapshot younger than twice the interval, and reports the newest", () => {
    const health = backupHealth({
      ...base,
      snapshots: [snapshot("old", 20), snapshot("new", 3), snapshot("x", 1, false)],
    });
    expect(health.condition).to.include({ status: "True", reason: "BackupsSucceeding" });
    expect(health.status).to.deep.equal({
      lastSuccessfulTime: new Date(now.getTime() - 3 * HOUR).toISOString(),
      lastSnapshot: "new",
      count: 3,
    });
    expect(health.staleAt?.toISOString()).to.equal(new Date(now.getTime() + 9 * HOUR).toISOString());
  });

  it("is unhealthy when no verified snapshot is younger than twice the interval", () => {
    const health = backupHealth({ ...base, snapshots: [snapshot("old", 13)] });
    expect(health.condition).to.include({ status: "False", reason: "NoRecentBackup" });
  });

  it("waits for the first backup until twice the interval after scheduling, then reports it missing", () => {
    expect(backupHealth(base).condition).to.include({ status: "True", reason: "FirstBackupPending" });
    const late = backupHealth({ ...base, scheduledSince: new Date(now.getTime() - 12 * HOUR) });
    expect(late.condition).to.include({ status: "False", reason: "NoRecentBackup" });
  });

  it("is unhealthy when the last Job failed, even with a recent snapshot, and says why", () => {
    const health = backupHealth({ ...base, lastJob: job("Failed"), snapshots: [snapshot("new", 1)] });
    expect(health.condition).to.include({ status: "False", reason: "BackupJobFailed" });
    expect(health.condition.message).to.include("DeadlineExceeded");
    expect(
      backupHealth({ ...base, lastJob: job("Complete"), snapshots: [snapshot("n", 1)] }).condition.status,
    ).to.equal("True");
  });

  it("reports suspended backups as such, not as a fault", () => {
    const health = backupHealth({ ...base, suspended: true, scheduledSince: new Date(0) });
    expect(health.condition).to.include({ status: "True", reason: "Suspended" });
    expect(health.staleAt).to.equal(undefined);
  });
});
