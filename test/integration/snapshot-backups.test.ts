// Scheduled backups on the real API server with controllers: the CronJob, its Jobs, EtcdSnapshots, status.
import { fileURLToPath } from "node:url";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

import { formatBackups, listBackups, runBackup, runSnapshotSync } from "../../bootstrap/etcd/backup.ts";
import { ConditionType } from "../../operator/api/labcluster.ts";
import { cronJobName, JOB_DEADLINE_SECONDS } from "../../operator/labcluster/backups.ts";
import { KubeClient, resourcePath } from "../../operator/runtime/client.ts";
import { impersonate } from "../../operator/runtime/kubeconfig.ts";
import { silentOperatorLogger } from "../../operator/runtime/log.ts";
import { runProcess } from "../../bootstrap/process.ts";
import { syncRecorders, takeSnapshot } from "../../operator/snapshot/agent.ts";
import {
  EtcdSnapshotRecorder,
  etcdSnapshotObject,
  etcdSnapshotPath,
} from "../../operator/snapshot/kube-recorder.ts";
import { SnapshotStore } from "../../operator/snapshot/store.ts";
import { controlPlane, waitFor } from "../envtest/index.ts";
import {
  adminClient,
  adminConnection,
  applyLabCluster,
  deleteLabCluster,
  CRD_DIRECTORY,
  labClusterEvents,
  labClusterStatus,
  startOperator,
  type RunningOperator,
} from "./operator/helpers.ts";

const AGENT_MANIFEST = fileURLToPath(new URL("../../manifests/snapshot-agent.yaml", import.meta.url));
const AGENT_USER = "system:serviceaccount:kube-system:kubelab-snapshot-agent";
const LAB = "backups";
const NAMESPACE = "kube-system";

const cronJobPath = (name: string) =>
  resourcePath({ group: "batch", version: "v1", plural: "cronjobs", namespace: NAMESPACE, name });
const jobsPath = (name?: string) =>
  resourcePath({
    group: "batch",
    version: "v1",
    plural: "jobs",
    namespace: NAMESPACE,
    ...(name === undefined ? {} : { name }),
  });

interface CronJob {
  metadata: { ownerReferences?: { kind: string; name: string }[] };
  spec: {
    schedule: string;
    suspend: boolean;
    concurrencyPolicy: string;
    jobTemplate: {
      spec: {
        template: { spec: { containers: { image?: string; args: string[] }[]; hostNetwork: boolean } };
      };
    };
  };
}

