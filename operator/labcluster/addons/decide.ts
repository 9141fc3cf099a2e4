// What to do about one bundled object, from what the caches show (pure): nothing, re-create, re-apply, restart.
import type { AddonMode } from "../../api/labcluster.ts";
import {
  AVAILABLE,
  nextRestoreAt,
  restartDueAt,
  type AvailabilityTrack,
  type RestorePolicy,
} from "./backoff.ts";
import { isAvailable, type LiveObject } from "./objects.ts";

/** Why an object was restored: the `reason` of status.addons.*.lastRestore and of the Event. */
export type RestoreReason = "Deleted" | "Drifted" | "Unavailable";

/**
 * The health of one object, as the addon's condition summarises it. Only `Healthy` and `Disabled` count as
 * healthy; the rest name what is wrong.
 */
export type ObjectHealthState =
  | "Healthy"
  | "Disabled"
  | "Missing"
  | "Deleting"
  | "Unavailable"
  | "RestartBackoff"
  | "RestoreBackoff"
  | "NamespaceTerminating"
  | "NamespaceMissing"
  | "RestoreFailed";

export interface ObjectHealth {
  readonly state: ObjectHealthState;
  /** For humans: "2/3 available for 45s; rollout restart in 135s". Empty when healthy. */
  readonly message: string;
}

export function isHealthy(health: ObjectHealth): boolean {
  return health.state === "Healthy" || health.state === "Disabled";
}

/** The state of a namespaced object's namespace. */
export type NamespaceState = "active" | "terminating" | "missing";

export interface ObjectInput {
  readonly mode: AddonMode;
  /** The object in the cache; undefined when it does not exist. */
  readonly live: LiveObject | undefined;
  /** Undefined for cluster-scoped objects. */
  readonly namespace: NamespaceState | undefined;
  /**
   * The fingerprint the object had when the operator last applied or checked it. A live fingerprint equal to
   * it means nobody changed the object since: nothing to re-apply.
   */
  readonly checkedFingerprint: string | undefined;
  /**
   * The fingerprint the object had just before the operator's last apply, as long as the cache has not
   * shown the result of that apply yet: a stale cache entry, not a new edit.
   */
  readonly staleFingerprint: string | undefined;
  /** The operator just created the object and the cache has not shown it yet: not missing, only unseen. */
  readonly awaitingCreate: boolean;
  /** When this object was restored recently (any reason but Unavailable), for the fight backoff. */
  readonly restoreTimes: readonly number[];
  readonly availability: AvailabilityTrack;
  readonly unavailableSeconds: number;
  readonly policy: RestorePolicy;
  readonly now: number;
}

export type ObjectAction =
  /** Nothing to do now (maybe later: see requeueAfterMs). */
  | { readonly kind: "none" }
  /** EnsureExists: create it from the bundle (an object that appeared meanwhile is left alone). */
  | { readonly kind: "create"; readonly reason: "Deleted" }
  /**
   * Reconcile: server-side apply of the bundled object with force. For a missing object this re-creates it;
   * for an existing one it puts back every field the bundle sets, and leaves fields the bundle does not set
   * (defaults, other controllers' and users' additions) alone. Whether it changed anything is only known
   * from the answer, so "Drifted" is tentative.
   */
  | { readonly kind: "apply"; readonly reason: "Deleted" | "Drifted" }
  /** A rollout restart of the Deployment or DaemonSet (what `kubectl rollout restart` does). */
  | { readonly kind: "restart"; readonly reason: "Unavailable" };

export interface ObjectDecision {
  readonly action: ObjectAction;
  readonly health: ObjectHealth;
  /** The availability tracking to keep; with a restart, as it is once the restart is done. */
  readonly availability: AvailabilityTrack;
  /** Decide again after this long even if nothing changes (a backoff or a timeout ends). */
  readonly requeueAfterMs: number | undefined;
}

/**
 * Decides about one object. The rules, in order:
 *
 * - Disabled: nothing, ever.
 * - Missing: unless the operator just created it and the watch has not shown it yet, re-create it (Reconcile: apply; EnsureExists: create), unless its namespace is being deleted
 *   or is gone (never restore into a namespace being deleted: it would be deleted again, or block the
 *   namespace's deletion), or the object was restored so often lately that it waits out its backoff.
 * - Being deleted (finalizers pending): wait for it to be gone.
 * - Reconcile and changed since the last check: re-apply (the fight backoff applies here too).
 *   EnsureExists never touches an existing object: a user's edit of the Corefile survives.
 * - A Deployment or DaemonSet unavailable for longer than unavailableSeconds: rollout restart, then
 *   restarts spaced 2x, 4x... further apart while it stays unavailable (restartDueAt).
 */
