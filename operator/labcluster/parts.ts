// The LabCluster reconciler's parts, in the order they run. A new part is one file and one line here.
import { addonParts } from "./addons/part.ts";
import { backupsPart } from "./backups.ts";
import { nodesPart } from "./nodes/part.ts";
import type { LabClusterPart } from "./part.ts";

/**
 * Every part, made fresh for one operator (the addon parts share an engine that belongs to it). Each part
 * reports its own condition(s); Ready summarises them. Order: cheapest and most basic first.
 */
export function labClusterParts(): LabClusterPart[] {
  return [nodesPart, ...addonParts(), backupsPart()];
}
