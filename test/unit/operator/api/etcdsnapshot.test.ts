// The agent's snapshot record (what a restore trusts), as parsed by the shared schema, and the sync Job's arguments.
import { expect } from "chai";

import { parseSnapshotRecord, snapshotSyncArgs } from "../../../../operator/api/etcdsnapshot.ts";

const RECORD = {
  schema: 1,
  name: "etcd-20260102-030405-ab12",
  fileName: "etcd-20260102-030405-ab12.db",
  node: "m-k8s",
  createdAt: "2026-01-02T03:04:05.000Z",
  sizeBytes: 20512,
  sha256: "a".repeat(64),
  etcd: {
    endpoint: "https://127.0.0.1:2379",
    version: "3.6.8",
    storageVersion: "3.6.0",
    revision: 5,
    keys: 3,
  },
  saveDurationMs: 10,
  verification: {
    verified: true,
    method: "TrialRestore",
    time: "2026-01-02T03:04:06.000Z",
    message: "ok",
    durationMs: 100,
  },
};

describe("snapshot records", () => {
  it("reads a record", () => {
    expect(parseSnapshotRecord(JSON.stringify(RECORD)).etcd.revision).to.equal(5);
  });

  it("refuses a record of another schema version instead of misreading it", () => {
    expect(() => parseSnapshotRecord(JSON.stringify({ ...RECORD, schema: 2 }))).to.throw();
  });

  it("refuses a record without a proper sha256", () => {
    expect(() => parseSnapshotRecord(JSON.stringify({ ...RECORD, sha256: "abc" }))).to.throw();
  });

  it("refuses a record that does not describe the file beside it (fileName other than <name>.db)", () => {
    expect(() =>
      parseSnapshotRecord(JSON.stringify({ ...RECORD, fileName: "etcd-20250101-000000-0000.db" })),
    ).to.throw(/fileName must be the record's name \+ \.db/);
    expect(() =>
      parseSnapshotRecord(JSON.stringify({ ...RECORD, name: "latest", fileName: "latest.db" })),
    ).to.throw();
  });
});

describe("snapshotSyncArgs", () => {
  it("is the agent's sync for one LabCluster's directory", () => {
    expect(
      snapshotSyncArgs({ dir: "/var/lib/kubelab/etcd-backups", labCluster: "lab", labClusterUid: "u-1" }),
    ).to.deep.equal([
      "snapshot",
      "sync",
      "--dir=/var/lib/kubelab/etcd-backups",
      "--lab-cluster=lab",
      "--lab-cluster-uid=u-1",
    ]);
  });
});
