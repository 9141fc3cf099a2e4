// The shell-node restore (restoreLabEtcd) of vagrant and kind: restore-etcd.sh rendered for the snapshot and run on the control plane (fake vagrant, fake docker).
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import type { SnapshotRecord } from "../../../operator/api/etcdsnapshot.ts";
import { StateError, StepError, UsageError } from "../../../bootstrap/errors.ts";
import { silentLogger } from "../../../bootstrap/log.ts";
import { KindProvider } from "../../../bootstrap/providers/kind/provider.ts";
import type { ProviderContext } from "../../../bootstrap/providers/provider.ts";
import { VagrantProvider } from "../../../bootstrap/providers/vagrant/provider.ts";
import type { TrustedSnapshot } from "../../../bootstrap/etcd/record.ts";
import {
  readTrustedSnapshot,
  restoreLabEtcd,
  restoreStamp,
} from "../../../bootstrap/providers/node-restore.ts";
import { labOf, tempDir, useFakeVagrantOnPath } from "../helpers.ts";
import { useFakeKindOnPath } from "./fake-kind.ts";

const SHA = "cd".repeat(32);
const RESULT =
  "==> etcd runs on /var/lib/etcd-restore-X\n" +
  "kubelab-restore-result: data-dir=/var/lib/etcd-restore-X previous-data-dir=/var/lib/etcd\n";

const NAME = "etcd-20261126-230000-ab12";
const DIR = "/var/lib/kubelab/etcd-backups";

function record(node: string, overrides: Partial<SnapshotRecord> = {}): SnapshotRecord {
  return {
    schema: 1,
    name: NAME,
    fileName: `${NAME}.db`,
    node,
    createdAt: "2026-11-26T23:00:00Z",
    sizeBytes: 4096,
    sha256: SHA,
    etcd: { endpoint: "https://127.0.0.1:2379", version: "3.6.8", storageVersion: "3.6.0", revision: 9 },
    saveDurationMs: 10,
    verification: {
      verified: true,
      method: "TrialRestore",
      time: "2026-11-26T23:00:01Z",
      message: "ok",
      durationMs: 5,
    },
    ...overrides,
  };
}

function snapshot(node: string): TrustedSnapshot {
  return { name: NAME, directory: `${DIR}/`, record: record(node) };
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
      expect((error as Error).message).to.contain("was taken on node w1-k8s, not on the control plane m-k8s");
    }
    expect(await fake.calls()).to.deep.equal([]);
  });
});

describe("readTrustedSnapshot (vagrant: the record is read from the control plane's backup directory)", () => {
  const currentFake = useFakeVagrantOnPath();
  const lab = labOf({ workers: { count: 1 } });

  async function read(files: Record<string, string>, name = NAME): Promise<TrustedSnapshot> {
    const fake = currentFake();
    const workDir = await tempDir();
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], contextIn(workDir));
    await fake.scenario({ files });
    return readTrustedSnapshot(provider, lab, name, DIR, contextIn(workDir));
  }

  it("takes the file, the sha256 and the node from the agent's record, not from the object", async () => {
    const trusted = await read({ [`m-k8s:${DIR}/${NAME}.json`]: JSON.stringify(record("m-k8s")) });
    expect(trusted).to.deep.equal({ name: NAME, directory: DIR, record: record("m-k8s") });
  });

  it("refuses a name without a record beside it (a planted EtcdSnapshot object): UsageError, nothing run", async () => {
    try {
      await read({});
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(UsageError);
      expect((error as Error).message).to.contain(`snapshot ${NAME} has no record of the snapshot agent`);
    }
    const ssh = (await currentFake().calls()).map((call) => call.argv).filter((argv) => argv?.[0] === "ssh");
    expect(ssh.join("\n")).not.to.contain("restore-etcd");
  });

  it("refuses a record that describes another snapshot, or one the trial restore did not verify", async () => {
    const other = record("m-k8s", {
      name: "etcd-20261126-230000-ffff",
      fileName: "etcd-20261126-230000-ffff.db",
    });
    await expectRefusal(
      read({ [`m-k8s:${DIR}/${NAME}.json`]: JSON.stringify(other) }),
      "describes etcd-20261126-230000-ffff",
    );
    const unverified = record("m-k8s", {
      verification: {
        verified: false,
        method: "StatusOnly",
        time: "2026-11-26T23:00:01Z",
        message: "bad\u001b[2J",
        durationMs: 1,
      },
    });
    await expectRefusal(
      read({ [`m-k8s:${DIR}/${NAME}.json`]: JSON.stringify(unverified) }),
      "did not verify it (StatusOnly: bad\\x1b[2J)",
    );
  });

  it("refuses a name that is not one the agent makes (a path in it) before reading anything", async () => {
    await expectRefusal(read({}, "../../etc/shadow"), "is not a snapshot name the agent makes");
    expect(await currentFake().calls()).to.satisfy((calls: { argv?: string[] }[]) =>
      calls.every((call) => call.argv?.[0] !== "ssh"),
    );
  });
});

async function expectRefusal(promise: Promise<unknown>, message: string): Promise<void> {
  try {
    await promise;
    expect.fail("must fail");
  } catch (error) {
    expect(error).to.be.instanceOf(UsageError);
    expect((error as Error).message).to.contain(message);
  }
}

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
