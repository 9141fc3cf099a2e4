// An addon's condition (CalicoHealthy, CoreDNSHealthy) from the health of its objects (pure).
import type { BundleSource } from "../../api/addons/bundle.ts";
import type { PartCondition } from "../part.ts";
import { isHealthy, type ObjectHealth, type ObjectHealthState } from "./decide.ts";

/** What the engine knows about an addon at one moment. */
export interface AddonSnapshot {
  /** The bundle in use; undefined when there is none (yet). */
  readonly bundle: { readonly source: BundleSource; readonly objects: number } | undefined;
  /**
   * Why there is no bundle (NoBundle, CaptureWaiting) or what is wrong with the one written (BundleInvalid,
   * BundleIncomplete, UnknownKind: the last good bundle stays in use meanwhile).
   */
  readonly problem: { readonly reason: string; readonly message: string } | undefined;
  /** Every bundled object; health undefined until the engine has looked at it. */
  readonly objects: readonly { readonly name: string; readonly health: ObjectHealth | undefined }[];
}

/** The most telling state first: it becomes the condition's reason. */
const SEVERITY: readonly ObjectHealthState[] = [
  "RestoreFailed",
  "RestoreBackoff",
  "RestartBackoff",
  "NamespaceTerminating",
  "NamespaceMissing",
  "Unavailable",
  "Deleting",
  "Missing",
];

/** How many unhealthy objects a condition message names before "and N more". */
const LISTED = 5;

/**
 * The addon's condition:
 *
 * - False when the bundle written was refused (BundleRefused: objects outside the addon's catalog);
 * - Unknown without a bundle (the reason says why: NoBundle, CaptureWaiting, BundleInvalid...), and while
 *   some object has not been looked at yet (Checking);
 * - False when any object is not healthy, with the most severe state as the reason and the objects listed;
 * - True when every object exists and every workload is available (objects Disabled by a label count as
 *   fine: the user took them over).
 */
export function addonCondition(type: string, addonTitle: string, snapshot: AddonSnapshot): PartCondition {
  // A bundle that is not the addon's is an attack or a mistake, never a detail of a healthy addon.
  if (snapshot.problem?.reason === "BundleRefused") {
    return { type, status: "False", reason: snapshot.problem.reason, message: snapshot.problem.message };
  }
  if (snapshot.bundle === undefined) {
    return {
      type,
      status: "Unknown",
      reason: snapshot.problem?.reason ?? "NoBundle",
      message: snapshot.problem?.message ?? `no ${addonTitle} bundle yet`,
    };
  }
  const unhealthy = snapshot.objects.filter(
    (object): object is { name: string; health: ObjectHealth } =>
      object.health !== undefined && !isHealthy(object.health),
  );
  const note =
    snapshot.problem === undefined ? "" : ` (${snapshot.problem.reason}: ${snapshot.problem.message})`;
  if (unhealthy.length > 0) {
    const worst =
      SEVERITY.find((state) => unhealthy.some((object) => object.health.state === state)) ?? "Missing";
    const ordered = [...unhealthy].sort(
      (a, b) => SEVERITY.indexOf(a.health.state) - SEVERITY.indexOf(b.health.state),
    );
    const listed = ordered
      .slice(0, LISTED)
      .map(
        (object) =>
          `${object.name}: ${object.health.state}${object.health.message === "" ? "" : ` (${object.health.message})`}`,
      );
    const more = ordered.length > LISTED ? `; and ${ordered.length - LISTED} more` : "";
    return {
      type,
      status: "False",
      reason: worst,
      message: `${unhealthy.length} of ${snapshot.objects.length} ${addonTitle} objects not healthy: ${listed.join("; ")}${more}${note}`,
    };
  }
  const unchecked = snapshot.objects.filter((object) => object.health === undefined).length;
  if (unchecked > 0) {
    return {
      type,
      status: "Unknown",
      reason: "Checking",
      message: `${unchecked} of ${snapshot.objects.length} ${addonTitle} objects not checked yet${note}`,
    };
  }
  const disabled = snapshot.objects.filter((object) => object.health?.state === "Disabled").length;
  return {
    type,
    status: "True",
    reason: "Healthy",
    message:
      `${snapshot.objects.length - disabled} ${addonTitle} objects present and available` +
      `${disabled === 0 ? "" : `, ${disabled} Disabled by label`} (bundle from ${snapshot.bundle.source})${note}`,
  };
}
