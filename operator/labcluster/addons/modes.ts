// Which restore mode applies to a bundled object: the LabCluster's, a label's or the kind's default (pure).
import type { AddonName } from "../../api/addons/bundle.ts";
import {
  ADDON_FIELDS,
  ADDON_MODES,
  runsAddon,
  type AddonMode,
  type LabClusterSpec,
} from "../../api/labcluster.ts";

/** Where the mode of an object came from, for status messages and logs. */
export type ModeSource =
  "spec-disabled" | "live-label" | "last-seen-label" | "spec" | "bundle-label" | "default";

export interface ModeInput {
  /** The object's kind: the default depends on it. */
  readonly kind: string;
  /** spec.addons.<addon>.mode; undefined when unset. */
  readonly specMode: AddonMode | undefined;
  /** kubelab.dev/addon-mode on the live object. */
  readonly liveLabel: string | undefined;
  /** The label the object carried when it was last seen (it was deleted since). */
  readonly lastSeenLabel: string | undefined;
  /** The label on the object in the bundle. */
  readonly bundleLabel: string | undefined;
}

export interface ResolvedMode {
  readonly mode: AddonMode;
  readonly source: ModeSource;
}

/**
 * Kinds whose objects hold configuration people tune by hand (the Corefile, calico-config's MTU): re-created
 * when missing, never overwritten. Everything else (workloads, RBAC, Services, CRDs) is reconciled.
 */
const ENSURE_EXISTS_KINDS: readonly string[] = ["ConfigMap"];

/**
 * The mode the LabCluster sets for a whole addon: spec.addons.<addon>.mode, and Disabled for an addon the lab
 * does not run (the other CNI): a leftover bundle of it is never applied beside the lab's own CNI.
 */
export function specModeOf(spec: LabClusterSpec, addon: AddonName): AddonMode | undefined {
  return runsAddon(spec, addon) ? spec.addons[ADDON_FIELDS[addon]].mode : "Disabled";
}

/** The mode of a kind when nothing else says: EnsureExists for ConfigMaps, Reconcile otherwise. */
export function defaultMode(kind: string): AddonMode {
  return ENSURE_EXISTS_KINDS.includes(kind) ? "EnsureExists" : "Reconcile";
}

/** A label value as a mode; undefined when absent or not one of Reconcile, EnsureExists, Disabled. */
export function parseMode(value: string | undefined): AddonMode | undefined {
  return ADDON_MODES.find((mode) => mode === value);
}

/**
 * Resolves an object's mode, most specific intent first:
 *
 * 1. `spec.addons.<addon>.mode: Disabled` turns the whole addon off: one switch that always wins, so the
 *    operator never fights someone who took the addon over.
 * 2. The `kubelab.dev/addon-mode` label on the live object: a user's override for that object (as the
 *    addon-manager's label). For an object that is gone, the label it carried when last seen, so a user
 *    who labelled an object Disabled and then deleted it does not get it back.
 * 3. `spec.addons.<addon>.mode` (Reconcile or EnsureExists) for the whole addon.
 * 4. The label on the object in the bundle (what bootstrap or the bundle's author chose).
 * 5. The kind's default: EnsureExists for ConfigMaps, Reconcile for the rest.
 *
 * Invalid label values are ignored, as if absent.
 */
export function resolveMode(input: ModeInput): ResolvedMode {
  if (input.specMode === "Disabled") return { mode: "Disabled", source: "spec-disabled" };
  const live = parseMode(input.liveLabel);
  if (live !== undefined) return { mode: live, source: "live-label" };
  const lastSeen = parseMode(input.lastSeenLabel);
  if (lastSeen !== undefined) return { mode: lastSeen, source: "last-seen-label" };
  if (input.specMode !== undefined) return { mode: input.specMode, source: "spec" };
  const bundled = parseMode(input.bundleLabel);
  if (bundled !== undefined) return { mode: bundled, source: "bundle-label" };
  return { mode: defaultMode(input.kind), source: "default" };
}
