// kubeadm.k8s.io/v1beta4 configuration documents for `kubeadm init --config` and `kubeadm join --config`.
import { stringify } from "yaml";

import { kubernetesPatch, type Lab, type LabNode } from "../lab/config.ts";

export const KUBEADM_API_VERSION = "kubeadm.k8s.io/v1beta4";
export const API_SERVER_PORT = 6443;
/** containerd's CRI socket on Ubuntu; named so kubeadm never has to guess between runtimes. */
export const CRI_SOCKET = "unix:///run/containerd/containerd.sock";
/** Lifetime of a bootstrap token: long enough to join every worker, short enough to be worthless later. */
export const BOOTSTRAP_TOKEN_TTL = "2h0m0s";
export const BOOTSTRAP_TOKEN_TTL_MS = 2 * 60 * 60 * 1000;
/**
 * Stands for the installed kubeadm's own version when lab.yaml pins only a minor (`1.36`): the init
 * script substitutes `kubeadm version -o short`, so the control plane matches the packages apt chose
 * instead of whatever `stable-1` resolves to on the internet.
 */
export const INSTALLED_KUBEADM_VERSION = "@INSTALLED_KUBEADM_VERSION@";

/**
 * kubeadm's patches directory on a node (init and join read it): the node scripts put per-node patches
 * there from what they detect on the node, such as the kubelet's cgroup v1 opt-in. Empty on a VM of the
 * lab's boxes, which needs none.
 */
export const KUBEADM_PATCHES_DIR = "/etc/kubernetes/kubelab/patches";

/** `https://IP:6443`: the API server as the host and the workers reach it (host-only network). */
export function apiServerUrl(lab: Lab): string {
  return `https://${lab.controlPlane.ip}:${API_SERVER_PORT}`;
}

function kubeletNodeIp(node: LabNode): { name: string; value: string }[] {
  // v1beta4 made extra args a list of name/value pairs. Pinning node-ip keeps the kubelet off the NAT
  // interface VirtualBox gives every VM (10.0.2.15 on all of them), which would make nodes unreachable.
  return [{ name: "node-ip", value: node.ip }];
}

/**
 * InitConfiguration + ClusterConfiguration + KubeletConfiguration for the control plane, as one
 * multi-document YAML. `token` is the lab's random bootstrap token (it is a secret: the caller writes
 * the result with mode 0600).
 */
export function renderInitConfiguration(lab: Lab, token: string): string {
  const node = lab.controlPlane;
  const init = {
    apiVersion: KUBEADM_API_VERSION,
    kind: "InitConfiguration",
    bootstrapTokens: [
      {
        token,
        description: `kubelab join token for lab ${lab.name}`,
        ttl: BOOTSTRAP_TOKEN_TTL,
        usages: ["signing", "authentication"],
        groups: ["system:bootstrappers:kubeadm:default-node-token"],
      },
    ],
    localAPIEndpoint: { advertiseAddress: node.ip, bindPort: API_SERVER_PORT },
    nodeRegistration: {
      name: node.name,
      criSocket: CRI_SOCKET,
      kubeletExtraArgs: kubeletNodeIp(node),
    },
    patches: { directory: KUBEADM_PATCHES_DIR },
  };
  const cluster = {
    apiVersion: KUBEADM_API_VERSION,
    kind: "ClusterConfiguration",
    clusterName: lab.name,
    kubernetesVersion: kubeadmKubernetesVersion(lab),
    controlPlaneEndpoint: `${node.ip}:${API_SERVER_PORT}`,
    networking: {
      podSubnet: lab.network.podCidr,
      serviceSubnet: lab.network.serviceCidr,
      dnsDomain: lab.network.dnsDomain,
    },
    apiServer: { certSANs: [node.name, node.ip] },
  };
  const kubelet = {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    cgroupDriver: "systemd",
  };
  return [init, cluster, kubelet].map((document) => stringify(document)).join("---\n");
}

/**
 * JoinConfiguration for a worker: discovery through the bootstrap token, with the CA pinned by
 * `caCertHashes` (never `unsafeSkipCAVerification`).
 */
export function renderJoinConfiguration(lab: Lab, node: LabNode, token: string, caCertHash: string): string {
  return stringify({
    apiVersion: KUBEADM_API_VERSION,
    kind: "JoinConfiguration",
    discovery: {
      bootstrapToken: {
        apiServerEndpoint: `${lab.controlPlane.ip}:${API_SERVER_PORT}`,
        token,
        caCertHashes: [caCertHash],
      },
    },
    nodeRegistration: {
      name: node.name,
      criSocket: CRI_SOCKET,
      kubeletExtraArgs: kubeletNodeIp(node),
    },
    patches: { directory: KUBEADM_PATCHES_DIR },
  });
}

/** `v1.36.5` when lab.yaml pins a patch; otherwise the placeholder the init script fills in. */
export function kubeadmKubernetesVersion(lab: Lab): string {
  const patch = kubernetesPatch(lab.kubernetes.version);
  return patch === undefined ? INSTALLED_KUBEADM_VERSION : `v${patch}`;
}
