// Conditions as upstream helpers treat them: set one, say whether it changed, move the time only on a flip.
import type { Condition, ConditionStatus } from "../api/common.ts";

/** A condition as a part computes it; the time and generation are filled in by `setCondition`. */
export interface DesiredCondition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

export interface SetConditionResult {
  readonly conditions: Condition[];
  /** Anything differs from before (status, reason, message or observedGeneration): status must be written. */
  readonly changed: boolean;
  /** The status flipped (or the condition is new): an Event-worthy transition. */
  readonly transitioned: boolean;
  /** The condition as it was before, if it existed. */
  readonly previous: Condition | undefined;
}

/**
 * Returns `conditions` with `desired` set, as apimachinery's meta.SetStatusCondition: lastTransitionTime
 * moves only when the status flips (or the condition is new); reason, message and observedGeneration are
 * always updated. Pure: the input array is not modified.
 */
export function setCondition(
  conditions: readonly Condition[],
  desired: DesiredCondition,
  observedGeneration: number | undefined,
  now: Date,
): SetConditionResult {
  const previous = conditions.find((condition) => condition.type === desired.type);
  const transitioned = previous === undefined || previous.status !== desired.status;
  const next: Condition = {
    type: desired.type,
    status: desired.status,
    reason: desired.reason,
    message: truncate(desired.message, 32768),
    lastTransitionTime:
      transitioned || previous === undefined ? formatTime(now) : previous.lastTransitionTime,
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
  };
  const changed =
    transitioned ||
    previous.reason !== next.reason ||
    previous.message !== next.message ||
    previous.observedGeneration !== next.observedGeneration;
  const updated =
    previous === undefined ? [...conditions, next] : conditions.map((c) => (c === previous ? next : c));
  return { conditions: changed ? updated : [...conditions], changed, transitioned, previous };
}

/** The condition of `type`, if present. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

/** True when the condition of `type` exists with status True. */
export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === "True";
}

/**
 * The summary condition (Ready) from the parts' conditions, as Cluster API's summary: True when every one is
 * True; otherwise False (or Unknown if none is False) with the reasons and messages of those that are not.
 */
export function summarize(type: string, parts: readonly DesiredCondition[]): DesiredCondition {
  const notTrue = parts.filter((part) => part.status !== "True");
  if (notTrue.length === 0) {
    return { type, status: "True", reason: "AllHealthy", message: "" };
  }
  const status: ConditionStatus = notTrue.some((part) => part.status === "False") ? "False" : "Unknown";
  const first = notTrue.find((part) => part.status === status) ?? notTrue[0]!;
  const message = notTrue.map((part) => `${part.type}: ${part.message || part.reason}`).join("; ");
  return { type, status, reason: first.reason, message };
}

/** RFC 3339 with second precision, as metav1.Time serialises. */
export function formatTime(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function truncate(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 3)}...`;
}
