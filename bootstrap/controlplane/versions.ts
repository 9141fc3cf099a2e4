// The pinned component versions and the table of binaries: where each one is built from and downloaded from.
import { TESTED_KUBERNETES_PATCH } from "../lab/config.ts";

/**
 * Component versions of one binary set. They must match the wrapper modules in
 * bootstrap/controlplane/go (a unit test compares them), because the build uses those modules and the
 * download uses these numbers: both paths must produce the same set.
 */
export const COMPONENT_VERSIONS = {
  kubernetes: `v${TESTED_KUBERNETES_PATCH}`,
  /** kubeadm's DefaultEtcdVersion for the Kubernetes minor above. */
  etcd: "v3.6.8",
  kwok: "v0.8.0",
} as const;

export type ComponentVersions = { readonly [K in keyof typeof COMPONENT_VERSIONS]: string };

/** The Go wrapper module (a directory under bootstrap/controlplane/go) that builds a binary. */
export type WrapperModule = "kubernetes" | "etcd" | "kwok";

export interface BinaryInfo {
  readonly module: WrapperModule;
  /** Go package path (a `tool` of the wrapper module). */
  readonly goPackage: string;
  /** Name `go build -o dir` gives the binary, when it differs from ours (etcd's server is `server`). */
  readonly goOutputName?: string;
}

/** Every binary a binary set holds, keyed by the file name it has in the set's directory. */
export const BINARIES = {
  "kube-apiserver": { module: "kubernetes", goPackage: "k8s.io/kubernetes/cmd/kube-apiserver" },
  "kube-controller-manager": {
    module: "kubernetes",
    goPackage: "k8s.io/kubernetes/cmd/kube-controller-manager",
  },
  "kube-scheduler": { module: "kubernetes", goPackage: "k8s.io/kubernetes/cmd/kube-scheduler" },
  kubeadm: { module: "kubernetes", goPackage: "k8s.io/kubernetes/cmd/kubeadm" },
  kubectl: { module: "kubernetes", goPackage: "k8s.io/kubernetes/cmd/kubectl" },
  etcd: { module: "etcd", goPackage: "go.etcd.io/etcd/server/v3", goOutputName: "server" },
  etcdctl: { module: "etcd", goPackage: "go.etcd.io/etcd/etcdctl/v3" },
  etcdutl: { module: "etcd", goPackage: "go.etcd.io/etcd/etcdutl/v3" },
  kwok: { module: "kwok", goPackage: "sigs.k8s.io/kwok/cmd/kwok" },
} as const satisfies Record<string, BinaryInfo>;

export type BinaryName = keyof typeof BINARIES;
export const BINARY_NAMES = Object.keys(BINARIES) as BinaryName[];

/** The binaries of one wrapper module, in table order. */
export function binariesOfModule(module: WrapperModule): BinaryName[] {
  return BINARY_NAMES.filter((name) => BINARIES[name].module === module);
}

/**
 * Linker flags that stamp the version into a binary built from source. Without them Kubernetes binaries
 * report v0.0.0 and kubeadm's and kubectl's version checks go wrong; kwok reports a dev version.
 * `-s -w` drops the symbol tables as release builds do (smaller files, faster links).
 */
export function versionLdflags(
  module: WrapperModule,
  versions: ComponentVersions = COMPONENT_VERSIONS,
): string {
  const flags = ["-s", "-w"];
  if (module === "kubernetes") {
    const match = /^v(\d+)\.(\d+)\./.exec(versions.kubernetes);
    if (match === null) throw new RangeError(`not a Kubernetes version: ${versions.kubernetes}`);
    const stamp = {
      gitVersion: versions.kubernetes,
      gitMajor: match[1],
      gitMinor: match[2],
      gitTreeState: "clean",
    };
    for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
      for (const [key, value] of Object.entries(stamp)) flags.push(`-X ${pkg}.${key}=${value}`);
    }
  } else if (module === "kwok") {
    flags.push(`-X sigs.k8s.io/kwok/pkg/consts.Version=${versions.kwok.replace(/^v/, "")}`);
    flags.push(`-X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${versions.kubernetes.replace(/^v/, "")}`);
  }
  return flags.join(" ");
}

/** Go's name for this machine's OS and architecture, which release file names use too. */
export function goPlatform(
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): { os: string; arch: string } {
  const goArch: Record<string, string> = { x64: "amd64", arm64: "arm64", ppc64: "ppc64le", s390x: "s390x" };
  return { os: platform === "win32" ? "windows" : platform, arch: goArch[arch] ?? arch };
}
