// kubeadm's CoreDNS objects, rendered from the cluster's parameters: one definition for bootstrap's bundle,
// the sim provider and the operator's capture mode.
import { parse } from "yaml";

import type { BundleObject } from "./bundle.ts";

/** The CoreDNS version kubeadm 1.36 deploys (kubeadm's constants.CoreDNSVersion). */
export const COREDNS_VERSION = "v1.14.2";
/** kubeadm's default image repository; CoreDNS lives one level deeper there (`.../coredns/coredns`). */
export const DEFAULT_IMAGE_REPOSITORY = "registry.k8s.io";
export const COREDNS_IMAGE = `${DEFAULT_IMAGE_REPOSITORY}/coredns/coredns:${COREDNS_VERSION}`;
/** kubeadm's replica count for a new cluster. */
export const COREDNS_REPLICAS = 2;
export const COREDNS_NAMESPACE = "kube-system";

/** What kubeadm's CoreDNS objects depend on. */
export interface CoreDnsParameters {
  /** The service subnet (kubeadm's networking.serviceSubnet); dual-stack lists use the first CIDR. */
  readonly serviceSubnet: string;
  /** networking.dnsDomain, `cluster.local` by default. */
  readonly dnsDomain: string;
  /** The full image reference; COREDNS_IMAGE by default. */
  readonly image?: string;
  readonly replicas?: number;
}

/**
 * The six objects `kubeadm init` creates for CoreDNS (cmd/kubeadm/app/phases/addons/dns/manifests.go),
 * in the order kubeadm prints them: Deployment, ConfigMap (the Corefile), Service kube-dns at the 10th
 * address of the service subnet, ClusterRole and ClusterRoleBinding system:coredns, ServiceAccount.
 * Values are kubeadm's exactly, so a bundle made from them matches what a kubeadm cluster runs.
 */
export function renderCoreDns(parameters: CoreDnsParameters): BundleObject[] {
  const dnsDomain = parameters.dnsDomain;
  const labels = { "k8s-app": "kube-dns" };
  const deployment: BundleObject = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "coredns", namespace: COREDNS_NAMESPACE, labels },
    spec: {
      replicas: parameters.replicas ?? COREDNS_REPLICAS,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          priorityClassName: "system-cluster-critical",
          serviceAccountName: "coredns",
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    labelSelector: {
                      matchExpressions: [{ key: "k8s-app", operator: "In", values: ["kube-dns"] }],
                    },
                    topologyKey: "kubernetes.io/hostname",
                  },
                },
              ],
            },
          },
          tolerations: [
            { key: "CriticalAddonsOnly", operator: "Exists" },
            { key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" },
          ],
          nodeSelector: { "kubernetes.io/os": "linux" },
          containers: [
            {
              name: "coredns",
              image: parameters.image ?? COREDNS_IMAGE,
              imagePullPolicy: "IfNotPresent",
              resources: { limits: { memory: "170Mi" }, requests: { cpu: "100m", memory: "70Mi" } },
              args: ["-conf", "/etc/coredns/Corefile"],
              volumeMounts: [{ name: "config-volume", mountPath: "/etc/coredns", readOnly: true }],
              ports: [
                { containerPort: 53, name: "dns", protocol: "UDP" },
                { containerPort: 53, name: "dns-tcp", protocol: "TCP" },
                { containerPort: 9153, name: "metrics", protocol: "TCP" },
                { containerPort: 8080, name: "liveness-probe", protocol: "TCP" },
                { containerPort: 8181, name: "readiness-probe", protocol: "TCP" },
              ],
              livenessProbe: {
                httpGet: { path: "/health", port: "liveness-probe", scheme: "HTTP" },
                initialDelaySeconds: 60,
                timeoutSeconds: 5,
                successThreshold: 1,
                failureThreshold: 5,
              },
              readinessProbe: { httpGet: { path: "/ready", port: "readiness-probe", scheme: "HTTP" } },
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] },
                readOnlyRootFilesystem: true,
              },
            },
          ],
          dnsPolicy: "Default",
          volumes: [
            {
              name: "config-volume",
              configMap: { name: "coredns", items: [{ key: "Corefile", path: "Corefile" }] },
            },
          ],
        },
      },
    },
  };
  const configMap: BundleObject = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "coredns", namespace: COREDNS_NAMESPACE },
    data: { Corefile: kubeadmCorefile(dnsDomain) },
  };
  const service: BundleObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "kube-dns",
      namespace: COREDNS_NAMESPACE,
      labels: { ...labels, "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS" },
      annotations: { "prometheus.io/port": "9153", "prometheus.io/scrape": "true" },
    },
    spec: {
      clusterIP: dnsServiceIp(parameters.serviceSubnet),
      ports: [
        { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
        { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
        { name: "metrics", port: 9153, protocol: "TCP", targetPort: 9153 },
      ],
      selector: labels,
    },
  };
  const clusterRole: BundleObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "system:coredns" },
    rules: [
      {
        apiGroups: [""],
        resources: ["endpoints", "services", "pods", "namespaces"],
        verbs: ["list", "watch"],
      },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
    ],
  };
  const clusterRoleBinding: BundleObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "system:coredns" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:coredns" },
    subjects: [{ kind: "ServiceAccount", name: "coredns", namespace: COREDNS_NAMESPACE }],
  };
  const serviceAccount: BundleObject = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: "coredns", namespace: COREDNS_NAMESPACE },
  };
  return [deployment, configMap, service, clusterRole, clusterRoleBinding, serviceAccount];
}

