// The snapshot agent's jobs: take a snapshot (save, verify, record, prune), verify a stored one again.
import { access, rm } from "node:fs/promises";
import { join } from "node:path";

import type { Logger } from "../runtime/log.ts";
import { EtcdClient, type EtcdConnectionOptions } from "./etcd-client.ts";
import {
  EtcdRequestError,
  EtcdutlError,
  RestoreTargetExistsError,
  SnapshotNotFoundError,
  SnapshotVerificationError,
} from "./errors.ts";
import { Etcdutl } from "./etcdutl.ts";
import { pruneSnapshots } from "./prune.ts";
import type { SnapshotRecorder } from "./recorder.ts";
import { RECORD_SCHEMA_VERSION, type SnapshotRecord } from "../api/etcdsnapshot.ts";
import { snapshotFiles, snapshotName } from "./record.ts";
import { saveSnapshotFile } from "./save.ts";
import { type StoredSnapshot, SnapshotStore } from "./store.ts";
import { verifySnapshotFile, type VerificationReport } from "./verify.ts";

/** Leftovers of a run older than this are removed by the next run: longer than any job's deadline. */
export const DEFAULT_STALE_AFTER_MS = 6 * 60 * 60 * 1000;

/** What every agent command needs: the backup directory, etcdutl, a scratch directory and a logger. */
export interface AgentContext {
  readonly dir: string;
  /** The etcdutl executable (of the cluster's etcd version). */
  readonly etcdutl?: string;
  /** Scratch space for trial restores (as large as the biggest snapshot). */
  readonly workDir: string;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** EtcdSnapshot objects and the like; files are always recorded. */
  readonly recorders?: readonly SnapshotRecorder[];
}

export interface TakeSnapshotOptions extends AgentContext {
  readonly etcd: EtcdConnectionOptions;
  /** The node the file lands on (the Job's spec.nodeName through the downward API). */
  readonly node: string;
  readonly labCluster?: string;
  readonly namePrefix?: string;
  /** Trial-restore before recording (spec.etcdBackup.verify). Without it only `snapshot status` runs. */
  readonly verify: boolean;
  /** Prune beyond this many after a success; undefined: no pruning. */
  readonly retain?: number;
  readonly kubernetesVersion?: string;
  readonly staleAfterMs?: number;
  readonly now?: () => Date;
}

export interface TakeSnapshotResult {
  readonly snapshot: StoredSnapshot;
  readonly verification: VerificationReport;
  readonly pruned: readonly string[];
  /** Leftovers of earlier interrupted runs that were removed. */
  readonly cleaned: readonly string[];
}

/**
 * Saves a snapshot from `etcd`, verifies it, records it, and prunes beyond `retain`. The snapshot file gets
 * its final name only after it passed verification and its record was written; on any failure nothing that
 * looks complete is left: a failed verification moves the file to quarantine/ (with a note saying why) and
 * throws SnapshotVerificationError, other failures remove the partial file.
 */
