// The LabCluster reconciler's parts, in the order they run. A new part is one file and one line here.
import { backupsPart } from "./backups.ts";
import { calicoPart } from "./calico.ts";
import { corednsPart } from "./coredns.ts";
import { nodesPart } from "./nodes.ts";
import type { LabClusterPart } from "./part.ts";

/** Each part reports its own condition(s); Ready summarises them. Order: cheapest and most basic first. */
export const labClusterParts: readonly LabClusterPart[] = [nodesPart, calicoPart, corednsPart, backupsPart()];
