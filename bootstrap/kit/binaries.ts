// The kit's binaries: built from the Go wrapper modules in bootstrap/kit/go, cached per module and platform.
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { MissingToolError } from "../errors.ts";
import { cacheRoot, ensureBinaries, ensureCachedFiles, type BinarySource } from "../controlplane/binaries.ts";
import { findGo, goBuild, WRAPPER_MODULES_DIR } from "../controlplane/build.ts";
import {
  BINARIES as CONTROL_PLANE_BINARIES,
  type BinaryInfo,
  type BinaryName as ControlPlaneBinaryName,
  COMPONENT_VERSIONS,
  goPlatform,
  versionLdflags,
} from "../controlplane/versions.ts";
import { bareVersion, KIT_MODULES, KIT_VERSIONS, type KitModule } from "./versions.ts";

/** Directory of the kit's wrapper modules (one go.mod per module, each with `tool` directives). */
export const KIT_MODULES_DIR = fileURLToPath(new URL("./go/", import.meta.url));

const CNI = "github.com/containernetworking/plugins/plugins";

/**
 * The CNI plugins pkgs.k8s.io's kubernetes-cni package installs in /opt/cni/bin: every Linux plugin of
 * the containernetworking/plugins release (the `sample` plugin and the Windows ones are not shipped).
 */
export const CNI_PLUGINS = {
  dhcp: `${CNI}/ipam/dhcp`,
  "host-local": `${CNI}/ipam/host-local`,
  static: `${CNI}/ipam/static`,
  bridge: `${CNI}/main/bridge`,
  dummy: `${CNI}/main/dummy`,
  "host-device": `${CNI}/main/host-device`,
  ipvlan: `${CNI}/main/ipvlan`,
  loopback: `${CNI}/main/loopback`,
  macvlan: `${CNI}/main/macvlan`,
  ptp: `${CNI}/main/ptp`,
  tap: `${CNI}/main/tap`,
  vlan: `${CNI}/main/vlan`,
  bandwidth: `${CNI}/meta/bandwidth`,
  firewall: `${CNI}/meta/firewall`,
  portmap: `${CNI}/meta/portmap`,
  sbr: `${CNI}/meta/sbr`,
  tuning: `${CNI}/meta/tuning`,
  vrf: `${CNI}/meta/vrf`,
} as const;

export type CniPluginName = keyof typeof CNI_PLUGINS;
export const CNI_PLUGIN_NAMES = Object.keys(CNI_PLUGINS) as CniPluginName[];

/** Binaries the kit's own wrapper modules build, keyed by file name. */
export const KIT_BUILT_BINARIES = {
  kubelet: { module: "kubernetes-node", goPackage: "k8s.io/kubernetes/cmd/kubelet" },
  "kube-proxy": { module: "kubernetes-node", goPackage: "k8s.io/kubernetes/cmd/kube-proxy" },
  crictl: { module: "cri-tools", goPackage: "sigs.k8s.io/cri-tools/cmd/crictl" },
  coredns: { module: "coredns", goPackage: "github.com/coredns/coredns" },
  "kube-router": {
    module: "kube-router",
    goPackage: "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",
  },
  ...(Object.fromEntries(
    CNI_PLUGIN_NAMES.map((name) => [name, { module: "cni-plugins", goPackage: CNI_PLUGINS[name] }]),
  ) as Record<CniPluginName, { module: "cni-plugins"; goPackage: string }>),
} as const satisfies Record<string, { module: KitModule; goPackage: string }>;

export type KitBuiltBinaryName = keyof typeof KIT_BUILT_BINARIES;

/** Control-plane binaries the kit serves too (for the debs and the images); kwok is the sim's only. */
const SHARED_BINARIES = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubeadm",
  "kubectl",
  "etcd",
  "etcdctl",
  "etcdutl",
] as const satisfies readonly ControlPlaneBinaryName[];

type SharedBinaryName = (typeof SHARED_BINARIES)[number];

export const SHARED_BINARY_NAMES: readonly SharedBinaryName[] = SHARED_BINARIES;

/** Every binary `kitBinary` gives: the kit's own and the control plane's (kwok excepted). */
export type KitBinaryName = KitBuiltBinaryName | SharedBinaryName;

export const KIT_BINARY_NAMES: readonly KitBinaryName[] = [
  ...(Object.keys(KIT_BUILT_BINARIES) as KitBuiltBinaryName[]),
  ...SHARED_BINARIES,
];

export interface KitBinaryOptions {
  /** GOARCH of the binary; this machine's by default. Linux only (the kit is for Linux nodes). */
  readonly arch?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Progress lines for a human ("cni-plugins: 40 packages compiled (12s)"). */
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** The go command (default `go`). */
  readonly go?: string;
}

/**
 * Absolute path of a built, cached binary for Linux/`arch`. The kit's binaries build once per wrapper
 * module (every binary of the module at once) into `~/.cache/kubelab/kit/bin/<module>-<version>/linux-<arch>/`;
 * later calls verify the cached files' sha256 and return at once. The control-plane binaries for this
 * machine's architecture are the control plane's own set (bootstrap/controlplane/binaries.ts); for another
 * architecture they are cross-built here from the same wrapper modules. Concurrent callers (even in other
 * processes) share one build: the cache is locked. Throws MissingToolError without Go, CommandError when a
 * build fails (naming its log).
 */
