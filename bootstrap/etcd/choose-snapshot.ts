// `bootstrap restore`: which EtcdSnapshot to restore (a pure choice), and what it says before it asks.
import type { EtcdSnapshot, SnapshotRecord } from "../../operator/api/etcdsnapshot.ts";
import { printable } from "./record.ts";
import { UsageError } from "../errors.ts";

/** `--snapshot latest`: the newest verified snapshot. */
export const LATEST = "latest";

/** A snapshot that passed a trial restore (not only `etcdutl snapshot status`). */
function isVerified(snapshot: EtcdSnapshot): boolean {
  return snapshot.status?.verification?.verified === true;
}

/**
 * The snapshot `--snapshot NAME|latest` names among `snapshots` (any order). `latest` is the newest
 * verified one (by spec.createdAt). A named snapshot that was never verified by a trial restore is
 * refused, as is an unknown name or an empty list: UsageError (exit 2, nothing changed), with the next
 * command in the hint.
 */
export function chooseSnapshot(snapshots: readonly EtcdSnapshot[], requested: string): EtcdSnapshot {
  if (requested === LATEST) {
    const newest = snapshots
      .filter(isVerified)
      .sort((a, b) => Date.parse(b.spec.createdAt) - Date.parse(a.spec.createdAt))[0];
    if (newest === undefined) {
      throw new UsageError(
        snapshots.length === 0
          ? "the lab has no etcd snapshots to restore"
          : `none of the lab's ${snapshots.length} etcd snapshot(s) is verified`,
        { hint: "`bootstrap backup` takes a verified snapshot; `bootstrap backups` lists them" },
      );
    }
    return newest;
  }
  const named = snapshots.find((snapshot) => snapshot.metadata.name === requested);
  if (named === undefined) {
    throw new UsageError(`no etcd snapshot named ${requested}`, {
      hint: "`bootstrap backups` lists them; `--snapshot latest` takes the newest verified one",
    });
  }
  if (!isVerified(named)) {
    const verification = named.status?.verification;
    throw new UsageError(
      `refusing to restore ${requested}: it was never verified by a trial restore` +
        (verification === undefined ? "" : ` (${verification.method}: ${verification.message})`),
      { hint: "restore a verified snapshot (`bootstrap backups`), or take one with `bootstrap backup`" },
    );
  }
  return named;
}

/** The one paragraph shown before the question: what will happen to the lab. */
export function restoreSummary(labName: string, record: SnapshotRecord): string {
  return (
    `Restore lab ${labName} to etcd snapshot ${record.name} ` +
    `(taken ${printable(record.createdAt)} on ${printable(record.node)}, revision ${record.etcd.revision}, as the ` +
    `agent recorded it beside the file).\n` +
    "The API server and etcd stop for a while; every object created or changed since the snapshot is " +
    "lost. etcd's current data directory is kept."
  );
}
