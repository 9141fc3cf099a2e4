// Which objects each addon's bundle may hold: the objects Calico's manifest, bootstrap's kube-router and
// kubeadm's CoreDNS define.
//
// A bundle is written by whoever can write ConfigMaps in kubelab-system, and the operator applies it with its
// own rights. So a decoded bundle may hold only the objects of its addon's catalog (kind, namespace, name),
// never a ClusterRoleBinding to cluster-admin or a DaemonSet of someone's choosing: anything else refuses the
// whole bundle. The catalog is also what capture mode looks for on a cluster bootstrap did not make.
import type { AddonName, BundleObject } from "./bundle.ts";
import { KUBE_ROUTER_NAMESPACE, KubeRouterNames } from "./kube-router.ts";

/** One object an addon may have: API group, kind, REST plural, namespace (none: cluster-scoped), name. */
export interface CatalogEntry {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespace?: string;
  readonly name: string;
}

export type AddonCatalog = readonly CatalogEntry[];

const KUBE_SYSTEM = "kube-system";
const CALICO_CRD_GROUP = "crd.projectcalico.org";
const POLICY_CRD_GROUP = "policy.networking.k8s.io";

const namespaced =
  (group: string, version: string, kind: string, plural: string) =>
  (name: string, namespace: string = KUBE_SYSTEM): CatalogEntry => ({
    group,
    version,
    kind,
    plural,
    namespace,
    name,
  });
const clusterScoped =
  (group: string, version: string, kind: string, plural: string) =>
  (name: string): CatalogEntry => ({ group, version, kind, plural, name });

const serviceAccount = namespaced("", "v1", "ServiceAccount", "serviceaccounts");
const configMap = namespaced("", "v1", "ConfigMap", "configmaps");
const service = namespaced("", "v1", "Service", "services");
const daemonSet = namespaced("apps", "v1", "DaemonSet", "daemonsets");
const deployment = namespaced("apps", "v1", "Deployment", "deployments");
const podDisruptionBudget = namespaced("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets");
const clusterRole = clusterScoped("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles");
const clusterRoleBinding = clusterScoped(
  "rbac.authorization.k8s.io",
  "v1",
  "ClusterRoleBinding",
  "clusterrolebindings",
);
const crd = clusterScoped(
  "apiextensions.k8s.io",
  "v1",
  "CustomResourceDefinition",
  "customresourcedefinitions",
);

/** The CRDs Calico v3.31's manifest installs, as `<plural>.<group>`. */
export const CALICO_CRD_NAMES: readonly string[] = [
  ...[
    "bgpconfigurations",
    "bgpfilters",
    "bgppeers",
    "blockaffinities",
    "caliconodestatuses",
    "clusterinformations",
    "felixconfigurations",
    "globalnetworkpolicies",
    "globalnetworksets",
    "hostendpoints",
    "ipamblocks",
    "ipamconfigs",
    "ipamhandles",
    "ippools",
    "ipreservations",
    "kubecontrollersconfigurations",
    "networkpolicies",
    "networksets",
    "stagedglobalnetworkpolicies",
    "stagedkubernetesnetworkpolicies",
    "stagednetworkpolicies",
    "tiers",
  ].map((plural) => `${plural}.${CALICO_CRD_GROUP}`),
  ...["adminnetworkpolicies", "baselineadminnetworkpolicies"].map(
    (plural) => `${plural}.${POLICY_CRD_GROUP}`,
  ),
];

/** The ClusterRoles (each with its ClusterRoleBinding of the same name) Calico's manifest defines. */
export const CALICO_ROLE_NAMES = [
  "calico-kube-controllers",
  "calico-node",
  "calico-cni-plugin",
  "calico-tier-getter",
] as const;

/** kubeadm's CoreDNS ClusterRole (and its binding). */
export const COREDNS_ROLE_NAME = "system:coredns";

/**
 * Calico v3.31's calico.yaml (what bootstrap applies), kube-router's objects (bootstrap/kube/kube-router.ts,
 * by the names both take from kube-router.ts) and kubeadm's CoreDNS objects
 * (cmd/kubeadm/app/phases/addons/dns). A Calico version that adds an object needs it added here, or its
 * bundle is refused (BundleRefused) and says which object.
 */
export const ADDON_CATALOGS: Readonly<Record<AddonName, AddonCatalog>> = {
  calico: [
    podDisruptionBudget("calico-kube-controllers"),
    serviceAccount("calico-kube-controllers"),
    serviceAccount("calico-node"),
    serviceAccount("calico-cni-plugin"),
    configMap("calico-config"),
    ...CALICO_CRD_NAMES.map(crd),
    ...CALICO_ROLE_NAMES.flatMap((name) => [clusterRole(name), clusterRoleBinding(name)]),
    daemonSet("calico-node"),
    deployment("calico-kube-controllers"),
  ],
  "kube-router": [
    serviceAccount(KubeRouterNames.serviceAccount, KUBE_ROUTER_NAMESPACE),
    clusterRole(KubeRouterNames.clusterRole),
    clusterRoleBinding(KubeRouterNames.clusterRoleBinding),
    configMap(KubeRouterNames.configMap, KUBE_ROUTER_NAMESPACE),
    daemonSet(KubeRouterNames.daemonSet, KUBE_ROUTER_NAMESPACE),
  ],
  coredns: [
    deployment("coredns"),
    configMap("coredns"),
    service("kube-dns"),
    clusterRole(COREDNS_ROLE_NAME),
    clusterRoleBinding(COREDNS_ROLE_NAME),
    serviceAccount("coredns"),
  ],
};

/** The API group of an apiVersion (`apps/v1` -> `apps`, `v1` -> ""). */
function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash === -1 ? "" : apiVersion.slice(0, slash);
}

/** Whether `object` is `entry` (group, kind, name; the namespace too for a namespaced entry). */
export function isCatalogObject(
  entry: CatalogEntry,
  object: Pick<BundleObject, "apiVersion" | "kind" | "metadata">,
): boolean {
  return (
    entry.group === groupOf(object.apiVersion) &&
    entry.kind === object.kind &&
    entry.name === object.metadata.name &&
    // A cluster-scoped object has no namespace, whatever a manifest wrote (the API server ignores it); a
    // namespaced one without a namespace lands in default, as kubectl applies it.
    (entry.namespace === undefined || entry.namespace === (object.metadata.namespace ?? "default"))
  );
}

/**
 * The objects of a bundle that its catalog does not hold, as `Kind namespace/name` (or `Kind name`), in
 * bundle order; empty when the bundle may be applied.
 */
export function objectsOutsideCatalog(objects: readonly BundleObject[], catalog: AddonCatalog): string[] {
  return objects
    .filter((object) => !catalog.some((entry) => isCatalogObject(entry, object)))
    .map((object) => {
      const where = object.metadata.namespace === undefined ? "" : `${object.metadata.namespace}/`;
      return `${object.kind} ${where}${object.metadata.name} (${object.apiVersion})`;
    });
}
