// When a restore or a rollout restart may run again: the operator never hot-loops against a user (pure).

/**
 * How restores of one object are spaced. A few in a row happen at once (someone deleted it by mistake, a
 * test); beyond `burst` within `windowMs` something keeps undoing them (a user, another controller), and
 * each further restore waits twice as long as the one before, from `initialDelayMs` up to `maxDelayMs`.
 */
export interface RestorePolicy {
  readonly burst: number;
  readonly windowMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** 5 restores of one object within 10 minutes at once, then 1 s, 2 s, 4 s... up to 5 minutes apart. */
export const DEFAULT_RESTORE_POLICY: RestorePolicy = {
  burst: 5,
  windowMs: 10 * 60_000,
  initialDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
};

/** The restore times of `history` that still count (within the window), oldest first. */
export function recentRestores(history: readonly number[], policy: RestorePolicy, now: number): number[] {
  return history.filter((time) => now - time < policy.windowMs);
}

/** The earliest time the next restore of an object may run, given its recent restore times. */
export function nextRestoreAt(history: readonly number[], policy: RestorePolicy, now: number): number {
  const recent = recentRestores(history, policy, now);
  if (recent.length < policy.burst) return now;
  const over = recent.length - policy.burst;
  const delay = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(over, 32));
  return recent[recent.length - 1]! + delay;
}

/** The longest a workload waits between two rollout restarts, however often they failed. */
export const MAX_RESTART_WAIT_MS = 60 * 60_000;

/** A workload's unavailability as the operator tracks it (in memory; a restarted operator starts over). */
export interface AvailabilityTrack {
  /** When it was first seen unavailable (undefined: available). */
  readonly unavailableSince: number | undefined;
  /** Rollout restarts since it was last available. */
  readonly restarts: number;
  readonly lastRestartAt: number | undefined;
}

export const AVAILABLE: AvailabilityTrack = {
  unavailableSince: undefined,
  restarts: 0,
  lastRestartAt: undefined,
};

/**
 * When a workload that stays unavailable gets its next rollout restart: `unavailableSeconds` after it
 * became unavailable, then, if the restart did not help, 2x, 4x, 8x... that long after the previous
 * restart (at most MAX_RESTART_WAIT_MS): repeated failures back off instead of looping.
 */
export function restartDueAt(track: AvailabilityTrack, unavailableSeconds: number): number {
  const base = unavailableSeconds * 1000;
  if (track.unavailableSince === undefined) return Infinity;
  if (track.restarts === 0 || track.lastRestartAt === undefined) return track.unavailableSince + base;
  return track.lastRestartAt + Math.min(MAX_RESTART_WAIT_MS, base * 2 ** Math.min(track.restarts, 32));
}
