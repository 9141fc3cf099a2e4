// verify: proves a snapshot file restorable (trial restore with etcdutl) and that it holds what it should.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { join } from "node:path";

import { type Etcdutl, type SnapshotStatus } from "./etcdutl.ts";
import type { VerificationMethod } from "../api/etcdsnapshot.ts";
import { SHA256_TRAILER_BYTES } from "./save.ts";

/**
 * What the snapshot must hold, from a source independent of the file where possible: the record written
 * when it was saved, or (for a fresh save) the live etcd's count of keys at the snapshot's revision.
 */
export interface SnapshotExpectations {
  readonly sizeBytes?: number;
  readonly sha256?: string;
  readonly revision?: number;
  readonly keys?: number;
}

export interface VerifyOptions {
  readonly etcdutl: Etcdutl;
  /** Where the trial restore's temporary data dir goes (removed afterwards). */
  readonly workDir: string;
  /** Restore into a temporary data dir (the real proof). False: `snapshot status` only. */
  readonly trialRestore: boolean;
  /**
   * For a fresh snapshot: the live etcd's key count at the snapshot's revision (read from the file first),
   * used as the expected key count when `expectations.keys` is not given. Undefined: not countable.
   */
  readonly liveKeysAt?: (revision: number) => Promise<number | undefined>;
}

export interface VerificationReport {
  readonly ok: boolean;
  /** Every check that failed, in words that name the expectation and what was found. */
  readonly problems: readonly string[];
  readonly method: VerificationMethod;
  /** `etcdutl snapshot status` of the file, when it could be read. */
  readonly status: SnapshotStatus | undefined;
  /** `etcdutl snapshot status` of the restored database, after a successful trial restore. */
  readonly restored: SnapshotStatus | undefined;
  readonly durationMs: number;
  /** One line for logs, records and Events. */
  readonly message: string;
}

/**
 * Verifies a snapshot file, in order, stopping at the first failed step:
 * 1. size and sha256 against the expectations (a flipped byte or a truncation shows here when a record
 *    exists), and that the file ends with etcd's 32-byte sha256 trailer (a whole number of pages + 32);
 * 2. `etcdutl snapshot status`: bolt's consistency check, the revision and the live key count, compared
 *    with the expectations;
 * 3. trial restore: `etcdutl snapshot restore` into a temporary data dir (it checks the trailer against the
 *    content, so a flipped byte fails here even without a record), then `snapshot status` of the restored
 *    database must show the same revision and key count.
 *
 * Why etcdutl and not a throwaway etcd: everything in a restored member that depends on the snapshot is
 * its bolt database, which steps 2 and 3 check completely (structure, every key, revision); the WAL and
 * raft snapshot a restore adds are generated, not restored. A throwaway etcd would add a listener on the
 * control-plane node serving every Secret without authentication, and the etcd binary to the image, for no
 * further evidence about the file.
 */
