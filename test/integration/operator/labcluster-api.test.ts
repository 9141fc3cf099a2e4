// The CRDs on a real API server: invalid objects refused at admission naming the field, defaults, columns.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { CommandError } from "../../../bootstrap/errors.ts";
import { runProcess } from "../../../bootstrap/process.ts";
import { labClusterPath, LABCLUSTERS_PATH } from "../../../operator/labcluster/cache.ts";
import { controlPlane } from "../../envtest/index.ts";
import { adminClient, deleteLabCluster, installCrds } from "./helpers.ts";

/**
 * `kubectl apply --dry-run=server` of `object`: undefined when the API server accepts it, else kubectl's
 * error output, every refused field on its own line (`* spec.x: Invalid value: ...: message`).
 */
async function dryRunError(object: Record<string, unknown>): Promise<string | undefined> {
  const file = join(await scratch(), `${randomBytes(4).toString("hex")}.json`);
  await writeFile(file, JSON.stringify(object));
  const plane = controlPlane();
  const output: string[] = [];
  try {
    await runProcess(
      plane.binaries.path("kubectl"),
      ["--kubeconfig", plane.kubeconfigPath, "apply", "--dry-run=server", "-f", file],
      {
        timeoutMs: 60_000,
        signal: AbortSignal.timeout(90_000),
        logFile: join(plane.logsDir, "kubectl.log"),
        onLine: (line, stream) => {
          if (stream === "stderr") output.push(line);
        },
      },
    );
    return undefined;
  } catch (error) {
    if (error instanceof CommandError) return output.join("\n");
    throw error;
  }
}

let scratchDir: string | undefined;
async function scratch(): Promise<string> {
  scratchDir ??= await mkdtemp(join(tmpdir(), "kubelab-api-"));
  return scratchDir;
}

const labCluster = (spec: unknown, name = "invalid") => ({
  apiVersion: "kubelab.dev/v1alpha1",
  kind: "LabCluster",
  metadata: { name },
  spec,
});

/** Creates a LabCluster with `spec` and returns the API server's error message (or undefined if accepted). */
async function createError(name: string, spec: unknown): Promise<string | undefined> {
  return dryRunError(labCluster(spec, name));
}

/** An EtcdSnapshot as the agent records it, with `change` applied. */
function etcdSnapshot(change: (object: EtcdSnapshotObject) => void = () => {}): EtcdSnapshotObject {
  const name = "etcd-20260102-030405-ab12";
  const object: EtcdSnapshotObject = {
    apiVersion: "kubelab.dev/v1alpha1",
    kind: "EtcdSnapshot",
    metadata: { name },
    spec: {
      fileName: `${name}.db`,
      directory: "/var/lib/kubelab/etcd-backups",
      node: "m-k8s",
      labCluster: "lab",
      createdAt: "2026-01-02T03:04:05Z",
      sizeBytes: 20512,
      sha256: "a".repeat(64),
      etcd: { endpoint: "https://127.0.0.1:2379", version: "3.6.8", storageVersion: "3.6.0", revision: 42 },
      kubernetesVersion: "v1.36.5",
      saveDurationMs: 12,
    },
  };
  change(object);
  return object;
}
type EtcdSnapshotObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown> & { etcd: Record<string, unknown> };
};

