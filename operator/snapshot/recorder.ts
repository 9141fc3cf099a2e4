// Where a snapshot is recorded besides its metadata file: the contract the EtcdSnapshot objects plug into.
import type { SnapshotRecord } from "../api/etcdsnapshot.ts";

/**
 * A second place that lists snapshots (the `EtcdSnapshot` objects in the cluster). The metadata file beside
 * the snapshot stays the source of truth: an object is written after the file is committed and removed
 * after the file is gone, so an object never names a snapshot that is not on disk for longer than one
 * failed run, and `sync` repairs both directions on the next run.
 */
export interface SnapshotRecorder {
  /** Human name for logs ("EtcdSnapshot objects"). */
  readonly description: string;
  /** Creates or updates the entry of a committed snapshot. Idempotent. */
  record(record: SnapshotRecord): Promise<void>;
  /** Removes the entry of a pruned snapshot; an entry that is already gone is success. */
  remove(name: string): Promise<void>;
  /**
   * Makes the entries equal to the committed snapshots: writes every one (missing or not), removes those
   * whose file is gone. Says which it added and which it removed.
   */
  sync(records: readonly SnapshotRecord[]): Promise<{ recorded: string[]; removed: string[] }>;
}
