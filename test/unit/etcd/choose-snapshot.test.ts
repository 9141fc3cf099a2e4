// Which EtcdSnapshot `bootstrap restore` takes: the newest verified for latest; never an unverified one.
import { expect } from "chai";

import type { EtcdSnapshot } from "../../../operator/api/etcdsnapshot.ts";
import { UsageError } from "../../../bootstrap/errors.ts";
import { chooseSnapshot, restoreSummary } from "../../../bootstrap/etcd/choose-snapshot.ts";

function snapshot(name: string, createdAt: string, verified: boolean | undefined): EtcdSnapshot {
  return {
    metadata: { name },
    spec: {
      fileName: `${name}.db`,
      directory: "/var/lib/kubelab/etcd-backups",
      node: "m-k8s",
      createdAt,
      sizeBytes: 4096,
      sha256: "ab".repeat(32),
      etcd: { endpoint: "https://127.0.0.1:2379", version: "3.6.8", storageVersion: "3.6.0", revision: 42 },
      saveDurationMs: 10,
    },
    ...(verified === undefined
      ? {}
      : {
          status: {
            verification: {
              verified,
              method: verified ? "TrialRestore" : "StatusOnly",
              time: createdAt,
              message: verified ? "restored" : "status only",
              durationMs: 5,
            },
          },
        }),
  };
}

const OLD_VERIFIED = snapshot("etcd-old", "2026-11-26T10:00:00Z", true);
const NEW_VERIFIED = snapshot("etcd-new", "2026-11-26T12:00:00Z", true);
const NEWEST_UNVERIFIED = snapshot("etcd-newest", "2026-11-26T13:00:00Z", false);
const NO_STATUS = snapshot("etcd-nostatus", "2026-11-26T14:00:00Z", undefined);

describe("etcd/choose-snapshot", () => {
  it("latest is the newest verified snapshot, whatever the order and however new the unverified ones", () => {
    const chosen = chooseSnapshot([OLD_VERIFIED, NO_STATUS, NEWEST_UNVERIFIED, NEW_VERIFIED], "latest");
    expect(chosen.metadata.name).to.equal("etcd-new");
  });

  it("a named verified snapshot is taken even when it is not the newest", () => {
    expect(chooseSnapshot([OLD_VERIFIED, NEW_VERIFIED], "etcd-old").metadata.name).to.equal("etcd-old");
  });

  it("refuses a named snapshot verified only by status, or not at all (UsageError: exit 2)", () => {
    for (const name of ["etcd-newest", "etcd-nostatus"]) {
      expect(() => chooseSnapshot([NEWEST_UNVERIFIED, NO_STATUS], name))
        .to.throw(UsageError, `refusing to restore ${name}`)
        .with.property("exitCode", 2);
    }
  });

  it("refuses an unknown name, an empty lab and a lab without a verified snapshot, each with the next command", () => {
    expect(() => chooseSnapshot([OLD_VERIFIED], "etcd-typo"))
      .to.throw(UsageError, "no etcd snapshot named etcd-typo")
      .with.property("hint")
      .that.contains("bootstrap backups");
    expect(() => chooseSnapshot([], "latest")).to.throw(UsageError, "has no etcd snapshots");
    expect(() => chooseSnapshot([NEWEST_UNVERIFIED], "latest"))
      .to.throw(UsageError, "none of the lab's 1 etcd snapshot(s) is verified")
      .with.property("hint")
      .that.contains("bootstrap backup");
  });

  it("the summary names the snapshot, its revision, what is lost and what is kept", () => {
    const text = restoreSummary("lab1", {
      ...NEW_VERIFIED.spec,
      schema: 1,
      name: "etcd-new",
      verification: { verified: true, method: "TrialRestore", time: "t", message: "ok", durationMs: 1 },
    });
    expect(text).to.contain("etcd-new");
    expect(text).to.contain("revision 42");
    expect(text).to.contain("created or changed since the snapshot is lost");
    expect(text).to.contain("current data directory is kept");
  });

  it("shows the record's text with control characters escaped: a record cannot move the terminal", () => {
    const text = restoreSummary("lab1", {
      ...NEW_VERIFIED.spec,
      node: "m-k8s\u001b[2J",
      schema: 1,
      name: "etcd-new",
      verification: { verified: true, method: "TrialRestore", time: "t", message: "ok", durationMs: 1 },
    });
    expect(text).to.contain("on m-k8s\\x1b[2J");
    expect(text).not.to.contain("\u001b");
  });
});