describe("LabCluster API on the API server", () => {
  before(async () => {
    await installCrds();
    await controlPlane().kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd/etcdsnapshots.kubelab.dev",
    ]);
  });

  after(async () => {
    if (scratchDir !== undefined) await rm(scratchDir, { recursive: true, force: true });
  });

  // Each rule of the CRDs, as `kubectl apply --dry-run=server` meets it: refused at admission, naming the
  // field and saying what it accepts, never "created" and then reported by the operator.
  const invalid: [string, unknown, string, RegExp][] = [
    [
      "an unknown remediation",
      { nodeHealth: { remediation: "Reboot" } },
      "spec.nodeHealth.remediation",
      /supported values: "None", "Cordon", "Drain"/,
    ],
    [
      "a bad enum (node role)",
      { nodes: { expected: [{ name: "w1-k8s", role: "master" }] } },
      "spec.nodes.expected[0].role",
      /Unsupported value: "master"/,
    ],
    [
      "an invalid node name",
      { nodes: { expected: [{ name: "W1_k8s", role: "worker" }] } },
      "spec.nodes.expected[0].name",
      /should match/,
    ],
    [
      "a negative number",
      { nodeHealth: { leaseStaleSeconds: -3 } },
      "spec.nodeHealth.leaseStaleSeconds",
      /greater than or equal to 10/,
    ],
    [
      "a lease staleness of one kubelet renewal or less (5 s), which would drain healthy nodes",
      { nodeHealth: { leaseStaleSeconds: 5 } },
      "spec.nodeHealth.leaseStaleSeconds",
      /greater than or equal to 10/,
    ],
    [
      "a negative drain timeout",
      { nodeHealth: { drainTimeoutSeconds: -1 } },
      "spec.nodeHealth.drainTimeoutSeconds",
      /greater than or equal to 10/,
    ],
    [
      "a negative notReadySeconds",
      { nodeHealth: { notReadySeconds: -1 } },
      "spec.nodeHealth.notReadySeconds",
      /greater than or equal to 0/,
    ],
    [
      "a bad percent",
      { nodeHealth: { maxUnhealthy: "140%" } },
      "spec.nodeHealth.maxUnhealthy",
      /percentage from 0% to 100%/,
    ],
    [
      "a negative maxUnhealthy",
      { nodeHealth: { maxUnhealthy: -1 } },
      "spec.nodeHealth.maxUnhealthy",
      /count >= 0/,
    ],
    [
      "a percent without %",
      { nodeHealth: { maxUnhealthy: "40" } },
      "spec.nodeHealth.maxUnhealthy",
      /percentage/,
    ],
    [
      "an unknown addon mode",
      { addons: { coredns: { mode: "Sometimes" } } },
      "spec.addons.coredns.mode",
      /Unsupported value/,
    ],
    [
      "an unavailableSeconds below 10",
      { addons: { calico: { unavailableSeconds: 1 } } },
      "spec.addons.calico.unavailableSeconds",
      /greater than or equal to 10/,
    ],
    [
      "a schedule that is not cron",
      { etcdBackup: { schedule: "every day" } },
      "spec.etcdBackup.schedule",
      /must be a CronJob schedule/,
    ],
    [
      "a minute out of range, which a CronJob refuses too",
      { etcdBackup: { schedule: "61 * * * *" } },
      "spec.etcdBackup.schedule",
      /must be a CronJob schedule/,
    ],
    [
      "a day of week out of range",
      { etcdBackup: { schedule: "0 0 * * 9" } },
      "spec.etcdBackup.schedule",
      /must be a CronJob schedule/,
    ],
    [
      "a schedule with a time zone prefix",
      { etcdBackup: { schedule: "TZ=UTC 0 0 * * *" } },
      "spec.etcdBackup.schedule",
      /must be a CronJob schedule/,
    ],
    [
      "zero snapshots retained",
      { etcdBackup: { retain: 0 } },
      "spec.etcdBackup.retain",
      /greater than or equal to 1/,
    ],
    [
      "a backup directory outside /var/lib/kubelab/ (another pod's volume)",
      { etcdBackup: { hostPath: "/var/lib/kubelet/pods/x/volumes" } },
      "spec.etcdBackup.hostPath",
      /must be \/var\/lib\/kubelab\/<name>/,
    ],
    [
      "a backup directory climbing out of /var/lib/kubelab/",
      { etcdBackup: { hostPath: "/var/lib/kubelab/../kubelet" } },
      "spec.etcdBackup.hostPath",
      /must be \/var\/lib\/kubelab\/<name>/,
    ],
    [
      "a backup directory two levels below /var/lib/kubelab/",
      { etcdBackup: { hostPath: "/var/lib/kubelab/a/b" } },
      "spec.etcdBackup.hostPath",
      /must be \/var\/lib\/kubelab\/<name>/,
    ],
    [
      "a duplicate expected node",
      {
        nodes: {
          expected: [
            { name: "a", role: "worker" },
            { name: "a", role: "worker" },
          ],
        },
      },
      "spec.nodes.expected[1]",
      /Duplicate value/,
    ],
  ];
  for (const [what, spec, field, detail] of invalid) {
    it(`rejects ${what} with a message naming ${field}`, async () => {
      const message = await createError("invalid", spec);
      expect(message, "the API server accepted it").to.be.a("string");
      expect(message, message).to.contain(`${field}: `);
      expect(message, message).to.match(detail);
    });
  }

  it("rejects a LabCluster name longer than a label value, which would label its CronJob", async () => {
    const message = await dryRunError(labCluster({}, "a".repeat(64)));
    expect(message).to.match(/metadata\.name: at most 63 characters/);
    expect(await dryRunError(labCluster({}, "a".repeat(63)))).to.equal(undefined);
  });

  it("accepts every CronJob schedule form: lists, ranges, steps, names, descriptors", async () => {
    for (const schedule of ["*/15 0-6,22-23 * jan-MAR mon-fri", "5 4 1 */2 ?", "@weekly", "0 3 * * 0"]) {
      expect(await createError("schedule", { etcdBackup: { schedule } }), schedule).to.equal(undefined);
    }
    expect(await createError("backups", { etcdBackup: { hostPath: "/var/lib/kubelab/lab-2" } })).to.equal(
      undefined,
    );
  });

  const invalidSnapshots: [string, (object: EtcdSnapshotObject) => void, RegExp][] = [
    [
      "a file that is not the object's own",
      (object) => (object.spec.fileName = "etcd-20250101-000000-0000.db"),
      /spec\.fileName must be the object's name followed by \.db/,
    ],
    [
      "a file name that is a path",
      (object) => (object.spec.fileName = "../../etc/kubernetes/pki/ca.key"),
      /spec\.fileName: Invalid value/,
    ],
    [
      "a name the agent never makes",
      (object) => {
        object.metadata.name = "latest";
        object.spec.fileName = "latest.db";
      },
      /metadata\.name must be a snapshot name/,
    ],
    [
      "a relative directory",
      (object) => (object.spec.directory = "backups"),
      /spec\.directory: Invalid value/,
    ],
    ["an invalid node name", (object) => (object.spec.node = "M_K8S"), /spec\.node: Invalid value/],
    ["a sha256 that is not one", (object) => (object.spec.sha256 = "abc"), /spec\.sha256: Invalid value/],
    [
      "an etcd endpoint that is not a URL",
      (object) => (object.spec.etcd.endpoint = "127.0.0.1:2379"),
      /spec\.etcd\.endpoint: Invalid value/,
    ],
    [
      "an etcd version that is not one",
      (object) => (object.spec.etcd.version = "latest"),
      /spec\.etcd\.version: Invalid value/,
    ],
    [
      "a LabCluster name longer than a label value",
      (object) => (object.spec.labCluster = "a".repeat(64)),
      /spec\.labCluster: Too long/,
    ],
  ];
  for (const [what, change, detail] of invalidSnapshots) {
    it(`rejects an EtcdSnapshot with ${what}`, async () => {
      const message = await dryRunError(etcdSnapshot(change));
      expect(message, "the API server accepted it").to.be.a("string");
      expect(message, message).to.match(detail);
    });
  }

  it("accepts an EtcdSnapshot as the agent records it", async () => {
    expect(await dryRunError(etcdSnapshot())).to.equal(undefined);
  });

  it("fills every default of an empty spec on the server", async () => {
    const client = adminClient();
    await client.create(LABCLUSTERS_PATH, {
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "LabCluster",
      metadata: { name: "defaults" },
    });
    try {
      const object = await client.get<{ spec: Record<string, Record<string, unknown>> }>(
        labClusterPath("defaults"),
      );
      expect(object.spec.nodeHealth).to.deep.equal({
        leaseStaleSeconds: 20,
        notReadySeconds: 0,
        remediation: "None",
        maxUnhealthy: 1,
        drainTimeoutSeconds: 300,
      });
      expect(object.spec.etcdBackup).to.include({ schedule: "0 */6 * * *", retain: 7, verify: true });
    } finally {
      await deleteLabCluster("defaults");
    }
  });

  it("accepts a percentage and a count for maxUnhealthy", async () => {
    expect(await createError("percent", { nodeHealth: { maxUnhealthy: "40%" } })).to.equal(undefined);
    expect(await createError("count", { nodeHealth: { maxUnhealthy: 3 } })).to.equal(undefined);
  });

  it("serves the status subresource: the main resource ignores status writes", async () => {
    const client = adminClient();
    await client.create(LABCLUSTERS_PATH, {
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "LabCluster",
      metadata: { name: "subresource" },
      status: { readyNodes: 9 },
    });
    try {
      const object = await client.get<{ status?: unknown }>(labClusterPath("subresource"));
      expect(object.status).to.equal(undefined);
    } finally {
      await deleteLabCluster("subresource");
    }
  });

  it("shows the printer columns in kubectl get labclusters", async () => {
    const client = adminClient();
    await client.create(LABCLUSTERS_PATH, {
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "LabCluster",
      metadata: { name: "columns" },
    });
    try {
      await client.apply(
        labClusterPath("columns", "status"),
        {
          apiVersion: "kubelab.dev/v1alpha1",
          kind: "LabCluster",
          metadata: { name: "columns" },
          status: {
            nodeSummary: "2/3",
            conditions: [
              {
                type: "Ready",
                status: "False",
                reason: "NodesUnhealthy",
                message: "",
                lastTransitionTime: "2026-01-01T00:00:00Z",
              },
              {
                type: "CalicoHealthy",
                status: "True",
                reason: "Healthy",
                message: "",
                lastTransitionTime: "2026-01-01T00:00:00Z",
              },
            ],
          },
        },
        "kubelab-tests",
      );
      const table = await controlPlane().kubectl(["get", "labclusters", "columns"]);
      const [header, row] = table.trim().split("\n");
      expect(header?.split(/\s{2,}/)).to.deep.equal([
        "NAME",
        "READY",
        "NODES",
        "CALICO",
        "KUBEROUTER",
        "COREDNS",
        "LAST BACKUP",
        "AGE",
      ]);
      expect(row).to.match(/^columns\s+False\s+2\/3\s+True\s+/);
    } finally {
      await deleteLabCluster("columns");
    }
  });
});
