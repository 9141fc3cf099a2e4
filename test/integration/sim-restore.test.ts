// `bootstrap backup` and `bootstrap restore` on a sim lab, for real: a deleted namespace comes back from a verified snapshot.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { readSpec, simPaths } from "../../bootstrap/providers/sim/spec.ts";
import { CALICO_FIXTURE, REPO, runBootstrap } from "../unit/helpers.ts";

const LAB_YAML = "apiVersion: kubelab.dev/v1alpha1\nkind: Lab\nname: restorelab\nworkers:\n  count: 1\n";

describe("bootstrap backup and restore on a sim lab", function () {
  this.timeout(300_000);
  let lab: string;
  let workDir: string;
  let snapshotName: string;

  const bootstrap = (...args: string[]) => runBootstrap(args, { cwd: lab, timeoutMs: 240_000 });

  /** The lab's own kubectl (its binary set) on the lab's kubeconfig, as a user runs it. */
  const kubectl = async (...args: string[]): Promise<string> => {
    const spec = await readSpec(simPaths(workDir).spec);
    const result = await execa(
      join(spec.binariesDir, "kubectl"),
      ["--kubeconfig", join(workDir, "kubeconfig"), ...args],
      { timeout: 120_000 },
    );
    return result.stdout;
  };

  const exists = async (...args: string[]): Promise<boolean> =>
    (await kubectl("get", ...args, "--ignore-not-found", "-o", "name")).trim() !== "";

  before(async () => {
    lab = await mkdtemp(join(tmpdir(), "kubelab-sim-restore-"));
    workDir = join(lab, ".kubelab");
    await writeFile(join(lab, "lab.yaml"), LAB_YAML);
    const up = await bootstrap("up", "--provider", "sim", "--calico-manifest", CALICO_FIXTURE);
    expect(up.exitCode, up.output).to.equal(0);
    // kubelab's CRDs as `up` installs them with the operator (applied again here: the test needs them).
    await kubectl("apply", "--server-side", "--force-conflicts", "-k", join(REPO, "crds"));
    await kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/etcdsnapshots.kubelab.dev");
  });

  after(async () => {
    await bootstrap("down", "--yes");
    await rm(lab, { recursive: true, force: true });
  });

  it("`bootstrap backup` saves a snapshot into .kubelab/backups and records a verified EtcdSnapshot", async () => {
    await kubectl("create", "namespace", "keep-me");
    await kubectl("-n", "keep-me", "create", "configmap", "settings", "--from-literal=color=blue");

    const backup = await bootstrap("backup");
    expect(backup.exitCode, backup.output).to.equal(0);
    expect(backup.output).to.match(/snapshot etcd-\S+ on m-k8s: .*revision \d+, verified/);

    const snapshots = JSON.parse(await kubectl("get", "etcdsnapshots", "-o", "json")) as {
      items: {
        metadata: { name: string; ownerReferences?: { kind: string; name: string }[] };
        spec: { fileName: string; directory: string; labCluster?: string };
        status?: { verification?: { verified: boolean; method: string } };
      }[];
    };
    expect(snapshots.items).to.have.length(1);
    const snapshot = snapshots.items[0]!;
    expect(snapshot.status?.verification).to.include({ verified: true, method: "TrialRestore" });
    expect(snapshot.spec.directory).to.equal(join(workDir, "backups"));
    // Owned by the lab's LabCluster (`up` makes it), so its backups status and pruning count it.
    expect(snapshot.spec.labCluster).to.equal("restorelab");
    const owners = (snapshot.metadata.ownerReferences ?? []).map((owner) => `${owner.kind}/${owner.name}`);
    expect(owners).to.include("LabCluster/restorelab");
    expect(await readdir(join(workDir, "backups"))).to.include(snapshot.spec.fileName);
    snapshotName = snapshot.metadata.name;

    const list = await bootstrap("backups");
    expect(list.exitCode, list.output).to.equal(0);
    expect(list.output).to.match(new RegExp(`${snapshotName} .*yes \\(TrialRestore\\)`));
  });

  it("without a terminal and without --yes, restore changes nothing and exits 2", async () => {
    const refused = await bootstrap("restore", "--snapshot", "latest");
    expect(refused.exitCode, refused.output).to.equal(2);
    expect(refused.output).to.contain("needs confirmation");
    expect(refused.output).to.contain("pass --yes");
  });

  it("refuses a snapshot that was never verified (exit 2), and one whose file fails verification (exit 1)", async () => {
    // An EtcdSnapshot without a verification: as one recorded with verify off, or written by hand.
    const unverified = JSON.parse(await kubectl("get", "etcdsnapshot", snapshotName, "-o", "json")) as {
      metadata: Record<string, unknown>;
      spec: Record<string, unknown>;
    };
    // A name as the agent makes them, and its own file name: the CRD refuses any other pair.
    const name = "etcd-20000101-000000-0bad";
    const copy = {
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "EtcdSnapshot",
      metadata: { name },
      spec: { ...unverified.spec, fileName: `${name}.db` },
    };
    const manifest = join(lab, "unverified.json");
    await writeFile(manifest, JSON.stringify(copy));
    await kubectl("create", "-f", manifest);
    const refused = await bootstrap("restore", "--snapshot", name, "--yes");
    expect(refused.exitCode, refused.output).to.equal(2);
    expect(refused.output).to.contain(`refusing to restore ${name}`);

    // The same object with a status that says verified, as whoever may write EtcdSnapshot status could plant
    // it: the object only names a snapshot, and there is no agent record beside a file of that name.
    const status = {
      status: {
        verification: {
          verified: true,
          method: "TrialRestore",
          time: new Date().toISOString(),
          message: "planted",
          durationMs: 1,
        },
      },
    };
    await kubectl(
      "patch",
      "etcdsnapshot",
      name,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify(status),
    );
    const planted = await bootstrap("restore", "--snapshot", name, "--yes");
    expect(planted.exitCode, planted.output).to.equal(2);
    expect(planted.output).to.contain(`snapshot ${name} has no record of the snapshot agent beside it`);
    await kubectl("delete", "etcdsnapshot", name);

    // A verified record whose file was damaged since: the agent's check before the restore refuses it.
    const second = await bootstrap("backup");
    expect(second.exitCode, second.output).to.equal(0);
    const damagedName = /snapshot (etcd-\S+) on/.exec(second.output)![1]!;
    const damaged = JSON.parse(await kubectl("get", "etcdsnapshot", damagedName, "-o", "json")) as {
      spec: { fileName: string };
    };
    const file = join(workDir, "backups", damaged.spec.fileName);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(file, bytes);
    const specBefore = await readSpec(simPaths(workDir).spec);
    const failed = await bootstrap("restore", "--snapshot", damagedName, "--yes");
    expect(failed.exitCode, failed.output).to.equal(1);
    expect(failed.output).to.match(/sha256|verif/i);
    expect((await readSpec(simPaths(workDir).spec)).etcdDataDir).to.equal(specBefore.etcdDataDir);
    expect(await exists("namespace", "keep-me"), "the lab kept running on its data").to.equal(true);
    await kubectl("delete", "etcdsnapshot", damagedName);
  });

  it("`bootstrap restore --snapshot latest --yes` brings the deleted namespace and ConfigMap back, on a new data dir", async () => {
    await kubectl("delete", "namespace", "keep-me", "--wait=true", "--timeout=120s");
    await kubectl("-n", "default", "create", "configmap", "made-after-the-snapshot");
    expect(await exists("namespace", "keep-me")).to.equal(false);

    const restore = await bootstrap("restore", "--snapshot", "latest", "--yes");
    expect(restore.exitCode, restore.output).to.equal(0);
    expect(restore.output).to.contain(`restored from ${snapshotName}`);

    expect(await exists("namespace", "keep-me")).to.equal(true);
    expect(
      await kubectl("-n", "keep-me", "get", "configmap", "settings", "-o", "jsonpath={.data.color}"),
    ).to.equal("blue");
    expect(await exists("-n", "default", "configmap", "made-after-the-snapshot")).to.equal(false);
    // The revision was bumped past anything clients saw before the restore (their watches re-list).
    await kubectl("-n", "default", "create", "configmap", "made-after-the-restore");
    const version = await kubectl(
      "-n",
      "default",
      "get",
      "configmap",
      "made-after-the-restore",
      "-o",
      "jsonpath={.metadata.resourceVersion}",
    );
    expect(Number(version)).to.be.greaterThan(1_000_000_000);
    const nodes = await kubectl("get", "nodes", "-o", "name");
    expect(nodes.trim().split("\n").sort()).to.deep.equal(["node/m-k8s", "node/w1-k8s"]);
    // etcd came back without the snapshot's own object (made after the save); the sync after the restore
    // recorded the files in .kubelab/backups again, from the agent's records.
    expect(await exists("etcdsnapshot", snapshotName)).to.equal(true);

    const spec = await readSpec(simPaths(workDir).spec);
    expect(spec.etcdDataDir).to.match(/\/sim\/cluster\/etcd-restore-\d{8}T\d{6}Z$/);
    const kept = await readdir(join(simPaths(workDir).cluster, "etcd"));
    expect(kept, "the old data dir is kept").to.include("member");
  });

  it("`bootstrap down` keeps .kubelab/backups; after `up`, backup records the old files again and restore brings the old lab's state back", async () => {
    const before = await readdir(join(workDir, "backups"));
    expect(before).to.include(`${snapshotName}.db`);
    const down = await bootstrap("down", "--yes");
    expect(down.exitCode, down.output).to.equal(0);
    expect(await readdir(join(workDir, "backups"))).to.deep.equal(before);

    const up = await bootstrap("up", "--provider", "sim", "--calico-manifest", CALICO_FIXTURE);
    expect(up.exitCode, up.output).to.equal(0);
    expect(await exists("namespace", "keep-me"), "a new lab starts empty").to.equal(false);
    // The agent records every file of the folder on each run: the old snapshot is an object again.
    const backup = await bootstrap("backup");
    expect(backup.exitCode, backup.output).to.equal(0);
    const list = await bootstrap("backups");
    expect(list.output).to.match(new RegExp(`${snapshotName} .*yes \\(TrialRestore\\)`));

    const restore = await bootstrap("restore", "--snapshot", snapshotName, "--yes");
    expect(restore.exitCode, restore.output).to.equal(0);
    expect(
      await kubectl("-n", "keep-me", "get", "configmap", "settings", "-o", "jsonpath={.data.color}"),
    ).to.equal("blue");
  });
});
