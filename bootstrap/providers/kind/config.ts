// The kind cluster config for a lab: node containers named and sized from lab.yaml, kubeadm patched by us.
import { stringify } from "yaml";

import {
  DEFAULT_KUBERNETES_VERSION,
  kubernetesMinor,
  kubernetesPatch,
  TESTED_KUBERNETES_PATCH,
} from "../../lab/config.ts";
import type { Lab, LabNode } from "../../lab/config.ts";
import { UsageError } from "../../errors.ts";
import { BOOTSTRAP_TOKEN_TTL } from "../../provision/kubeadm.ts";
import { BACKUPS_DIR_NAME } from "../../lab/workdir.ts";
import { NODE_BACKUPS_DIR } from "../provider.ts";

/** The kind release this provider is written and documented for (`go install sigs.k8s.io/kind@v0.33.0`). */
export const TESTED_KIND_VERSION = "v0.33.0";

/** Where the node image comes from when KUBELAB_KIND_NODE_IMAGE does not say. */
export const KIND_NODE_IMAGE_REPOSITORY = "kindest/node";

/** The lab CA, made by bootstrap before the cluster and mounted into the control-plane container. */
export const KIND_CA_FILES = { cert: "pki/ca.crt", key: "pki/ca.key" } as const;

/** kubeadm's CA location inside a node: kubeadm init uses a CA it finds there instead of making one. */
const NODE_PKI = "/etc/kubernetes/pki";

/**
 * What makes the workers' join secure: a random bootstrap token (kind's own is the fixed
 * abcdef.0123456789abcdef) and the pin of the CA that bootstrap made (kind's own join skips CA
 * verification). Secret: the config that holds it is written 0600.
 */
export interface KindSecureJoin {
  readonly token: string;
  readonly caCertHash: string;
}

/**
 * The node image for the lab's Kubernetes version: `kindest/node:v<patch>`. kind images are tagged by
 * patch release, so a lab that names only a minor gets the tested patch of the default minor; another
 * minor needs a full version (UsageError naming kubernetes.version). `override` (KUBELAB_KIND_NODE_IMAGE)
 * wins, for images pinned by digest or built with `kind build node-image`.
 */
export function kindNodeImage(lab: Lab, override?: string): string {
  if (override !== undefined && override.trim() !== "") return override.trim();
  const patch =
    kubernetesPatch(lab.kubernetes.version) ??
    (kubernetesMinor(lab.kubernetes.version) === DEFAULT_KUBERNETES_VERSION
      ? TESTED_KUBERNETES_PATCH
      : undefined);
  if (patch === undefined) {
    throw new UsageError(
      `kubernetes.version ${lab.kubernetes.version}: kind node images are tagged by patch release, so the kind provider needs a full version`,
      {
        hint: `set kubernetes.version to a patch such as ${kubernetesMinor(lab.kubernetes.version)}.0, or name the image with KUBELAB_KIND_NODE_IMAGE=kindest/node:vX.Y.Z`,
      },
    );
  }
  return `${KIND_NODE_IMAGE_REPOSITORY}:v${patch}`;
}

/**
 * The container kind makes for `node`: `<lab>-control-plane` for the control plane, then `<lab>-worker`,
 * `<lab>-worker2`, ... for the workers in lab order (kind names node containers by role and position;
 * the Kubernetes node names are the lab's, set through kubeadm).
 */
export function kindContainerName(lab: Lab, node: LabNode): string {
  if (node.role === "control-plane") return `${lab.name}-control-plane`;
  const index = lab.workers.findIndex((worker) => worker.name === node.name);
  if (index < 0) throw new Error(`kindContainerName: ${node.name} is not a worker of lab ${lab.name}`);
  return `${lab.name}-worker${index === 0 ? "" : String(index + 1)}`;
}

