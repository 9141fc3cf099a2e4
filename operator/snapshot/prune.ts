// prune: which snapshots go beyond `retain` (a pure decision), and removing them, files and records together.
import type { Logger } from "../runtime/log.ts";
import type { SnapshotRecorder } from "./recorder.ts";
import type { SnapshotStore } from "./store.ts";

/** What the decision needs to know about one snapshot. */
export interface PruneCandidate {
  readonly name: string;
  readonly createdAt: string;
  readonly verified: boolean;
}

export interface PrunePlan {
  /** Kept, newest first. */
  readonly keep: readonly string[];
  /** To remove, oldest first (an interrupted prune has removed the least valuable ones). */
  readonly remove: readonly string[];
  /** The newest verified snapshot when it is kept beyond `retain` (all newer ones are unverified). */
  readonly keptBeyondRetain: string | undefined;
}

/**
 * Keeps the `retain` newest snapshots, and always the newest verified one: when the newest `retain` are all
 * unverified (verify was turned off, or a verify-less run), the last proven-restorable snapshot is kept as
 * well, so pruning never leaves a cluster without one. Order is createdAt, then name (names embed the time).
 */
export function planPrune(snapshots: readonly PruneCandidate[], retain: number): PrunePlan {
  if (!Number.isInteger(retain) || retain < 1) {
    throw new RangeError(`retain must be a whole number >= 1, got ${retain}`);
  }
  const newestFirst = [...snapshots].sort((a, b) => {
    const byTime = Date.parse(b.createdAt) - Date.parse(a.createdAt);
    return byTime !== 0 ? byTime : b.name.localeCompare(a.name);
  });
  const keep = newestFirst.slice(0, retain);
  const newestVerified = newestFirst.find((snapshot) => snapshot.verified);
  let keptBeyondRetain: string | undefined;
  if (newestVerified !== undefined && !keep.includes(newestVerified)) {
    keep.push(newestVerified);
    keptBeyondRetain = newestVerified.name;
  }
  const remove = newestFirst.filter((snapshot) => !keep.includes(snapshot)).reverse();
  return {
    keep: keep.map((snapshot) => snapshot.name),
    remove: remove.map((snapshot) => snapshot.name),
    keptBeyondRetain,
  };
}

export interface PruneResult {
  readonly removed: readonly string[];
  readonly kept: readonly string[];
}

/**
 * Removes the snapshots beyond `retain` from the store and from every recorder (the EtcdSnapshot objects),
 * oldest first. The file goes first: a record or object left by a crash points at nothing and is cleaned
 * up by the next prune, while a file without a record would never be pruned.
 */
export async function pruneSnapshots(
  store: SnapshotStore,
  retain: number,
  options: { recorders?: readonly SnapshotRecorder[]; log: Logger },
): Promise<PruneResult> {
  const { snapshots } = await store.scan();
  const plan = planPrune(
    snapshots.map((snapshot) => ({
      name: snapshot.name,
      createdAt: snapshot.record.createdAt,
      verified: snapshot.record.verification.verified,
    })),
    retain,
  );
  if (plan.keptBeyondRetain !== undefined) {
    options.log.warn("keeping the newest verified snapshot beyond retain: newer ones are unverified", {
      snapshot: plan.keptBeyondRetain,
      retain,
    });
  }
  for (const name of plan.remove) {
    await store.remove(name);
    for (const recorder of options.recorders ?? []) await recorder.remove(name);
    options.log.info("pruned snapshot", { snapshot: name, retain });
  }
  return { removed: plan.remove, kept: plan.keep };
}