describe("etcd backups: the LabCluster's CronJob, its Jobs and EtcdSnapshots (real API server)", function () {
  this.timeout(180_000);
  let operator: RunningOperator;
  const client = () => adminClient();
  let scratch: string;

  before(async function () {
    this.timeout(120_000);
    // The CRD files themselves (crds/ also holds a kustomization.yaml, which `kubectl apply -f` refuses).
    for (const crd of ["kubelab.dev_labclusters.yaml", "kubelab.dev_etcdsnapshots.yaml"]) {
      await controlPlane().kubectl([
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        join(CRD_DIRECTORY, crd),
      ]);
    }
    await controlPlane().kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd/labclusters.kubelab.dev",
      "crd/etcdsnapshots.kubelab.dev",
    ]);
    await controlPlane().kubectl(["apply", "--server-side", "-f", AGENT_MANIFEST]);
    scratch = await mkdtemp(join(tmpdir(), "kubelab-backups-test-"));
    operator = startOperator("backups");
  });

  after(async () => {
    await deleteLabCluster(LAB).catch(() => {});
    await operator?.stop();
    const jobs = await client().get<{
      items: { metadata: { name: string; labels?: Record<string, string> } }[];
    }>(jobsPath());
    for (const job of jobs.items) {
      if (job.metadata.labels?.["kubelab.dev/lab-cluster"] === LAB) {
        await client().delete(jobsPath(job.metadata.name), { query: { propagationPolicy: "Background" } });
      }
    }
    await client().delete(cronJobPath(cronJobName(LAB)));
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it("creates a CronJob owned by the LabCluster that the controllers turn into a Job", async () => {
    await applyLabCluster(LAB, { etcdBackup: { schedule: "* * * * *", retain: 3 } });
    const cronJob = await waitFor(
      "the backup CronJob",
      () => client().get<CronJob>(cronJobPath(cronJobName(LAB))),
      { timeoutMs: 30_000 },
    );
    expect(cronJob.metadata.ownerReferences?.[0]).to.include({ kind: "LabCluster", name: LAB });
    expect(cronJob.spec).to.include({ schedule: "* * * * *", suspend: false, concurrencyPolicy: "Forbid" });
    const pod = cronJob.spec.jobTemplate.spec.template.spec;
    expect(pod.hostNetwork).to.equal(true);
    expect(pod.containers[0]?.args).to.include("--retain=3");

    // The CronJob controller fires on the next minute boundary; kwok runs the pod to completion.
    const job = await waitFor(
      "a Job of the backup CronJob to complete",
      async () => {
        const jobs = await client().get<{
          items: {
            metadata: { name: string; ownerReferences?: { kind: string; name: string }[] };
            spec: { activeDeadlineSeconds?: number };
            status?: { conditions?: { type: string; status: string }[] };
          }[];
        }>(jobsPath());
        return jobs.items.find(
          (candidate) =>
            candidate.metadata.ownerReferences?.some((owner) => owner.name === cronJobName(LAB)) &&
            candidate.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True"),
        );
      },
      { timeoutMs: 150_000, intervalMs: 1000 },
    );
    expect(job.spec.activeDeadlineSeconds).to.equal(JOB_DEADLINE_SECONDS);
    // kwok's pod ran nothing: the Job completed and recorded no snapshot. BackupsHealthy stays True only
    // because the first one is not due yet, and says so; never BackupsSucceeding.
    const status = await labClusterStatus(LAB);
    const condition = status.conditions?.find((entry) => entry.type === ConditionType.backupsHealthy);
    expect(condition).to.include({ status: "True", reason: "FirstBackupPending" });
    expect(condition?.message).to.match(/^no snapshot yet; the first is due by /);
    expect(status.backups?.count).to.equal(0);
  });

  it("reports the snapshot the agent records (as its own ServiceAccount) in status.backups, with an Event", async () => {
    const plane = controlPlane();
    const labObject = await client().get<{ metadata: { uid: string } }>(
      `/apis/kubelab.dev/v1alpha1/labclusters/${LAB}`,
    );
    const agentClient = new KubeClient(impersonate(adminConnection(), AGENT_USER));
    const dir = join(scratch, "backups");
    const recorder = new EtcdSnapshotRecorder({
      client: agentClient,
      directory: dir,
      node: "m-k8s",
      labCluster: { name: LAB, uid: labObject.metadata.uid },
      log: silentOperatorLogger(),
    });
    const options = {
      dir,
      etcd: {
        endpoint: plane.etcd.endpoint,
        caCertPath: plane.etcd.caCertPath,
        certPath: plane.etcd.certPath,
        keyPath: plane.etcd.keyPath,
      },
      etcdutl: plane.binaries.path("etcdutl"),
      workDir: scratch,
      node: "m-k8s",
      labCluster: LAB,
      verify: true,
      retain: 1,
      kubernetesVersion: "v1.36.5",
      recorders: [recorder],
      log: silentOperatorLogger(),
    };
    const first = await takeSnapshot(options);
    const status = await waitFor("status.backups to name the snapshot", async () => {
      const current = await labClusterStatus(LAB);
      return current.backups?.lastSnapshot === first.snapshot.name ? current : undefined;
    });
    expect(status.backups).to.deep.include({ count: 1, lastSuccessfulTime: first.snapshot.record.createdAt });
    const events = await labClusterEvents(LAB);
    expect(
      events.some((event) => event.reason === "SnapshotRecorded" && event.note.includes(first.snapshot.name)),
    ).to.equal(true);

    const table = await plane.kubectl(["get", "etcdsnapshots", "-o", "wide"]);
    expect(table).to.match(/NAME\s+NODE\s+REVISION\s+KEYS\s+SIZE\s+VERIFIED\s+METHOD\s+LABCLUSTER/);
    expect(table).to.match(
      new RegExp(`${first.snapshot.name}\\s+m-k8s\\s+\\d+\\s+\\d+\\s+\\d+\\s+true\\s+TrialRestore\\s+${LAB}`),
    );

    // retain 1: the next run prunes the first snapshot's file and object together.
    const second = await takeSnapshot(options);
    expect(second.pruned).to.deep.equal([first.snapshot.name]);
    const remaining = await client().get<{ items: { metadata: { name: string } }[] }>(etcdSnapshotPath());
    const names = remaining.items.map((item) => item.metadata.name);
    expect(names).to.include(second.snapshot.name);
    expect(names).to.not.include(first.snapshot.name);
  });

  it("snapshot sync makes the objects match the records on disk, as after a restore, and only its LabCluster's", async () => {
    const plane = controlPlane();
    const dir = join(scratch, "backups");
    const [onDisk] = (await new SnapshotStore(dir).scan()).snapshots;
    expect(onDisk, "the previous test left a snapshot").to.not.equal(undefined);
    const labObject = await client().get<{ metadata: { uid: string } }>(
      `/apis/kubelab.dev/v1alpha1/labclusters/${LAB}`,
    );
    const agent = new KubeClient(impersonate(adminConnection(), AGENT_USER));
    const planted = async (name: string, labCluster: string) => {
      const record = { ...onDisk!.record, name, fileName: `${name}.db`, labCluster };
      await agent.apply(
        etcdSnapshotPath(name),
        etcdSnapshotObject(record, { directory: dir, labCluster: { name: labCluster } }),
        "kubelab-snapshot-agent",
      );
    };
    // As etcd is after a restore: an object of the restored moment whose file was pruned since, and none for
    // the file on disk. And another LabCluster's object on the same node, which is not ours to touch.
    await client().delete(etcdSnapshotPath(onDisk!.name));
    await planted("etcd-20250101-000000-dead", LAB);
    await planted("etcd-20250101-000000-beef", "other-lab");
    const result = await runProcess(
      process.execPath,
      [
        fileURLToPath(new URL("../../bin/kubelab-operator.js", import.meta.url)),
        "snapshot",
        "sync",
        `--dir=${dir}`,
        "--node=m-k8s",
        `--lab-cluster=${LAB}`,
        `--lab-cluster-uid=${labObject.metadata.uid}`,
        `--kubeconfig=${plane.kubeconfigPath}`,
      ],
      {
        timeoutMs: 60_000,
        signal: AbortSignal.timeout(90_000),
        logFile: join(plane.logsDir, "snapshot-sync.log"),
      },
    );
    expect(JSON.parse(result.stdout)).to.deep.equal({
      snapshots: [onDisk!.name],
      recorded: [onDisk!.name],
      removed: ["etcd-20250101-000000-dead"],
    });
    const names = (
      await client().get<{ items: { metadata: { name: string } }[] }>(etcdSnapshotPath())
    ).items.map((item) => item.metadata.name);
    expect(names).to.include(onDisk!.name).and.include("etcd-20250101-000000-beef");
    expect(names).to.not.include("etcd-20250101-000000-dead");
    const restored = await client().get<{ status?: { verification?: { verified?: boolean } } }>(
      etcdSnapshotPath(onDisk!.name),
    );
    expect(restored.status?.verification?.verified).to.equal(true);
    // The agent's own identity may do the same (list, patch, delete): nothing left to change.
    const recorder = new EtcdSnapshotRecorder({
      client: agent,
      directory: dir,
      node: "m-k8s",
      labCluster: { name: LAB, uid: labObject.metadata.uid },
      log: silentOperatorLogger(),
    });
    expect(await syncRecorders(new SnapshotStore(dir), [recorder])).to.deep.equal({
      recorded: [],
      removed: [],
    });
    await client().delete(etcdSnapshotPath("etcd-20250101-000000-beef"));
  });

  it("bootstrap backups lists the recorded snapshots; bootstrap backup runs the CronJob's template as its Job", async () => {
    const config = controlPlane().kubeConfig;
    const { snapshots } = await listBackups(config);
    expect(snapshots.length).to.be.greaterThan(0);
    expect(formatBackups(snapshots)).to.match(/^NAME\s+CREATED\s+NODE\s+SIZE\s+REVISION\s+KEYS\s+VERIFIED\n/);
    expect(formatBackups(snapshots)).to.include("yes (TrialRestore)");

    // On kwok nodes the Job's container does not run: the Job completes and records nothing, which
    // `bootstrap backup` must report instead of claiming a backup.
    const error = await runBackup(config, {
      labCluster: LAB,
      signal: new AbortController().signal,
      intervalMs: 500,
      timeoutMs: 90_000,
    }).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error?.message).to.match(
      /backup Job kube-system\/kubelab-etcd-backup-backups-manual-\w+ completed but recorded no EtcdSnapshot/,
    );
    const jobs = await client().get<{
      items: {
        metadata: {
          name: string;
          annotations?: Record<string, string>;
          ownerReferences?: { kind: string; name: string }[];
        };
        spec: { template: { spec: { containers: { args: string[] }[] } } };
      }[];
    }>(jobsPath());
    const manual = jobs.items.find(
      (job) => job.metadata.annotations?.["cronjob.kubernetes.io/instantiate"] === "manual",
    );
    expect(manual?.metadata.ownerReferences?.[0]).to.include({ kind: "CronJob", name: cronJobName(LAB) });
    expect(manual?.spec.template.spec.containers[0]?.args).to.include("--record-objects");
  });

  it("after a restore, runSnapshotSync runs the agent's snapshot sync as a Job from the same CronJob template", async () => {
    const config = controlPlane().kubeConfig;
    const job = await runSnapshotSync(config, {
      labCluster: LAB,
      signal: new AbortController().signal,
      intervalMs: 500,
      timeoutMs: 90_000,
    });
    const created = await client().get<{
      metadata: { ownerReferences?: { kind: string; name: string }[] };
      spec: { template: { spec: { containers: { image: string; args: string[] }[]; nodeName?: string } } };
    }>(`${jobsPath()}/${job}`);
    const cronJob = await client().get<CronJob>(cronJobPath(cronJobName(LAB)));
    const template = cronJob.spec.jobTemplate.spec.template.spec.containers[0]!;
    expect(created.metadata.ownerReferences?.[0]).to.include({ kind: "CronJob", name: cronJobName(LAB) });
    const [container] = created.spec.template.spec.containers;
    expect(container?.image, "the same image as the backups").to.equal(template.image);
    const dir = template.args.find((arg) => arg.startsWith("--dir="))!.slice("--dir=".length);
    expect(container?.args.slice(0, 4)).to.deep.equal([
      "snapshot",
      "sync",
      `--dir=${dir}`,
      `--lab-cluster=${LAB}`,
    ]);
    expect(container?.args.join(" ")).to.match(/--lab-cluster-uid=[0-9a-f-]{36}$/);
  });

  it("updates the CronJob when the spec changes and suspends it", async () => {
    await applyLabCluster(LAB, { etcdBackup: { schedule: "15 3 * * *", retain: 5, suspend: true } });
    const cronJob = await waitFor("the CronJob to follow the spec", async () => {
      const current = await client().get<CronJob>(cronJobPath(cronJobName(LAB)));
      return current.spec.suspend && current.spec.schedule === "15 3 * * *" ? current : undefined;
    });
    expect(cronJob.spec.jobTemplate.spec.template.spec.containers[0]?.args).to.include("--retain=5");
    const status = await waitFor("BackupsHealthy to say Suspended", async () => {
      const current = await labClusterStatus(LAB);
      const condition = current.conditions?.find((entry) => entry.type === ConditionType.backupsHealthy);
      return condition?.reason === "Suspended" ? condition : undefined;
    });
    expect(status.status).to.equal("True");
  });

  it("turns BackupsHealthy False with a Warning Event when the newest backup Job fails", async () => {
    await applyLabCluster(LAB, { etcdBackup: { schedule: "15 3 * * *", suspend: false } });
    // A Job of the backup kind that cannot be scheduled anywhere fails at its deadline.
    await client().create(jobsPath(), {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: "backup-doomed",
        namespace: NAMESPACE,
        labels: { "app.kubernetes.io/component": "etcd-backup", "kubelab.dev/lab-cluster": LAB },
      },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: 2,
        template: {
          spec: {
            restartPolicy: "Never",
            nodeSelector: { "kubernetes.io/hostname": "no-such-node" },
            containers: [{ name: "snapshot", image: "kubelab-operator:0.1.0" }],
          },
        },
      },
    });
    const condition = await waitFor(
      "BackupsHealthy to turn False",
      async () => {
        const current = await labClusterStatus(LAB);
        const found = current.conditions?.find((entry) => entry.type === ConditionType.backupsHealthy);
        return found?.status === "False" ? found : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(condition.reason).to.equal("BackupJobFailed");
    expect(condition.message).to.include("backup-doomed");
    const events = await labClusterEvents(LAB);
    expect(events.some((event) => event.type === "Warning" && event.reason === "BackupFailed")).to.equal(
      true,
    );
  });
});
