// The LabCluster status from the parts' results: conditions, Ready, observedGeneration (pure).
import { isDeepStrictEqual } from "node:util";

import type { Condition } from "../api/common.ts";
import {
  ConditionType,
  INFORMATIONAL_CONDITIONS,
  labClusterStatusSchema,
  type LabClusterStatus,
} from "../api/labcluster.ts";
import { setCondition, summarize, type DesiredCondition } from "../runtime/conditions.ts";
import type { PartResult } from "./part.ts";

export interface ComposedStatus {
  readonly status: LabClusterStatus;
  /** The status differs from `previous`: it must be written. */
  readonly changed: boolean;
  /** Conditions whose status flipped (or that are new), for Events. */
  readonly transitions: readonly { condition: Condition; previous: Condition | undefined }[];
}

/** A part whose reconcile threw this time: its fields and conditions keep their previous values. */
export interface FailedPart {
  readonly part: string;
  readonly message: string;
}

export interface ComposeOptions {
  /** The parts that failed this reconcile. */
  readonly failed?: readonly FailedPart[];
  /**
   * What the controller decided instead of running the parts: Ready as it says (InvalidSpec, DuplicateLab),
   * whether that counts as reconciling the generation, and whether the parts' conditions are dropped
   * (they describe work this LabCluster no longer does).
   */
  readonly verdict?: {
    readonly ready: DesiredCondition;
    readonly reconciled: boolean;
    readonly dropPartConditions: boolean;
  };
}

/**
 * Builds the next status. Starts from the previous one, so the fields of a part that failed this time stay
 * as they were; overlays every successful part's fields and conditions (stamped with this generation); sets
 * Ready as the summary of all non-informational conditions.
 *
 * As Cluster API: observedGeneration is stamped only when every part reconciled this generation. While a
 * part fails on a generation no reconcile completed yet (a spec change), Ready is False (ReconcileFailed)
 * and names the parts, so `kubectl wait --for=condition=Ready` never passes on a spec that was not applied.
 * A part failing again on a generation already reconciled (an API hiccup) leaves Ready to the summary.
 */
export function composeStatus(
  previous: LabClusterStatus,
  results: readonly PartResult[],
  generation: number | undefined,
  now: Date,
  options: ComposeOptions = {},
): ComposedStatus {
  let conditions: Condition[] = [...(previous.conditions ?? [])];
  const transitions: { condition: Condition; previous: Condition | undefined }[] = [];
  const apply = (desired: DesiredCondition) => {
    const result = setCondition(conditions, desired, generation, now);
    conditions = result.conditions;
    if (result.transitioned) {
      const condition = conditions.find((candidate) => candidate.type === desired.type);
      if (condition !== undefined) transitions.push({ condition, previous: result.previous });
    }
  };
  let fields: LabClusterStatus = { ...previous };
  for (const result of results) {
    // status.addons is shared: each addon part owns its own key under it (addons.calico, addons.coredns), and
    // drops it by setting it undefined (the lab does not run that addon).
    const addons =
      result.status.addons === undefined ? {} : { addons: { ...fields.addons, ...result.status.addons } };
    fields = { ...fields, ...result.status, ...addons };
    for (const condition of result.conditions) apply(condition);
    const removed = result.removedConditions ?? [];
    conditions = conditions.filter((condition) => !removed.includes(condition.type));
  }
  const failed = options.failed ?? [];
  const verdict = options.verdict;
  if (verdict?.dropPartConditions === true) {
    conditions = conditions.filter((condition) => condition.type === ConditionType.ready);
  }
  const reconciled = verdict === undefined ? failed.length === 0 : verdict.reconciled;
  const reconciledBefore = generation !== undefined && previous.observedGeneration === generation;
  apply(verdict?.ready ?? readyCondition(conditions, failed, reconciledBefore ? undefined : generation));
  const observedGeneration = reconciled ? generation : previous.observedGeneration;
  const { observedGeneration: _previousGeneration, ...rest } = fields;
  const status: LabClusterStatus = {
    ...rest,
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
    conditions: sortConditions(conditions),
  };
  return { status, changed: !sameStatus(previous, status), transitions };
}

/**
 * Ready from the parts: ReconcileFailed while `unreconciled` (a generation no reconcile completed) has
 * failed parts, else the summary of every condition that counts.
 */
function readyCondition(
  conditions: readonly Condition[],
  failed: readonly FailedPart[],
  unreconciled: number | undefined,
): DesiredCondition {
  if (failed.length > 0 && unreconciled !== undefined) {
    const parts = failed.map(({ part, message }) => `${part} failed: ${message}`).join("; ");
    return {
      type: ConditionType.ready,
      status: "False",
      reason: "ReconcileFailed",
      message: `generation ${unreconciled} is not reconciled yet: ${parts}`,
    };
  }
  const summarised = conditions
    .filter(
      (condition) =>
        condition.type !== ConditionType.ready && !INFORMATIONAL_CONDITIONS.includes(condition.type),
    )
    .map(({ type, status, reason, message }) => ({ type, status, reason, message }));
  return summarised.length === 0
    ? {
        type: ConditionType.ready,
        status: "Unknown",
        reason: "NotReconciled",
        message: "no part has reported yet",
      }
    : summarize(ConditionType.ready, summarised);
}

/** The status as read, leniently: an unparsable status (hand-edited) counts as empty. */
export function readStatus(raw: unknown): LabClusterStatus {
  const parsed = labClusterStatusSchema.safeParse(raw ?? {});
  return parsed.success ? parsed.data : {};
}

/** Equal as JSON (undefined fields do not count), which is what the API server would store. */
export function sameStatus(a: LabClusterStatus, b: LabClusterStatus): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
}

/** Ready first, then the order the parts report in; stable so equal statuses compare equal. */
function sortConditions(conditions: readonly Condition[]): Condition[] {
  const order: string[] = Object.values(ConditionType);
  const rank = (type: string) => {
    const index = order.indexOf(type);
    return index === -1 ? order.length : index;
  };
  return [...conditions].sort((a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type));
}
