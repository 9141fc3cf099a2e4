// Snapshot names and record files: names sort by time and are object names; only the agent's files are classified.
import { expect } from "chai";

import { SNAPSHOT_NAME } from "../../../../operator/api/etcdsnapshot.ts";
import { classifyFile, snapshotFiles, snapshotName } from "../../../../operator/snapshot/record.ts";

describe("snapshotName", () => {
  it("is <prefix>-YYYYMMDD-HHMMSS-<hex> in UTC and a valid object name", () => {
    const name = snapshotName(new Date("2026-01-02T03:04:05.678Z"), "etcd", "ab12");
    expect(name).to.equal("etcd-20260102-030405-ab12");
    expect(name).to.match(SNAPSHOT_NAME);
    expect(name).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  it("sorts like the times it was made at", () => {
    const times = ["2026-12-31T23:59:59Z", "2026-01-02T03:04:05Z", "2025-06-01T00:00:00Z"];
    const names = times.map((time) => snapshotName(new Date(time)));
    expect([...names].sort()).to.deep.equal([...names].reverse());
  });

  it("gets a random suffix, so two snapshots in the same second differ", () => {
    const time = new Date();
    const names = new Set(Array.from({ length: 20 }, () => snapshotName(time)));
    expect(names.size).to.be.greaterThan(1);
  });

  it("refuses a prefix that would make an invalid object name", () => {
    expect(() => snapshotName(new Date(), "Etcd")).to.throw(RangeError);
    expect(() => snapshotName(new Date(), "-x")).to.throw(RangeError);
    expect(() => snapshotName(new Date(), "a".repeat(41))).to.throw(RangeError);
  });
});

describe("classifyFile", () => {
  const name = "etcd-20260102-030405-ab12";

  it("knows the snapshot file, its record, a partial save and a record being written", () => {
    const files = snapshotFiles(name);
    expect(classifyFile(files.db)).to.deep.equal({ name, kind: "db" });
    expect(classifyFile(files.record)).to.deep.equal({ name, kind: "record" });
    expect(classifyFile(files.partial)).to.deep.equal({ name, kind: "partial" });
    expect(classifyFile(`.${name}.json.0123abcd.tmp`)).to.deep.equal({ name, kind: "temporary" });
  });

  it("ignores every file the agent did not write", () => {
    for (const file of [
      "snapshot.db",
      "backup-2026.db",
      `${name}.db.partial`,
      `.${name}.db`,
      `${name}.json.0123abcd.tmp`,
      `${name}.txt`,
      "etcd-2026-01-02.db",
      "logs",
    ]) {
      expect(classifyFile(file), file).to.equal(undefined);
    }
  });
});
