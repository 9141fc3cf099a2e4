// The shell-node restore (restoreLabEtcd) of vagrant and kind: restore-etcd.sh rendered for the snapshot and run on the control plane (fake vagrant, fake docker).
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import type { EtcdSnapshot } from "../../../operator/api/etcdsnapshot.ts";
import { StateError, StepError } from "../../../bootstrap/errors.ts";
import { silentLogger } from "../../../bootstrap/log.ts";
import { KindProvider } from "../../../bootstrap/providers/kind/provider.ts";
import type { ProviderContext } from "../../../bootstrap/providers/provider.ts";
import { VagrantProvider } from "../../../bootstrap/providers/vagrant/provider.ts";
import { restoreLabEtcd, restoreStamp } from "../../../bootstrap/providers/node-restore.ts";
import { labOf, tempDir, useFakeVagrantOnPath } from "../helpers.ts";
import { useFakeKindOnPath } from "./fake-kind.ts";

const SHA = "cd".repeat(32);
const RESULT =
  "==> etcd runs on /var/lib/etcd-restore-X\n" +
  "kubelab-restore-result: data-dir=/var/lib/etcd-restore-X previous-data-dir=/var/lib/etcd\n";

function snapshot(node: string): EtcdSnapshot {
  return {
    metadata: { name: "etcd-20261126-230000-ab12" },
    spec: {
      fileName: "etcd-20261126-230000-ab12.db",
      directory: "/var/lib/kubelab/etcd-backups/",
      node,
      createdAt: "2026-11-26T23:00:00Z",
      sizeBytes: 4096,
      sha256: SHA,
      etcd: { endpoint: "https://127.0.0.1:2379", version: "3.6.8", storageVersion: "3.6.0", revision: 9 },
      saveDurationMs: 10,
    },
  };
}

function contextIn(workDir: string): ProviderContext {
  return { workDir, logger: silentLogger(), signal: new AbortController().signal };
}

describe("restoreStamp", () => {
  it("is the UTC time without separators or milliseconds, so restore dirs sort by time", () => {
    expect(restoreStamp(new Date("2026-11-26T23:30:05.123Z"))).to.equal("20261126T233005Z");
  });
});

describe("providers/vagrant restoreEtcd", () => {
  const currentFake = useFakeVagrantOnPath();
  const lab = labOf({ workers: { count: 1 } });

  it("runs restore-etcd.sh for the snapshot in the synced backup dir on m-k8s and returns the directories it reports", async () => {
    const fake = currentFake();
    const workDir = await tempDir();
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], contextIn(workDir));
    await fake.scenario({ rules: [{ match: "^ssh m-k8s -c sudo bash .*restore-etcd.sh", stdout: RESULT }] });

    const result = await restoreLabEtcd(provider, lab, snapshot("m-k8s"), contextIn(workDir));

    expect(result).to.deep.equal({ dataDir: "/var/lib/etcd-restore-X", previousDataDir: "/var/lib/etcd" });
    const uploaded = await readFile(join(fake.dir, "uploads", "m-k8s", "restore-etcd.sh"), "utf8");
    expect(uploaded).to.contain("SNAPSHOT='/var/lib/kubelab/etcd-backups/etcd-20261126-230000-ab12.db'");
    expect(uploaded).to.contain(`SNAPSHOT_SHA256='${SHA}'`);
    const local = join(workDir, "nodes", "m-k8s", "restore-etcd.sh");
    expect((await stat(local)).mode & 0o777).to.equal(0o600);
    const ssh = (await fake.calls()).map((call) => call.argv).filter((argv) => argv?.[0] === "ssh");
    expect(ssh.at(-1)?.[3]).to.match(/^sudo bash '\/home\/vagrant\/\.kubelab\/restore-etcd\.sh'/);
  });

  it("a script that ends without its result line is a StepError naming the node and its log", async () => {
    const workDir = await tempDir();
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], contextIn(workDir));
    try {
      await restoreLabEtcd(provider, lab, snapshot("m-k8s"), contextIn(workDir));
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message).to.contain("restore-etcd on m-k8s failed");
      expect((error as Error).message).to.contain(join(workDir, "logs", "m-k8s.log"));
    }
  });

  it("refuses a snapshot recorded on another node before running anything there", async () => {
    const fake = currentFake();
    const workDir = await tempDir();
    try {
      await restoreLabEtcd(new VagrantProvider(), lab, snapshot("w1-k8s"), contextIn(workDir));
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StateError);
      expect((error as Error).message).to.contain("is on node w1-k8s, not on the control plane m-k8s");
    }
    expect(await fake.calls()).to.deep.equal([]);
  });
});

describe("providers/kind restoreEtcd", () => {
  const currentFake = useFakeKindOnPath();
  const lab = labOf({ name: "demo", workers: { count: 0 } });

  it("runs the same script in the control-plane container with docker exec", async () => {
    const fake = currentFake();
    const workDir = await tempDir();
    const provider = new KindProvider({ tokenSource: () => "k1n2d3.a4b5c6d7e8f9g0h1" });
    await provider.createNodes(lab, [lab.controlPlane], contextIn(workDir));
    await fake.scenario({
      rules: [
        { program: "docker", match: "^exec demo-control-plane bash -c bash .*restore-etcd", stdout: RESULT },
      ],
    });

    const result = await restoreLabEtcd(provider, lab, snapshot("m-k8s"), contextIn(workDir));

    expect(result.dataDir).to.equal("/var/lib/etcd-restore-X");
    const uploaded = await readFile(
      join(fake.dir, "uploads", "demo-control-plane", "kubelab-restore-etcd.sh"),
      "utf8",
    );
    expect(uploaded).to.contain("etcdutl snapshot restore");
    expect(uploaded).to.contain(`SNAPSHOT_SHA256='${SHA}'`);
  });
});
