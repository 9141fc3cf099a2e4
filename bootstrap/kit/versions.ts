// The pinned versions of everything the offline kit holds, and the wrapper modules that build its binaries.
import { COMPONENT_VERSIONS } from "../controlplane/versions.ts";

/**
 * One table for the whole kit. Kubernetes and etcd are the control plane's (bootstrap/controlplane), so the
 * sim lab, the test harness and the kit's nodes run the same builds. pause, the etcd image tag and CoreDNS
 * are what kubeadm of that Kubernetes version deploys (`kubeadm config images list`; a unit test compares).
 * Every Go version must equal the `require` of its wrapper module in bootstrap/kit/go (a unit test compares).
 */
export const KIT_VERSIONS = {
  kubernetes: COMPONENT_VERSIONS.kubernetes,
  etcd: COMPONENT_VERSIONS.etcd,
  /** kubeadm's DefaultEtcdVersion: the etcd image tag carries a build suffix. */
  etcdImageTag: "3.6.8-0",
  /** The cri-tools release of the Kubernetes minor (what pkgs.k8s.io's v1.36 repository ships). */
  criTools: "v1.36.0",
  /** The CNI plugins release k8s.io/kubernetes v1.36 names in build/dependencies.yaml. */
  cniPlugins: "v1.9.1",
  coredns: "v1.14.2",
  pause: "3.10.2",
  /**
   * The CI lab's CNI. The Go module proxy serves no other v2 release (v2.1.3 and v2.5.0 were refused on
   * 2026-12-02), although security flaws are reported for v2.1.0: take a newer one as soon as it is served.
   */
  kubeRouter: "v2.1.0",
  /** The Debian release of the kit's rootfs (node image, image bases, the kit server). */
  debian: "bookworm",
} as const;

export type KitVersions = typeof KIT_VERSIONS;

/** The Debian revision pkgs.k8s.io gives its packages (`kubeadm_1.36.5-1.1_amd64.deb`). */
export const DEB_REVISION = "1.1";

/** The registry kubeadm pulls the control plane, kube-proxy, CoreDNS and pause from. */
export const KUBERNETES_REGISTRY = "registry.k8s.io";

/**
 * The images kubeadm of `versions.kubernetes` deploys, in `kubeadm config images list` order. The node
 * image and the kit's registry mirror must hold exactly these (containerd pins the same pause image).
 */
export function kubeadmImages(versions: KitVersions = KIT_VERSIONS): string[] {
  const components = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"];
  return [
    ...components.map((name) => `${KUBERNETES_REGISTRY}/${name}:${versions.kubernetes}`),
    `${KUBERNETES_REGISTRY}/coredns/coredns:${versions.coredns}`,
    `${KUBERNETES_REGISTRY}/pause:${versions.pause}`,
    `${KUBERNETES_REGISTRY}/etcd:${versions.etcdImageTag}`,
  ];
}

/** A version without its leading `v`, as Debian versions and most `--version` outputs write it. */
export function bareVersion(version: string): string {
  return version.replace(/^v/, "");
}

/** Wrapper modules under bootstrap/kit/go: the upstream Go module each builds, and its pinned version. */
export const KIT_MODULES = {
  "kubernetes-node": { goModule: "k8s.io/kubernetes", version: KIT_VERSIONS.kubernetes },
  "cri-tools": { goModule: "sigs.k8s.io/cri-tools", version: KIT_VERSIONS.criTools },
  "cni-plugins": { goModule: "github.com/containernetworking/plugins", version: KIT_VERSIONS.cniPlugins },
  coredns: { goModule: "github.com/coredns/coredns", version: KIT_VERSIONS.coredns },
  "kube-router": { goModule: "github.com/cloudnativelabs/kube-router/v2", version: KIT_VERSIONS.kubeRouter },
} as const;

export type KitModule = keyof typeof KIT_MODULES;

/**
 * Debian's name for a Go architecture (`dpkg --print-architecture`): the debs and the apt repository use it,
 * GOARCH builds the binaries. Throws for an architecture Debian has no port of.
 */
export function debianArchitecture(goArch: string): string {
  const names: Record<string, string> = {
    amd64: "amd64",
    arm64: "arm64",
    ppc64le: "ppc64el",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  const name = names[goArch];
  if (name === undefined) throw new RangeError(`no Debian architecture for GOARCH=${goArch}`);
  return name;
}
