// Restore drill on a real control plane: objects (a LabCluster too) -> agent snapshot -> deleted -> restored.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

import { type ControlPlane, startControlPlane } from "../../bootstrap/controlplane/engine.ts";
import { labClusterPath } from "../../operator/labcluster/cache.ts";
import { KubeClient, resourcePath } from "../../operator/runtime/client.ts";
import { silentOperatorLogger } from "../../operator/runtime/log.ts";
import { restoreStoredSnapshot, takeSnapshot } from "../../operator/snapshot/agent.ts";
import { RestoreTargetExistsError, SnapshotVerificationError } from "../../operator/snapshot/errors.ts";
import { SnapshotStore } from "../../operator/snapshot/store.ts";
import { adminConnection, CRD_DIRECTORY } from "./operator/helpers.ts";

const log = silentOperatorLogger();
const MANAGER = "kubelab-tests";

describe("restore drill: an agent snapshot brings deleted objects back on a real control plane", function () {
  this.timeout(240_000);
  let plane: ControlPlane;
  let client: KubeClient;
  let scratch: string;

  before(async function () {
    this.timeout(180_000);
    plane = await startControlPlane({ etcdUnsafeNoFsync: true });
    client = new KubeClient(adminConnection(plane));
    scratch = await mkdtemp(join(tmpdir(), "kubelab-restore-drill-"));
    await plane.kubectl([
      "apply",
      "--server-side",
      "-f",
      join(CRD_DIRECTORY, "kubelab.dev_labclusters.yaml"),
    ]);
    await plane.kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd/labclusters.kubelab.dev",
    ]);
  });

  after(async () => {
    client?.close();
    await plane?.stop();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  const namespacePath = resourcePath({ group: "", version: "v1", plural: "namespaces", name: "drill" });
  const configMapPath = (name: string) =>
    resourcePath({ group: "", version: "v1", plural: "configmaps", namespace: "drill", name });
  const secretPath = resourcePath({
    group: "",
    version: "v1",
    plural: "secrets",
    namespace: "drill",
    name: "keep",
  });

  async function exists(path: string): Promise<boolean> {
    return client.get(path).then(
      () => true,
      (error: { statusCode?: number }) => {
        if (error.statusCode === 404) return false;
        throw error;
      },
    );
  }

  it("brings back the ConfigMap, Secret and LabCluster deleted after the snapshot, and drops what came after", async () => {
    await client.apply(
      namespacePath,
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "drill" } },
      MANAGER,
    );
    await client.apply(
      configMapPath("before"),
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "before", namespace: "drill" },
        data: { a: "1" },
      },
      MANAGER,
    );
    await client.apply(
      secretPath,
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "keep", namespace: "drill" },
        stringData: { token: "s3cret" },
      },
      MANAGER,
    );
    await client.apply(
      labClusterPath("drill-lab"),
      {
        apiVersion: "kubelab.dev/v1alpha1",
        kind: "LabCluster",
        metadata: { name: "drill-lab" },
        spec: { etcdBackup: { retain: 2 } },
      },
      MANAGER,
    );

    const etcd = plane.etcd;
    const dir = join(scratch, "backups");
    const taken = await takeSnapshot({
      dir,
      etcd: {
        endpoint: etcd.endpoint,
        caCertPath: etcd.caCertPath,
        certPath: etcd.certPath,
        keyPath: etcd.keyPath,
      },
      etcdutl: plane.binaries.path("etcdutl"),
      workDir: scratch,
      node: "m-k8s",
      verify: true,
      log,
    });

    // After the snapshot: the objects are deleted, and something new is created.
    await client.delete(labClusterPath("drill-lab"));
    await client.delete(secretPath);
    await client.delete(configMapPath("before"));
    await client.apply(
      configMapPath("after"),
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "after", namespace: "drill" } },
      MANAGER,
    );
    expect(await exists(labClusterPath("drill-lab"))).to.equal(false);

    // The kubeadm procedure: stop kube-apiserver and etcd, restore into a new data dir, restart on it.
    const oldDataDir = etcd.dataDir;
    await plane.stopComponents(["kube-apiserver", "etcd"]);
    const dataDir = join(scratch, "etcd-restored");
    const restored = await restoreStoredSnapshot({
      dir,
      etcdutl: plane.binaries.path("etcdutl"),
      workDir: scratch,
      log,
      name: "latest",
      dataDir,
      member: { name: etcd.name, peerUrl: etcd.peerUrl, initialCluster: etcd.initialCluster },
    });
    expect(restored.snapshot.name).to.equal(taken.snapshot.name);
    await plane.startComponents(["etcd", "kube-apiserver"], { etcdDataDir: dataDir });
    expect(plane.etcd.dataDir).to.equal(dataDir);
    client.close();
    client = new KubeClient(adminConnection(plane));

    expect(await exists(labClusterPath("drill-lab"))).to.equal(true);
    const lab = await client.get<{ spec: { etcdBackup: { retain: number } } }>(labClusterPath("drill-lab"));
    expect(lab.spec.etcdBackup.retain).to.equal(2);
    const secret = await client.get<{ data: { token: string } }>(secretPath);
    expect(Buffer.from(secret.data.token, "base64").toString()).to.equal("s3cret");
    expect(await exists(configMapPath("before"))).to.equal(true);
    expect(await exists(configMapPath("after"))).to.equal(false);
    // The old data directory is kept.
    expect((await readFile(join(oldDataDir, "member", "snap", "db"))).length).to.be.greaterThan(0);
  });

  it("refuses to restore into an existing directory, and refuses a snapshot that fails verification", async () => {
    const dir = join(scratch, "backups");
    const existing = await mkdtemp(join(scratch, "taken-"));
    const member = { name: "x", peerUrl: "https://127.0.0.1:2380" };
    const common = {
      dir,
      etcdutl: plane.binaries.path("etcdutl"),
      workDir: scratch,
      log,
      name: "latest",
      member,
    };
    const refused = await restoreStoredSnapshot({ ...common, dataDir: existing }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(refused).to.be.instanceOf(RestoreTargetExistsError);

    const { snapshots } = await new SnapshotStore(dir).scan();
    const file = snapshots[0]!.dbPath;
    const bytes = await readFile(file);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await writeFile(file, bytes);
    const target = join(scratch, "never");
    const failed = await restoreStoredSnapshot({ ...common, dataDir: target }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(failed).to.be.instanceOf(SnapshotVerificationError);
    expect(await readFile(join(target, "member", "snap", "db")).catch(() => undefined)).to.equal(undefined);
  });
});
