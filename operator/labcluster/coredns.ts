// CoreDNS restoration as a LabCluster part: kubeadm's coredns Deployment, Corefile, kube-dns Service, RBAC.
import { addonPart } from "./addons/part.ts";

/**
 * Keeps kubeadm's CoreDNS objects in place: the Deployment and RBAC reconciled, the Corefile ConfigMap only
 * re-created when missing (user edits survive), kube-dns re-created at its clusterIP. Reports
 * CoreDNSHealthy. The machinery is shared with Calico (addons/).
 */
export const corednsPart = addonPart("coredns");