export async function kitBinary(name: KitBinaryName, options: KitBinaryOptions = {}): Promise<string> {
  const arch = options.arch ?? goPlatform().arch;
  if (name in KIT_BUILT_BINARIES) {
    const module = KIT_BUILT_BINARIES[name as KitBuiltBinaryName].module;
    const { dir } = await ensureKitModule(module, options);
    return join(dir, name);
  }
  const shared = name as SharedBinaryName;
  if (!(SHARED_BINARIES as readonly string[]).includes(shared))
    throw new RangeError(`not a kit binary: ${name}`);
  const host = goPlatform();
  if (host.os === "linux" && arch === host.arch) {
    const set = await ensureBinaries({
      env: options.env,
      required: [shared],
      progress: options.progress,
      signal: options.signal,
      go: options.go,
    });
    return set.path(shared);
  }
  const { dir } = await ensureCrossBuiltControlPlane(CONTROL_PLANE_BINARIES[shared].module, arch, options);
  return join(dir, shared);
}

/** Where and how one module's binaries were found or made. */
export interface KitModuleBuild {
  readonly module: string;
  readonly version: string;
  readonly dir: string;
  readonly source: BinarySource;
  readonly files: readonly string[];
}

/** Builds (or finds) every binary of one kit wrapper module for Linux/`options.arch`. */
export async function ensureKitModule(
  module: KitModule,
  options: KitBinaryOptions = {},
): Promise<KitModuleBuild> {
  const names = (Object.keys(KIT_BUILT_BINARIES) as KitBuiltBinaryName[]).filter(
    (name) => KIT_BUILT_BINARIES[name].module === module,
  );
  const { version } = KIT_MODULES[module];
  return ensureModuleBuild(
    {
      module,
      version,
      moduleDir: join(KIT_MODULES_DIR, module),
      packages: names.map((name) => KIT_BUILT_BINARIES[name].goPackage),
      names,
      ldflags: kitLdflags(module),
    },
    options,
  );
}

/**
 * Linker flags of a kit module: symbol tables dropped as release builds do, and the version stamped where
 * the project's own release build stamps it (so `crictl --version`, `bridge` and `kube-router --version`
 * report the pinned release; CoreDNS's version is a constant in its source).
 */
export function kitLdflags(module: KitModule): string {
  switch (module) {
    case "kubernetes-node":
      return versionLdflags("kubernetes", COMPONENT_VERSIONS);
    case "cri-tools":
      return `-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${bareVersion(KIT_VERSIONS.criTools)}`;
    case "cni-plugins":
      return `-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=${KIT_VERSIONS.cniPlugins}`;
    case "coredns":
      return "-s -w";
    case "kube-router":
      return `-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=${KIT_VERSIONS.kubeRouter}`;
  }
}

interface ModuleBuildSpec {
  readonly module: string;
  readonly version: string;
  readonly moduleDir: string;
  readonly packages: readonly string[];
  /** Final file names, in package order. */
  readonly names: readonly string[];
  /** Names `go build -o dir/` gives, where they differ from ours (etcd's server is `server`). */
  readonly outputNames?: Readonly<Record<string, string>>;
  readonly ldflags: string;
}

async function ensureModuleBuild(spec: ModuleBuildSpec, options: KitBinaryOptions): Promise<KitModuleBuild> {
  const env = options.env ?? process.env;
  const platform = { os: "linux", arch: options.arch ?? goPlatform().arch };
  const progress = options.progress ?? (() => {});
  const dir = join(
    cacheRoot(env),
    "kit",
    "bin",
    `${spec.module}-${spec.version}`,
    `${platform.os}-${platform.arch}`,
  );
  const source = await ensureCachedFiles({
    dir,
    identity: { versions: { [spec.module]: spec.version }, platform, files: spec.names },
    what: `${spec.module} ${spec.version} binaries`,
    progress,
    signal: options.signal,
    make: async (staging, logPath) => {
      const go = await findGo(options.go, env);
      if (go === undefined) {
        throw new MissingToolError(
          "go",
          `install Go 1.26 or newer (https://go.dev/dl/): the kit builds ${spec.names.join(", ")} from source`,
        );
      }
      await goBuild({
        label: spec.module,
        moduleDir: spec.moduleDir,
        packages: spec.packages,
        names: spec.names,
        ldflags: spec.ldflags,
        outDir: staging,
        logPath,
        go: options.go,
        platform,
        progress,
        signal: options.signal,
        hint: "fix the error above (network to the Go module proxy? disk space?) and run `npm run kit` again",
      });
      for (const [name, output] of Object.entries(spec.outputNames ?? {})) {
        await rename(join(staging, output), join(staging, name));
      }
      return { source: "built", go };
    },
  });
  return { module: spec.module, version: spec.version, dir, source, files: spec.names };
}

/** The control plane's kubernetes or etcd module cross-built for another architecture. */
async function ensureCrossBuiltControlPlane(
  module: "kubernetes" | "etcd" | "kwok",
  arch: string,
  options: KitBinaryOptions,
): Promise<KitModuleBuild> {
  const names = SHARED_BINARIES.filter((name) => CONTROL_PLANE_BINARIES[name].module === module);
  const outputNames = Object.fromEntries(
    names.flatMap((name) => {
      const info: BinaryInfo = CONTROL_PLANE_BINARIES[name];
      return info.goOutputName === undefined ? [] : [[name, info.goOutputName]];
    }),
  );
  return ensureModuleBuild(
    {
      module,
      version: COMPONENT_VERSIONS[module],
      moduleDir: join(WRAPPER_MODULES_DIR, module),
      packages: names.map((name) => CONTROL_PLANE_BINARIES[name].goPackage),
      names,
      outputNames,
      ldflags: versionLdflags(module, COMPONENT_VERSIONS),
    },
    { ...options, arch },
  );
}
