// An addon as a LabCluster part: its condition and status.addons.<addon> from the shared addon engine.
import type { AddonName } from "../../api/addons/bundle.ts";
import { ConditionType, type AddonStatus } from "../../api/labcluster.ts";
import type { LabClusterPart, PartInput, PartResult } from "../part.ts";
import { ADDON_TITLES, addonEngine, type AddonEngine, type AddonEngineOptions } from "./engine.ts";
import { addonCondition } from "./health.ts";

const CONDITION_TYPES: Record<AddonName, string> = {
  calico: ConditionType.calicoHealthy,
  coredns: ConditionType.corednsHealthy,
};

/**
 * The part of one addon. The restoring itself happens in the addon engine's own controller (engine.ts),
 * which every addon part shares; this part only reports: the condition (CalicoHealthy, CoreDNSHealthy)
 * and status.addons.<addon>. With spec.addons.<addon>.mode Disabled the condition is removed, so an addon
 * the lab does not run never holds Ready back.
 */
export function addonPart(addon: AddonName, options: AddonEngineOptions = {}): LabClusterPart {
  return {
    name: addon,
    setup(context) {
      const engine = addonEngine(context, options);
      return { sources: [], reconcile: async (input) => addonStatus(addon, engine, input) };
    },
  };
}

/** Both addon parts sharing one engine with `options` (tests and benchmarks tune the restore policy). */
export function addonParts(options: AddonEngineOptions = {}): LabClusterPart[] {
  return [addonPart("calico", options), addonPart("coredns", options)];
}

function addonStatus(addon: AddonName, engine: AddonEngine, input: PartInput): Promise<PartResult> {
  const type = CONDITION_TYPES[addon];
  const labCluster = input.labCluster;
  const previous = input.previous.addons?.[addon];
  const { restores, lastRestore } = engine.restoreTally(addon, {
    uid: labCluster.metadata.uid ?? labCluster.metadata.name,
    previous,
  });
  const snapshot = engine.snapshot(addon);
  const counts: AddonStatus = {
    restores,
    ...(lastRestore === undefined ? {} : { lastRestore }),
    ...(snapshot.bundle === undefined
      ? {}
      : { objects: snapshot.bundle.objects, source: snapshot.bundle.source }),
  };
  if (labCluster.spec.addons[addon].mode === "Disabled") {
    return Promise.resolve({
      conditions: [],
      removedConditions: [type],
      status: { addons: { [addon]: counts } },
    });
  }
  const condition = addonCondition(type, ADDON_TITLES[addon], snapshot);
  return Promise.resolve({
    conditions: [condition],
    status: { addons: { [addon]: { healthy: condition.status === "True", ...counts } } },
  });
}
