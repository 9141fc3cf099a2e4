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

/**
 * Builds the next status. Starts from the previous one, so the fields of a part that failed this time stay
 * as they were; overlays every successful part's fields and conditions; sets Ready as the summary of all
 * non-informational conditions; stamps observedGeneration. `extra` conditions (InvalidSpec) are set too.
 */
export function composeStatus(
  previous: LabClusterStatus,
  results: readonly PartResult[],
  generation: number | undefined,
  now: Date,
  extra: readonly DesiredCondition[] = [],
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
    // status.addons is shared: each addon part owns its own key under it (addons.calico, addons.coredns).
    const addons =
      result.status.addons === undefined ? {} : { addons: { ...fields.addons, ...result.status.addons } };
    fields = { ...fields, ...result.status, ...addons };
    for (const condition of result.conditions) apply(condition);
    const removed = result.removedConditions ?? [];
    conditions = conditions.filter((condition) => !removed.includes(condition.type));
  }
  for (const condition of extra) apply(condition);
  const summarised = conditions
    .filter(
      (condition) =>
        condition.type !== ConditionType.ready && !INFORMATIONAL_CONDITIONS.includes(condition.type),
    )
    .map(({ type, status, reason, message }) => ({ type, status, reason, message }));
  apply(
    summarised.length === 0
      ? {
          type: ConditionType.ready,
          status: "Unknown",
          reason: "NotReconciled",
          message: "no part has reported yet",
        }
      : summarize(ConditionType.ready, summarised),
  );
  const status: LabClusterStatus = {
    ...fields,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions: sortConditions(conditions),
  };
  return { status, changed: !sameStatus(previous, status), transitions };
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