export async function takeSnapshot(options: TakeSnapshotOptions): Promise<TakeSnapshotResult> {
  const log = options.log;
  const store = new SnapshotStore(options.dir);
  await store.ensure();
  const cleaned = await store.cleanup(options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS);
  for (const path of cleaned) log.info("removed a leftover of an interrupted run", { path });

  const createdAt = (options.now ?? (() => new Date()))();
  const name = snapshotName(createdAt, options.namePrefix);
  const files = snapshotFiles(name);
  const partialPath = store.path(files.partial);
  const etcdutl = new Etcdutl({
    command: options.etcdutl,
    logFile: join(store.logsDir, files.log),
    signal: options.signal,
  });

  using client = await EtcdClient.connect(options.etcd);
  // Fails fast, before any file exists, on wrong certificates or an unreachable member.
  const member = await client.status();
  if (member.errors.length > 0) {
    log.warn("etcd reports alarms or errors; taking the snapshot anyway", { errors: member.errors });
  }
  log.info("saving snapshot", { snapshot: name, endpoint: client.endpoint, etcdVersion: member.version });

  let committed = false;
  try {
    const saved = await saveSnapshotFile(client, partialPath, { signal: options.signal });
    log.info("saved; verifying", {
      snapshot: name,
      sizeBytes: saved.sizeBytes,
      sha256: saved.sha256,
      durationMs: saved.durationMs,
    });
    let liveKeys: number | undefined;
    const verification = await verifySnapshotFile(
      partialPath,
      {},
      {
        etcdutl,
        workDir: options.workDir,
        trialRestore: options.verify,
        liveKeysAt: async (revision) => {
          liveKeys = await countLiveKeys(client, revision, log);
          return liveKeys;
        },
      },
    );
    const status = verification.status;
    if (!verification.ok || status === undefined) {
      const quarantinedTo = await store.quarantine(name, partialPath, {
        quarantinedAt: new Date().toISOString(),
        problems: verification.problems,
        snapshot: { ...saved, endpoint: client.endpoint, etcdVersion: member.version, status },
      });
      committed = true;
      throw new SnapshotVerificationError(name, verification.problems, quarantinedTo);
    }
    const record: SnapshotRecord = {
      schema: RECORD_SCHEMA_VERSION,
      name,
      fileName: files.db,
      node: options.node,
      ...(options.labCluster === undefined ? {} : { labCluster: options.labCluster }),
      createdAt: createdAt.toISOString(),
      sizeBytes: saved.sizeBytes,
      sha256: saved.sha256,
      etcd: {
        endpoint: client.endpoint,
        version: member.version,
        storageVersion: saved.storageVersion !== "" ? saved.storageVersion : status.version,
        revision: status.revision,
        ...(liveKeys === undefined ? {} : { keys: liveKeys }),
      },
      ...(options.kubernetesVersion === undefined ? {} : { kubernetesVersion: options.kubernetesVersion }),
      saveDurationMs: saved.durationMs,
      verification: {
        verified: verification.method === "TrialRestore",
        method: verification.method,
        time: new Date().toISOString(),
        message: verification.message,
        durationMs: verification.durationMs,
      },
    };
    const snapshot = await store.commit(partialPath, record);
    committed = true;
    for (const recorder of options.recorders ?? []) await recorder.record(record);
    log.info("snapshot recorded", {
      snapshot: name,
      path: snapshot.dbPath,
      revision: record.etcd.revision,
      keys: record.etcd.keys,
      verified: record.verification.verified,
      verifyDurationMs: verification.durationMs,
    });
    const pruned =
      options.retain === undefined
        ? []
        : (await pruneSnapshots(store, options.retain, { recorders: options.recorders, log })).removed;
    await syncRecorders(store, options.recorders ?? []);
    return { snapshot, verification, pruned, cleaned };
  } finally {
    if (!committed) await rm(partialPath, { force: true });
  }
}

/**
 * Brings every recorder in line with the committed snapshots: repairs a run that failed half-way, and
 * re-records the files on disk after a restore (`kubelab-operator snapshot sync`). Returns what changed.
 */
export async function syncRecorders(
  store: SnapshotStore,
  recorders: readonly SnapshotRecorder[],
): Promise<{ recorded: string[]; removed: string[] }> {
  const changes = { recorded: [] as string[], removed: [] as string[] };
  if (recorders.length === 0) return changes;
  const { snapshots } = await store.scan();
  for (const recorder of recorders) {
    const { recorded, removed } = await recorder.sync(snapshots.map((snapshot) => snapshot.record));
    changes.recorded.push(...recorded);
    changes.removed.push(...removed);
  }
  return changes;
}

/**
 * Keys in the live etcd at `revision`: the independent expectation a fresh snapshot is checked against.
 * Undefined (and a warning) when the revision was compacted in the meantime.
 */
async function countLiveKeys(client: EtcdClient, revision: number, log: Logger): Promise<number | undefined> {
  try {
    return (await client.countKeys(revision)).count;
  } catch (error) {
    if (error instanceof EtcdRequestError && error.code === "OUT_OF_RANGE") {
      log.warn("revision compacted before its keys could be counted; checking the revision only", {
        revision,
      });
      return undefined;
    }
    throw error;
  }
}

export interface VerifyStoredOptions extends AgentContext {
  /** A snapshot name, or `latest` (the newest complete one). */
  readonly name: string;
  /** On failure, move the snapshot to quarantine/ (default). False: report only. */
  readonly quarantine?: boolean;
}

/**
 * Verifies a stored snapshot again against its record (size, sha256, revision, key count) with a trial
 * restore. Success updates the record's verification; failure quarantines the snapshot (unless told not
 * to), removes it from the recorders, and throws SnapshotVerificationError.
 */