export function decideObject(input: ObjectInput): ObjectDecision {
  const { live, now } = input;
  const decision = (
    action: ObjectAction,
    health: ObjectHealth,
    requeueAfterMs?: number,
    availability: AvailabilityTrack = input.availability,
  ): ObjectDecision => ({ action, health, availability, requeueAfterMs });
  const none: ObjectAction = { kind: "none" };

  if (input.mode === "Disabled")
    return decision(none, { state: "Disabled", message: "" }, undefined, AVAILABLE);

  if (live === undefined) {
    if (input.awaitingCreate) {
      return decision(none, { state: "Healthy", message: "" }, AWAIT_CREATE_MS, AVAILABLE);
    }
    if (input.namespace === "terminating") {
      return decision(
        none,
        { state: "NamespaceTerminating", message: "its namespace is being deleted" },
        undefined,
        AVAILABLE,
      );
    }
    if (input.namespace === "missing") {
      return decision(
        none,
        { state: "NamespaceMissing", message: "its namespace does not exist" },
        undefined,
        AVAILABLE,
      );
    }
    const backoff = restoreBackoff(input);
    if (backoff !== undefined) return decision(none, backoff.health, backoff.waitMs, AVAILABLE);
    return decision(
      input.mode === "Reconcile"
        ? { kind: "apply", reason: "Deleted" }
        : { kind: "create", reason: "Deleted" },
      { state: "Missing", message: "deleted; re-creating it from the bundle" },
      undefined,
      AVAILABLE,
    );
  }

  if (live.deleting) {
    return decision(
      none,
      { state: "Deleting", message: "being deleted; re-created once it is gone" },
      undefined,
      AVAILABLE,
    );
  }

  if (
    input.mode === "Reconcile" &&
    live.fingerprint !== input.checkedFingerprint &&
    live.fingerprint !== input.staleFingerprint
  ) {
    const backoff = restoreBackoff(input);
    if (backoff !== undefined) return decision(none, backoff.health, backoff.waitMs);
    return decision({ kind: "apply", reason: "Drifted" }, { state: "Healthy", message: "" });
  }

  const workload = live.workload;
  if (workload === undefined || isAvailable(workload)) {
    return decision(none, { state: "Healthy", message: "" }, undefined, AVAILABLE);
  }
  const track: AvailabilityTrack =
    input.availability.unavailableSince === undefined
      ? { ...AVAILABLE, unavailableSince: now }
      : input.availability;
  const dueAt = restartDueAt(track, input.unavailableSeconds);
  const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))}s`;
  const counts = workload.observed
    ? `${workload.available}/${workload.desired} available`
    : "its controller has not seen the current spec yet";
  const unavailableFor = `unavailable for ${seconds(now - (track.unavailableSince ?? now))} (${counts})`;
  if (now >= dueAt) {
    return decision(
      { kind: "restart", reason: "Unavailable" },
      {
        state: track.restarts === 0 ? "Unavailable" : "RestartBackoff",
        message: `${unavailableFor}; rollout restart ${track.restarts + 1}`,
      },
      undefined,
      { unavailableSince: track.unavailableSince, restarts: track.restarts + 1, lastRestartAt: now },
    );
  }
  const next = `rollout restart in ${seconds(dueAt - now)}`;
  return decision(
    none,
    track.restarts === 0
      ? {
          state: "Unavailable",
          message: `${unavailableFor}; ${next} (unavailableSeconds ${input.unavailableSeconds})`,
        }
      : {
          state: "RestartBackoff",
          message: `${unavailableFor}; ${track.restarts} rollout restarts did not help; next ${next}`,
        },
    dueAt - now,
    track,
  );
}

/**
 * How long a created object may stay unseen by the cache before it counts as missing again. The watch
 * normally shows it within milliseconds; this only matters if that event was lost.
 */
export const AWAIT_CREATE_MS = 5000;

/** The wait imposed by recent restores, if any (nextRestoreAt). */
function restoreBackoff(input: ObjectInput): { health: ObjectHealth; waitMs: number } | undefined {
  const at = nextRestoreAt(input.restoreTimes, input.policy, input.now);
  if (at <= input.now) return undefined;
  const count = input.restoreTimes.filter((time) => input.now - time < input.policy.windowMs).length;
  const minutes = Math.round(input.policy.windowMs / 60_000);
  return {
    waitMs: at - input.now,
    health: {
      state: "RestoreBackoff",
      message:
        `restored ${count} times in ${minutes} min: something keeps undoing it; next restore in ` +
        `${Math.ceil((at - input.now) / 1000)}s (label it kubelab.dev/addon-mode=Disabled to hand it over)`,
    },
  };
}
