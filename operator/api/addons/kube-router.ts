// kube-router's object names: one definition for bootstrap's renderer (bootstrap/kube/kube-router.ts) and the
// operator's catalog, so that what bootstrap applies is exactly what the operator may restore.

/** Where every kube-router object lives. */
export const KUBE_ROUTER_NAMESPACE = "kube-system";

/**
 * The names of the objects bootstrap applies for kube-router. The ClusterRole, its binding, the ServiceAccount
 * and the DaemonSet share the addon's name; the CNI configuration has its own.
 */
export const KubeRouterNames = {
  serviceAccount: "kube-router",
  clusterRole: "kube-router",
  clusterRoleBinding: "kube-router",
  configMap: "kube-router-cfg",
  daemonSet: "kube-router",
} as const;