export async function verifyStoredSnapshot(
  options: VerifyStoredOptions,
): Promise<{ snapshot: StoredSnapshot; verification: VerificationReport }> {
  const store = new SnapshotStore(options.dir);
  const { snapshots } = await store.scan();
  const snapshot =
    options.name === "latest" ? snapshots[0] : snapshots.find((entry) => entry.name === options.name);
  if (snapshot === undefined) {
    throw new SnapshotNotFoundError(
      options.name === "latest"
        ? `no complete snapshot in ${options.dir}`
        : `no complete snapshot named ${options.name} in ${options.dir} ` +
            `(kubelab-operator snapshot list --dir ${options.dir})`,
    );
  }
  await store.ensure();
  const { record } = snapshot;
  const etcdutl = new Etcdutl({
    command: options.etcdutl,
    logFile: join(store.logsDir, snapshotFiles(snapshot.name).log),
    signal: options.signal,
  });
  const verification = await verifySnapshotFile(
    snapshot.dbPath,
    {
      sizeBytes: record.sizeBytes,
      sha256: record.sha256,
      revision: record.etcd.revision,
      keys: record.etcd.keys,
    },
    { etcdutl, workDir: options.workDir, trialRestore: true },
  );
  if (!verification.ok) {
    let quarantinedTo: string | undefined;
    if (options.quarantine !== false) {
      quarantinedTo = await store.quarantine(snapshot.name, snapshot.dbPath, {
        quarantinedAt: new Date().toISOString(),
        problems: verification.problems,
        snapshot: record,
      });
      for (const recorder of options.recorders ?? []) await recorder.remove(snapshot.name);
    }
    options.log.error("snapshot failed verification", {
      snapshot: snapshot.name,
      problems: verification.problems,
      quarantinedTo,
    });
    throw new SnapshotVerificationError(snapshot.name, verification.problems, quarantinedTo);
  }
  const updated: SnapshotRecord = {
    ...record,
    verification: {
      verified: true,
      method: verification.method,
      time: new Date().toISOString(),
      message: verification.message,
      durationMs: verification.durationMs,
    },
  };
  await store.updateRecord(updated);
  for (const recorder of options.recorders ?? []) await recorder.record(updated);
  options.log.info("snapshot verified", { snapshot: snapshot.name, message: verification.message });
  return { snapshot: { ...snapshot, record: updated }, verification };
}

export interface RestoreOptions extends AgentContext {
  /** A snapshot name, or `latest`. */
  readonly name: string;
  /** The new data directory; it must not exist (the old one is kept by whoever swaps them). */
  readonly dataDir: string;
  /** The member as etcd will run it: `--name`, its peer URL and the initial cluster. */
  readonly member: { readonly name: string; readonly peerUrl: string; readonly initialCluster?: string };
}

/** How far a real restore moves etcd's revision (the value the Kubernetes docs use). */
export const RESTORE_REVISION_BUMP = 1_000_000_000;

/**
 * The restore step of the kubeadm procedure: verifies the stored snapshot again (sha256 against its record,
 * trial restore) and refuses one that fails (SnapshotVerificationError; it is left where it is), then
 * `etcdutl snapshot restore` into a new data directory for `member`, revision bumped and marked compacted
 * (RESTORE_REVISION_BUMP). Never touches a running etcd: stopping
 * etcd and the API server and pointing etcd at the new directory is the caller's part.
 */
export async function restoreStoredSnapshot(
  options: RestoreOptions,
): Promise<{ snapshot: StoredSnapshot; dataDir: string; verification: VerificationReport }> {
  const exists = await access(options.dataDir).then(
    () => true,
    () => false,
  );
  if (exists) {
    throw new RestoreTargetExistsError(
      `${options.dataDir} exists: restore into a new directory, so that the current data stays as it is`,
    );
  }
  const { snapshot, verification } = await verifyStoredSnapshot({ ...options, quarantine: false });
  const etcdutl = new Etcdutl({
    command: options.etcdutl,
    logFile: join(new SnapshotStore(options.dir).logsDir, snapshotFiles(snapshot.name).log),
    signal: options.signal,
  });
  const restored = await etcdutl.restore(snapshot.dbPath, snapshot.record.sizeBytes, {
    dataDir: options.dataDir,
    name: options.member.name,
    peerUrl: options.member.peerUrl,
    ...(options.member.initialCluster === undefined ? {} : { initialCluster: options.member.initialCluster }),
    initialClusterToken: `kubelab-restore-${snapshot.name}`,
    bumpRevision: RESTORE_REVISION_BUMP,
  });
  if (!restored.ok) {
    await rm(options.dataDir, { recursive: true, force: true });
    throw new EtcdutlError(`etcdutl snapshot restore of ${snapshot.name} failed: ${restored.reason}`);
  }
  options.log.info("snapshot restored into a new data directory", {
    snapshot: snapshot.name,
    dataDir: options.dataDir,
    revision: snapshot.record.etcd.revision,
  });
  return { snapshot, dataDir: options.dataDir, verification };
}
