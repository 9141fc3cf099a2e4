// The backup directory's invariant: a .db name only for committed snapshots; leftovers cleaned only when stale.
import { mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

import type { SnapshotRecord } from "../../../../operator/api/etcdsnapshot.ts";
import { LOGS_KEEP, QUARANTINE_KEEP, SnapshotStore } from "../../../../operator/snapshot/store.ts";

function record(name: string, createdAt: string): SnapshotRecord {
  return {
    schema: 1,
    name,
    fileName: `${name}.db`,
    node: "m-k8s",
    createdAt,
    sizeBytes: 4,
    sha256: "b".repeat(64),
    etcd: { endpoint: "https://127.0.0.1:2379", version: "3.6.8", storageVersion: "3.6.0", revision: 1 },
    saveDurationMs: 1,
    verification: { verified: true, method: "TrialRestore", time: createdAt, message: "ok", durationMs: 1 },
  };
}

describe("SnapshotStore", () => {
  let dir: string;
  let store: SnapshotStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubelab-store-"));
    store = new SnapshotStore(join(dir, "backups"));
    await store.ensure();
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function commit(name: string, createdAt: string): Promise<void> {
    const partial = store.path(`.${name}.db.partial`);
    await writeFile(partial, "data");
    await store.commit(partial, record(name, createdAt));
  }

  it("commits a partial file under its final name with its record, and lists it", async () => {
    await commit("etcd-20260101-000000-aaaa", "2026-01-01T00:00:00Z");
    expect((await readdir(store.dir)).sort()).to.deep.equal([
      "etcd-20260101-000000-aaaa.db",
      "etcd-20260101-000000-aaaa.json",
      "logs",
    ]);
    const scan = await store.scan();
    expect(scan.snapshots.map((snapshot) => snapshot.name)).to.deep.equal(["etcd-20260101-000000-aaaa"]);
  });

  it("lists newest first by creation time", async () => {
    await commit("etcd-20260101-000000-aaaa", "2026-01-01T00:00:00Z");
    await commit("etcd-20260103-000000-cccc", "2026-01-03T00:00:00Z");
    await commit("etcd-20260102-000000-bbbb", "2026-01-02T00:00:00Z");
    expect((await store.scan()).snapshots.map((snapshot) => snapshot.name)).to.deep.equal([
      "etcd-20260103-000000-cccc",
      "etcd-20260102-000000-bbbb",
      "etcd-20260101-000000-aaaa",
    ]);
  });

  it("never lists a partial save, a record without its file, or a file without a readable record", async () => {
    await writeFile(store.path(".etcd-20260101-000000-aaaa.db.partial"), "half");
    await writeFile(
      store.path("etcd-20260102-000000-bbbb.json"),
      JSON.stringify(record("etcd-20260102-000000-bbbb", "2026-01-02T00:00:00Z")),
    );
    await writeFile(store.path("etcd-20260103-000000-cccc.db"), "data");
    await writeFile(store.path("etcd-20260104-000000-dddd.db"), "data");
    await writeFile(store.path("etcd-20260104-000000-dddd.json"), "{not json");
    const scan = await store.scan();
    expect(scan.snapshots).to.deep.equal([]);
    expect(scan.unrecorded.map((entry) => entry.name)).to.deep.equal([
      "etcd-20260104-000000-dddd",
      "etcd-20260103-000000-cccc",
    ]);
    expect(scan.leftovers.map((entry) => entry.kind).sort()).to.deep.equal(["orphanRecord", "partial"]);
  });

  it("cleans up only leftovers older than the stale age, and never files it did not write", async () => {
    const old = store.path(".etcd-20260101-000000-aaaa.db.partial");
    const fresh = store.path(".etcd-20260102-000000-bbbb.db.partial");
    const foreign = store.path(".something.db.partial");
    for (const path of [old, fresh, foreign]) await writeFile(path, "half");
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(old, hourAgo, hourAgo);
    await utimes(foreign, hourAgo, hourAgo);
    expect(await store.cleanup(60_000)).to.deep.equal([old]);
    expect((await readdir(store.dir)).sort()).to.deep.equal([
      ".etcd-20260102-000000-bbbb.db.partial",
      ".something.db.partial",
      "logs",
    ]);
  });

  it("removes a snapshot's file, record and log together", async () => {
    await commit("etcd-20260101-000000-aaaa", "2026-01-01T00:00:00Z");
    await writeFile(join(store.logsDir, "etcd-20260101-000000-aaaa.log"), "log");
    await store.remove("etcd-20260101-000000-aaaa");
    expect(await readdir(store.dir)).to.deep.equal(["logs"]);
    expect(await readdir(store.logsDir)).to.deep.equal([]);
    // A second removal (a racing prune) is not an error.
    await store.remove("etcd-20260101-000000-aaaa");
  });

  it(`quarantines with a note, drops the record, and keeps only the newest ${QUARANTINE_KEEP}`, async () => {
    const names = ["etcd-20260101-000000-aaaa", "etcd-20260102-000000-bbbb", "etcd-20260103-000000-cccc"];
    for (const [index, name] of names.entries()) {
      await commit(name, `2026-01-0${index + 1}T00:00:00Z`);
      await store.quarantine(name, store.path(`${name}.db`), {
        quarantinedAt: new Date().toISOString(),
        problems: ["bad"],
        snapshot: {},
      });
    }
    expect(await readdir(store.dir)).to.have.members(["logs", "quarantine"]);
    expect((await readdir(store.quarantineDir)).sort()).to.deep.equal([
      "etcd-20260102-000000-bbbb.db",
      "etcd-20260102-000000-bbbb.json",
      "etcd-20260103-000000-cccc.db",
      "etcd-20260103-000000-cccc.json",
    ]);
  });

  it(`trims the logs to the newest ${LOGS_KEEP} of its own, never a log it did not write`, async () => {
    const names = Array.from(
      { length: LOGS_KEEP + 2 },
      (_, index) => `etcd-20260101-0000${String(index).padStart(2, "0")}-aaaa`,
    );
    for (const name of names) await writeFile(join(store.logsDir, `${name}.log`), "log");
    const foreign = ["kubelet.log", "etcd-backup.log", "Etcd-20250101-000000-aaaa.log"];
    for (const name of foreign) await writeFile(join(store.logsDir, name), "theirs");
    await store.cleanup(60_000);
    const left = await readdir(store.logsDir);
    expect(left).to.include.members(foreign);
    expect(left.filter((name) => !foreign.includes(name)).sort()).to.deep.equal(
      names.slice(2).map((name) => `${name}.log`),
    );
  });

  it("never removes a file from quarantine/ that it did not put there", async () => {
    await writeFile(join(dir, "evidence.db"), "theirs");
    await store.quarantine("etcd-20260101-000000-aaaa", join(dir, "evidence.db"), {
      quarantinedAt: new Date().toISOString(),
      problems: ["bad"],
      snapshot: {},
    });
    const foreign = join(store.quarantineDir, "0-kept-by-hand.db");
    await writeFile(foreign, "theirs");
    for (const name of ["etcd-20260102-000000-bbbb", "etcd-20260103-000000-cccc"]) {
      await commit(name, "2026-01-02T00:00:00Z");
      await store.quarantine(name, store.path(`${name}.db`), {
        quarantinedAt: new Date().toISOString(),
        problems: ["bad"],
        snapshot: {},
      });
    }
    expect(await readdir(store.quarantineDir)).to.include("0-kept-by-hand.db");
  });
});
