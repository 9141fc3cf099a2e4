// Calico restoration as a LabCluster part: the calico-node DaemonSet, calico-kube-controllers, RBAC, CRDs.
import { addonPart } from "./addons/part.ts";

/**
 * Keeps the objects of Calico's bundle (what bootstrap applied, or what was captured) in place: re-created
 * when deleted, re-applied when they drift (Reconcile), restarted when unavailable too long. Reports
 * CalicoHealthy. The machinery is shared with CoreDNS (addons/).
 */
export const calicoPart = addonPart("calico");
