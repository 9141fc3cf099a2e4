// The addons as LabCluster parts: their conditions and status.addons.<addon> from one shared addon engine.
import { ADDONS, type AddonName } from "../../api/addons/bundle.ts";
import { ADDON_FIELDS, ConditionType, runsAddon, type AddonStatus } from "../../api/labcluster.ts";
import type { LabClusterPart, PartInput, PartResult, PartSetupContext } from "../part.ts";
import { ADDON_TITLES, AddonEngine, type AddonEngineOptions } from "./engine.ts";
import { addonCondition } from "./health.ts";

const CONDITION_TYPES: Record<AddonName, string> = {
  calico: ConditionType.calicoHealthy,
  "kube-router": ConditionType.kubeRouterHealthy,
  coredns: ConditionType.corednsHealthy,
};

/**
 * The addon parts, Calico's, kube-router's then CoreDNS's. The restoring itself happens in the addon engine's
 * own controller (engine.ts), which the parts share: the first part set up builds it, in this closure, so the
 * operator has one controller, one set of watches and one restore metric. The parts only report: the
 * condition (CalicoHealthy, KubeRouterHealthy, CoreDNSHealthy) and status.addons.<addon>. With
 * spec.addons.<addon>.mode Disabled the condition is removed, so an addon the user took over never holds
 * Ready back. The CNI spec.cni does not name is not the lab's at all: its condition and its status.addons
 * entry are removed (as controller-runtime operators drop a condition that does not apply, rather than
 * report it as not applicable), so Ready depends on the lab's own CNI only.
 *
 * Make them once per operator (the composition root does): the engine belongs to the operator whose setup
 * built it, and setting the same parts up for a second operator is refused. `options` tune the engine
 * (tests and benchmarks shorten the restore policy).
 */
export function addonParts(options: AddonEngineOptions = {}): LabClusterPart[] {
  let shared: { readonly engine: AddonEngine; readonly owner: PartSetupContext["labClusters"] } | undefined;
  const engineFor = (context: PartSetupContext): AddonEngine => {
    if (shared === undefined)
      shared = { engine: new AddonEngine(context, options), owner: context.labClusters };
    else if (shared.owner !== context.labClusters) {
      throw new Error(
        "these addon parts were set up for another operator already; call addonParts() per operator",
      );
    }
    return shared.engine;
  };
  return ADDONS.map((addon): LabClusterPart => ({
    name: addon,
    setup(context) {
      const engine = engineFor(context);
      return { sources: [], reconcile: async (input) => addonStatus(addon, engine, input) };
    },
  }));
}

function addonStatus(addon: AddonName, engine: AddonEngine, input: PartInput): Promise<PartResult> {
  const type = CONDITION_TYPES[addon];
  const field = ADDON_FIELDS[addon];
  const labCluster = input.labCluster;
  if (!runsAddon(labCluster.spec, addon)) {
    return Promise.resolve({
      conditions: [],
      removedConditions: [type],
      status: { addons: { [field]: undefined } },
    });
  }
  const previous = input.previous.addons?.[field];
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
  if (labCluster.spec.addons[field].mode === "Disabled") {
    return Promise.resolve({
      conditions: [],
      removedConditions: [type],
      status: { addons: { [field]: counts } },
    });
  }
  const condition = addonCondition(type, ADDON_TITLES[addon], snapshot);
  return Promise.resolve({
    conditions: [condition],
    status: { addons: { [field]: { healthy: condition.status === "True", ...counts } } },
  });
}