/** kubeadm's Corefile for `dnsDomain`, byte for byte. */
export function kubeadmCorefile(dnsDomain: string): string {
  const cache =
    dnsDomain === ""
      ? "    cache 30\n"
      : `    cache 30 {\n       disable success ${dnsDomain}\n       disable denial ${dnsDomain}\n    }\n`;
  return (
    ".:53 {\n" +
    "    errors\n" +
    "    health {\n" +
    "       lameduck 5s\n" +
    "    }\n" +
    "    ready\n" +
    `    kubernetes ${dnsDomain} in-addr.arpa ip6.arpa {\n` +
    "       pods insecure\n" +
    "       fallthrough in-addr.arpa ip6.arpa\n" +
    "       ttl 30\n" +
    "    }\n" +
    "    prometheus :9153\n" +
    "    forward . /etc/resolv.conf {\n" +
    "       max_concurrent 1000\n" +
    "    }\n" +
    cache +
    "    loop\n" +
    "    reload\n" +
    "    loadbalance\n" +
    "}\n"
  );
}

/**
 * kube-dns's clusterIP: the 10th address of the (first) service subnet, as kubeadm's GetDNSIP. IPv4 and
 * IPv6. Throws on a subnet too small to hold it.
 */
export function dnsServiceIp(serviceSubnet: string): string {
  const first = serviceSubnet.split(",")[0]!.trim();
  const match = /^([^/]+)\/(\d{1,3})$/.exec(first);
  if (match === null) throw new Error(`service subnet "${first}" is not a CIDR`);
  const [, address, prefixText] = match as unknown as [string, string, string];
  const prefix = Number(prefixText);
  const v6 = address.includes(":");
  const bits = v6 ? 128 : 32;
  if (prefix > bits || 1n << BigInt(bits - prefix) <= 10n) {
    throw new Error(`service subnet ${first} has no 10th address`);
  }
  const value = v6 ? parseIpv6(address) : parseIpv4(address);
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  const dns = (value & mask) + 10n;
  return v6 ? formatIpv6(dns) : formatIpv4(dns);
}

/** The CoreDNS parameters a kubeadm cluster recorded in the `kubeadm-config` ConfigMap (kube-system). */
export interface KubeadmDnsConfig extends CoreDnsParameters {
  readonly image: string;
}

/**
 * Reads CoreDNS's parameters from `kubeadm-config`'s `ClusterConfiguration` (YAML): the service subnet,
 * DNS domain and the image kubeadm derives from imageRepository and dns.imageRepository/imageTag (with
 * kubeadm's rule that the default registry keeps CoreDNS under `coredns/`). Throws when the document is
 * not a ClusterConfiguration.
 */
export function coreDnsParametersFromKubeadmConfig(clusterConfiguration: string): KubeadmDnsConfig {
  const document = parse(clusterConfiguration) as {
    kind?: string;
    imageRepository?: string;
    dns?: { imageRepository?: string; imageTag?: string };
    networking?: { serviceSubnet?: string; dnsDomain?: string };
  } | null;
  if (document === null || typeof document !== "object" || document.kind !== "ClusterConfiguration") {
    throw new Error("kubeadm-config's ClusterConfiguration is not a kubeadm ClusterConfiguration document");
  }
  let repository = document.dns?.imageRepository || document.imageRepository || DEFAULT_IMAGE_REPOSITORY;
  if (repository === DEFAULT_IMAGE_REPOSITORY) repository = `${repository}/coredns`;
  const tag = document.dns?.imageTag || COREDNS_VERSION;
  return {
    serviceSubnet: document.networking?.serviceSubnet || "10.96.0.0/12",
    dnsDomain: document.networking?.dnsDomain || "cluster.local",
    image: `${repository}/coredns:${tag}`,
  };
}

function parseIpv4(address: string): bigint {
  const octets = address.split(".").map(Number);
  if (octets.length !== 4 || octets.some((octet) => !Number.isInteger(octet) || octet < 0 || octet > 255)) {
    throw new Error(`"${address}" is not an IPv4 address`);
  }
  return octets.reduce((value, octet) => (value << 8n) + BigInt(octet), 0n);
}

function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join(".");
}

function parseIpv6(address: string): bigint {
  const halves = address.split("::");
  if (halves.length > 2) throw new Error(`"${address}" is not an IPv6 address`);
  const groups = (text: string | undefined) => (text === undefined || text === "" ? [] : text.split(":"));
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0))
    throw new Error(`"${address}" is not an IPv6 address`);
  const all = [...head, ...Array.from({ length: missing }, () => "0"), ...tail];
  return all.reduce((value, group) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) throw new Error(`"${address}" is not an IPv6 address`);
    return (value << 16n) + BigInt(parseInt(group, 16));
  }, 0n);
}

function formatIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, index) =>
    ((value >> BigInt(16 * (7 - index))) & 0xffffn).toString(16),
  );
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8;) {
    if (groups[start] !== "0") {
      start++;
      continue;
    }
    let end = start;
    while (end < 8 && groups[end] === "0") end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  if (bestStart === -1) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLength).join(":")}`;
}