export async function verifySnapshotFile(
  file: string,
  expectations: SnapshotExpectations,
  options: VerifyOptions,
): Promise<VerificationReport> {
  const started = performance.now();
  const method: VerificationMethod = options.trialRestore ? "TrialRestore" : "StatusOnly";
  const report = (
    problems: readonly string[],
    found: { status?: SnapshotStatus; restored?: SnapshotStatus; keysSource?: string } = {},
  ): VerificationReport => {
    const ok = problems.length === 0;
    return {
      ok,
      problems,
      method,
      status: found.status,
      restored: found.restored,
      durationMs: Math.round(performance.now() - started),
      message: ok
        ? successMessage(method, found.restored ?? found.status, found.keysSource)
        : problems.join("; "),
    };
  };

  const sizeBytes = (await stat(file)).size;
  const fileProblems = checkFile(sizeBytes, expectations);
  if (fileProblems.length === 0 && expectations.sha256 !== undefined) {
    const actual = await sha256OfFile(file);
    if (actual !== expectations.sha256) {
      fileProblems.push(`sha256 is ${actual}, the record says ${expectations.sha256} (the file was changed)`);
    }
  }
  if (fileProblems.length > 0) return report(fileProblems);

  const fileStatus = await options.etcdutl.status(file, sizeBytes);
  if (!fileStatus.ok) return report([`etcdutl snapshot status refused it: ${fileStatus.reason}`]);
  const status = fileStatus.value;
  let expected = expectations;
  let keysSource = expectations.keys === undefined ? undefined : "the record";
  if (expectations.keys === undefined && options.liveKeysAt !== undefined) {
    const keys = await options.liveKeysAt(status.revision);
    if (keys !== undefined) {
      expected = { ...expectations, keys };
      keysSource = "the live etcd";
    }
  }
  const statusProblems = compareStatus("the snapshot", status, expected, keysSource);
  if (statusProblems.length > 0 || !options.trialRestore) {
    return report(statusProblems, { status, keysSource });
  }

  const scratch = await mkdtemp(join(options.workDir, "kubelab-verify-"));
  try {
    const dataDir = join(scratch, "etcd");
    const restore = await options.etcdutl.restore(file, sizeBytes, {
      dataDir,
      name: "kubelab-verify",
      peerUrl: "https://127.0.0.1:2380",
    });
    if (!restore.ok) return report([`trial restore failed: ${restore.reason}`], { status });
    const restoredStatus = await options.etcdutl.status(join(dataDir, "member", "snap", "db"), sizeBytes);
    if (!restoredStatus.ok) {
      return report([`the restored database is unreadable: ${restoredStatus.reason}`], { status });
    }
    const restored = restoredStatus.value;
    const restoredProblems = compareStatus(
      "the restored database",
      restored,
      { revision: status.revision, keys: status.totalKey },
      "the snapshot",
    );
    return report(restoredProblems, { status, restored, keysSource });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Size checks that need no tool: non-empty, the recorded size, and room for etcd's sha256 trailer. */
export function checkFile(sizeBytes: number, expectations: SnapshotExpectations): string[] {
  if (expectations.sizeBytes !== undefined && sizeBytes !== expectations.sizeBytes) {
    return [`size is ${sizeBytes} bytes, the record says ${expectations.sizeBytes} (truncated or replaced)`];
  }
  // bolt databases are whole pages (multiples of 512 on every platform); etcd appends a 32-byte sha256.
  if (sizeBytes % 512 !== SHA256_TRAILER_BYTES) {
    return [
      `size ${sizeBytes} is not whole pages plus etcd's ${SHA256_TRAILER_BYTES}-byte sha256 trailer ` +
        "(truncated, or not an etcd snapshot)",
    ];
  }
  return [];
}

/**
 * Compares a status with the expectations; each mismatch is one problem. `source` names where the
 * expectations came from ("the record", "the live etcd"), for the message.
 */
export function compareStatus(
  what: string,
  status: SnapshotStatus,
  expectations: Pick<SnapshotExpectations, "revision" | "keys">,
  source?: string,
): string[] {
  const from = source === undefined ? "" : ` (${source})`;
  const problems: string[] = [];
  if (expectations.revision !== undefined && status.revision !== expectations.revision) {
    problems.push(`${what} is at revision ${status.revision}, expected ${expectations.revision}${from}`);
  }
  if (expectations.keys !== undefined && status.totalKey !== expectations.keys) {
    problems.push(`${what} holds ${status.totalKey} keys, expected ${expectations.keys}${from}`);
  }
  return problems;
}

function successMessage(
  method: VerificationMethod,
  status: SnapshotStatus | undefined,
  keysSource: string | undefined,
): string {
  const what = status === undefined ? "" : ` at revision ${status.revision} with ${status.totalKey} keys`;
  const against = keysSource === undefined ? "" : ` (the key count ${keysSource} expects)`;
  return method === "TrialRestore"
    ? `restored into a temporary data dir${what}${against}`
    : `etcdutl snapshot status passed${what}${against}; not restored (verify disabled)`;
}

/** sha256 of a file, streamed (constant memory). */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}