/**
 * kind's Cluster config (kind.x-k8s.io/v1alpha4) for the lab, as YAML:
 * - one node container per lab node, control plane first, each registered in Kubernetes under the lab's
 *   node name (kubeadm `nodeRegistration.name`, which makes kubeadm set the kubelet's hostname override);
 * - the lab's pod and service subnets and DNS domain; kind's own CNI disabled, so Calico is applied by
 *   the plan exactly as on VMs;
 * - the lab CA (`pki/ca.crt`, `pki/ca.key`, paths relative to the work dir, where kind runs) mounted
 *   read-only where kubeadm looks for it, so its public key is known before the cluster exists;
 * - with `join`: a random bootstrap token instead of kind's fixed one, and workers that pin that CA
 *   (`caCertHashes`) instead of skipping CA verification. Without `join` the result is the readable
 *   version of the same file that `--dry-run` shows; the cluster is always made with `join`.
 */
export function renderKindConfig(lab: Lab, options: { nodeImage: string; join?: KindSecureJoin }): string {
  const clusterPatches = [
    patch({ kind: "ClusterConfiguration", networking: { dnsDomain: lab.network.dnsDomain } }),
  ];
  if (options.join !== undefined) {
    clusterPatches.push(
      patch({
        kind: "InitConfiguration",
        bootstrapTokens: [
          {
            token: options.join.token,
            ttl: BOOTSTRAP_TOKEN_TTL,
            usages: ["signing", "authentication"],
            groups: ["system:bootstrappers:kubeadm:default-node-token"],
            description: `kubelab join token for lab ${lab.name}`,
          },
        ],
      }),
      patch({
        kind: "JoinConfiguration",
        discovery: {
          bootstrapToken: {
            token: options.join.token,
            caCertHashes: [options.join.caCertHash],
            unsafeSkipCAVerification: false,
          },
        },
      }),
    );
  }
  const config = {
    kind: "Cluster",
    apiVersion: "kind.x-k8s.io/v1alpha4",
    name: lab.name,
    networking: {
      podSubnet: lab.network.podCidr,
      serviceSubnet: lab.network.serviceCidr,
      disableDefaultCNI: true,
    },
    kubeadmConfigPatches: clusterPatches,
    nodes: lab.nodes.map((node) => ({
      role: node.role,
      image: options.nodeImage,
      labels: { "kubelab.dev/node": node.name },
      ...(node.role === "control-plane"
        ? {
            extraMounts: [
              { hostPath: KIND_CA_FILES.cert, containerPath: `${NODE_PKI}/ca.crt`, readOnly: true },
              { hostPath: KIND_CA_FILES.key, containerPath: `${NODE_PKI}/ca.key`, readOnly: true },
              // The backup Jobs' directory is .kubelab/backups/: snapshots outlive `down`, as on vagrant.
              { hostPath: BACKUPS_DIR_NAME, containerPath: NODE_BACKUPS_DIR },
            ],
          }
        : {}),
      kubeadmConfigPatches: [
        patch({
          kind: node.role === "control-plane" ? "InitConfiguration" : "JoinConfiguration",
          nodeRegistration: { name: node.name },
        }),
      ],
    })),
  };
  const containers = lab.nodes.map((node) => `${node.name}=${kindContainerName(lab, node)}`).join(", ");
  const header = [
    `# kind cluster of lab ${lab.name}, rendered by bootstrap from lab.yaml. Node containers: ${containers}.`,
    `# Sized after creation with \`docker update --cpus --memory\` from lab.yaml; node IPs come from kind's network.`,
    options.join === undefined
      ? "# The cluster is made from kind/cluster.yaml (0600): this file plus a random bootstrap token and the CA pin."
      : "# Secret: holds the lab's bootstrap token.",
  ];
  return `${header.join("\n")}\n${stringify(config, { lineWidth: 0 })}`;
}

/**
 * One kubeadm config patch, as kind wants it: a YAML document in a string, applied as a JSON merge patch
 * to the kubeadm document of the same `kind`. Without an apiVersion it matches whichever kubeadm API
 * version kind renders for the node image.
 */
function patch(document: Record<string, unknown>): string {
  return stringify(document, { lineWidth: 0 });
}
