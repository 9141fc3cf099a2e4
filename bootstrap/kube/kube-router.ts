// kube-router as the lab's CNI (network.cni: kube-router): pod routing between nodes and network policies, with
// kube-proxy kept for Services. Every piece of it builds from the Go module proxy, so the offline kit carries
// its image; its objects are ours, written from kube-router's documented kubeadm set-up.
import type { KubernetesObject } from "@kubernetes/client-node";
import { stringify } from "yaml";

import { KUBE_ROUTER_NAMESPACE, KubeRouterNames } from "../../operator/api/addons/kube-router.ts";
import { KIT_VERSIONS } from "../kit/versions.ts";
import type { Lab } from "../lab/config.ts";

/** The kube-router release the lab runs: the one the offline kit builds (docker.io's image of that tag otherwise). */
export const KUBE_ROUTER_VERSION = KIT_VERSIONS.kubeRouter;
export const KUBE_ROUTER_IMAGE = `docker.io/cloudnativelabs/kube-router:${KUBE_ROUTER_VERSION}`;

// The names are the operator's catalog's (operator/api/addons/kube-router.ts): what is applied here is what
// the operator may restore from the kube-router bundle.
const NAMESPACE = KUBE_ROUTER_NAMESPACE;
const NAMES = KubeRouterNames;
const LABELS = { "k8s-app": "kube-router", tier: "node" };
/** Where kube-router reads and completes the CNI configuration (it fills in the node's pod CIDR). */
const CNI_CONF = "/etc/cni/net.d/10-kuberouter.conflist";

/**
 * The CNI configuration the init container installs: a bridge (kube-bridge) with host-local IPAM, whose range
 * kube-router fills in from the Node's spec.podCIDR (kubeadm's controller-manager allocates it from the
 * lab's network.podCidr), and portmap for hostPort.
 */
function cniConfiguration(): string {
  return `${JSON.stringify(
    {
      cniVersion: "0.3.0",
      name: "kubelab",
      plugins: [
        {
          name: "kubernetes",
          type: "bridge",
          bridge: "kube-bridge",
          isDefaultGateway: true,
          ipam: { type: "host-local" },
        },
        { type: "portmap", capabilities: { snat: true, portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

/**
 * kube-router's objects for the lab: its ServiceAccount and the read-only RBAC it needs (the cluster's pods,
 * services, endpoints, endpoint slices, nodes, namespaces and network policies), the CNI configuration, and
 * the DaemonSet on every node (control plane included) on the host network: --run-router (pod routes over BGP
 * between the nodes, on the lab network) and --run-firewall (NetworkPolicy), --run-service-proxy=false
 * (kubeadm's kube-proxy serves Services). The image is pulled IfNotPresent: on a kit lab the mirror has it.
 */
export function renderKubeRouter(_lab: Lab): KubernetesObject[] {
  const serviceAccount = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: NAMES.serviceAccount, namespace: NAMESPACE },
  };
  const clusterRole = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: NAMES.clusterRole },
    rules: [
      {
        apiGroups: [""],
        resources: ["namespaces", "pods", "services", "nodes", "endpoints"],
        verbs: ["get", "list", "watch"],
      },
      { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
    ],
  };
  const clusterRoleBinding = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: NAMES.clusterRoleBinding },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: NAMES.clusterRole },
    subjects: [{ kind: "ServiceAccount", name: NAMES.serviceAccount, namespace: NAMESPACE }],
  };
  const configMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: NAMES.configMap, namespace: NAMESPACE, labels: LABELS },
    data: { "cni-conf.json": cniConfiguration() },
  };
  const daemonSet = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: NAMES.daemonSet, namespace: NAMESPACE, labels: LABELS },
    spec: {
      selector: { matchLabels: LABELS },
      template: {
        metadata: { labels: LABELS },
        spec: {
          priorityClassName: "system-node-critical",
          serviceAccountName: NAMES.serviceAccount,
          hostNetwork: true,
          tolerations: [{ operator: "Exists" }],
          initContainers: [
            {
              // The image's own shell installs the CNI configuration before kube-router starts (no second image).
              name: "install-cni",
              image: KUBE_ROUTER_IMAGE,
              imagePullPolicy: "IfNotPresent",
              command: [
                "/bin/sh",
                "-c",
                `set -e; if [ ! -f ${CNI_CONF} ]; then cp /etc/kube-router/cni-conf.json ${CNI_CONF}.tmp && mv ${CNI_CONF}.tmp ${CNI_CONF}; fi`,
              ],
              volumeMounts: [
                { name: "cni-conf-dir", mountPath: "/etc/cni/net.d" },
                { name: "kube-router-cfg", mountPath: "/etc/kube-router" },
              ],
            },
          ],
          containers: [
            {
              name: "kube-router",
              image: KUBE_ROUTER_IMAGE,
              imagePullPolicy: "IfNotPresent",
              args: [
                "--run-router=true",
                "--run-firewall=true",
                "--run-service-proxy=false",
                "--bgp-graceful-restart=true",
              ],
              env: [
                { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                { name: "KUBE_ROUTER_CNI_CONF_FILE", value: CNI_CONF },
              ],
              livenessProbe: {
                httpGet: { path: "/healthz", port: 20244 },
                initialDelaySeconds: 10,
                periodSeconds: 3,
              },
              resources: { requests: { cpu: "100m", memory: "100Mi" } },
              securityContext: { privileged: true },
              volumeMounts: [
                { name: "lib-modules", mountPath: "/lib/modules", readOnly: true },
                { name: "cni-conf-dir", mountPath: "/etc/cni/net.d" },
                { name: "xtables-lock", mountPath: "/run/xtables.lock" },
              ],
            },
          ],
          volumes: [
            // A node container has no /lib/modules (its kernel's modules are built in): created empty there.
            { name: "lib-modules", hostPath: { path: "/lib/modules", type: "DirectoryOrCreate" } },
            { name: "cni-conf-dir", hostPath: { path: "/etc/cni/net.d", type: "DirectoryOrCreate" } },
            { name: "kube-router-cfg", configMap: { name: NAMES.configMap } },
            { name: "xtables-lock", hostPath: { path: "/run/xtables.lock", type: "FileOrCreate" } },
          ],
        },
      },
    },
  };
  return [serviceAccount, clusterRole, clusterRoleBinding, configMap, daemonSet];
}

/** The objects as the YAML recorded in `.kubelab/addons/kube-router.yaml` (what was applied, for reading). */
export function renderKubeRouterManifest(objects: readonly KubernetesObject[]): string {
  return `# kube-router ${KUBE_ROUTER_VERSION} as applied by bootstrap (network.cni: kube-router).\n${objects.map((object) => `---\n${stringify(object)}`).join("")}`;
}
