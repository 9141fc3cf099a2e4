// The kit's Debian packages: kubeadm, kubelet, kubectl, cri-tools and kubernetes-cni as pkgs.k8s.io names them.
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

import { runProcess } from "../process.ts";
import { bareVersion, DEB_REVISION, debianArchitecture, KIT_VERSIONS, type KitVersions } from "./versions.ts";

/** One file of a package: its absolute path on the node, and its bytes (a file to copy, or text). */
export interface DebFile {
  readonly path: string;
  readonly mode: number;
  /** Host path of the file to copy (a built binary). */
  readonly source?: string;
  /** Or the file's text. */
  readonly text?: string;
}

/** A binary package: the control fields and the files, everything dpkg-deb needs. */
export interface DebPackage {
  readonly name: string;
  /** Debian version, `1.36.5-1.1`. */
  readonly version: string;
  /** Debian architecture (`amd64`, `arm64`). */
  readonly architecture: string;
  readonly section: string;
  readonly summary: string;
  readonly depends: readonly string[];
  readonly recommends: readonly string[];
  readonly files: readonly DebFile[];
  /** Files dpkg keeps when the admin changed them (`/etc/default/kubelet`). */
  readonly conffiles: readonly string[];
  readonly postinst?: string;
  readonly prerm?: string;
}

const MAINTAINER = "kubelab offline kit <kit@kubelab.invalid>";
const HOMEPAGE = "https://kubernetes.io";

/** The binaries the five packages are made of, as absolute paths (kitBinary's results). */
export type PackageBinaries = Readonly<
  Record<"kubeadm" | "kubelet" | "kubectl" | "crictl", string> & {
    cniPlugins: Readonly<Record<string, string>>;
  }
>;

/**
 * The five packages of pkgs.k8s.io's `core:/stable:/v1.36` repository, with the names, versions, files and
 * relations pkgs.k8s.io gives them (kubernetes/release's krel templates and what its 1.36 repository
 * declares): kubeadm Depends cri-tools (>= 1.30.0) and carries the kubelet drop-in; kubelet Depends
 * kubernetes-cni (>= 1.2.0), mount and util-linux and Recommends iptables (>= 1.8.4), and carries the unit
 * and /etc/default/kubelet. The unit and drop-in texts are ours, with the same behaviour.
 */
export function kubernetesPackages(
  binaries: PackageBinaries,
  goArch: string,
  versions: KitVersions = KIT_VERSIONS,
): DebPackage[] {
  const architecture = debianArchitecture(goArch);
  const debVersion = (version: string): string => `${bareVersion(version)}-${DEB_REVISION}`;
  const kubernetes = debVersion(versions.kubernetes);
  const base = { architecture, recommends: [], conffiles: [] };
  const binary = (path: string, source: string): DebFile => ({ path, mode: 0o755, source });
  const keep = (path: string): DebFile => ({ path, mode: 0o644, text: "" });
  return [
    {
      ...base,
      name: "cri-tools",
      version: debVersion(versions.criTools),
      section: "admin",
      summary: "Command-line utility for interacting with a container runtime",
      depends: [],
      files: [binary("/usr/bin/crictl", binaries.crictl)],
    },
    {
      ...base,
      name: "kubeadm",
      version: kubernetes,
      section: "admin",
      summary: "Command-line utility for administering a Kubernetes cluster",
      depends: ["cri-tools (>= 1.30.0)"],
      files: [
        binary("/usr/bin/kubeadm", binaries.kubeadm),
        {
          path: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
          mode: 0o644,
          text: KUBEADM_DROP_IN,
        },
      ],
    },
    {
      ...base,
      name: "kubectl",
      version: kubernetes,
      section: "admin",
      summary: "Command-line utility for interacting with a Kubernetes cluster",
      depends: [],
      files: [binary("/usr/bin/kubectl", binaries.kubectl)],
    },
    {
      ...base,
      name: "kubelet",
      version: kubernetes,
      section: "net",
      summary: "Node agent for Kubernetes clusters",
      depends: ["kubernetes-cni (>= 1.2.0)", "mount", "util-linux"],
      recommends: ["iptables (>= 1.8.4)"],
      files: [
        binary("/usr/bin/kubelet", binaries.kubelet),
        { path: "/usr/lib/systemd/system/kubelet.service", mode: 0o644, text: KUBELET_UNIT },
        { path: "/etc/default/kubelet", mode: 0o644, text: "KUBELET_EXTRA_ARGS=\n" },
        // dpkg-deb keeps no empty directories: a marker file makes the package own them.
        keep("/var/lib/kubelet/.kubelet-keep"),
        keep("/etc/kubernetes/manifests/.kubelet-keep"),
      ],
      conffiles: ["/etc/default/kubelet"],
      postinst: KUBELET_POSTINST,
      prerm: KUBELET_PRERM,
    },
    {
      ...base,
      name: "kubernetes-cni",
      version: debVersion(versions.cniPlugins),
      section: "net",
      summary: "Binaries required to provision kubernetes container networking",
      depends: [],
      files: [
        ...Object.entries(binaries.cniPlugins)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, source]) => binary(`/opt/cni/bin/${name}`, source)),
        keep("/etc/cni/net.d/.kubernetes-cni-keep"),
      ],
    },
  ];
}

/** `kubeadm_1.36.5-1.1_amd64.deb`: Debian's file name (the epoch-less version). */
export function debFileName(pkg: Pick<DebPackage, "name" | "version" | "architecture">): string {
  return `${pkg.name}_${pkg.version}_${pkg.architecture}.deb`;
}

/**
 * The DEBIAN/control text. `installedSizeKiB` is what dpkg shows as the installed size (dpkg-deb does not
 * compute it; dpkg-gencontrol would).
 */
export function controlFile(pkg: DebPackage, installedSizeKiB: number): string {
  const fields: [string, string | undefined][] = [
    ["Package", pkg.name],
    ["Version", pkg.version],
    ["Architecture", pkg.architecture],
    ["Maintainer", MAINTAINER],
    ["Installed-Size", String(installedSizeKiB)],
    ["Depends", pkg.depends.length === 0 ? undefined : pkg.depends.join(", ")],
    ["Recommends", pkg.recommends.length === 0 ? undefined : pkg.recommends.join(", ")],
    ["Section", pkg.section],
    ["Priority", "optional"],
    ["Homepage", HOMEPAGE],
    [
      "Description",
      `${pkg.summary}\n Built from upstream source at the pinned version by the kubelab offline kit.`,
    ],
  ];
  return fields.flatMap(([key, value]) => (value === undefined ? [] : [`${key}: ${value}\n`])).join("");
}

/** The kubelet unit: restarted forever, as kubeadm expects (it crash-loops until init or join writes its config). */
export const KUBELET_UNIT = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`;

/**
 * kubeadm's kubelet drop-in: the bootstrap and final kubeconfigs, the config file kubeadm writes, the flags
 * kubeadm init/join write to kubeadm-flags.env, and the admin's KUBELET_EXTRA_ARGS from /etc/default/kubelet
 * (the last word: it comes last on the command line).
 */
export const KUBEADM_DROP_IN = `# kubelab kit: the kubelet as kubeadm configures it. kubeadm init and join write
# /var/lib/kubelet/config.yaml and /var/lib/kubelet/kubeadm-flags.env (KUBELET_KUBEADM_ARGS);
# /etc/default/kubelet holds the admin's KUBELET_EXTRA_ARGS, which win because they come last.
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;

/**
 * kubelet's postinst: enable and (re)start the unit where systemd runs, as the upstream package does; in a
 * chroot or an image build (no /run/systemd/system) there is no systemd to ask, so nothing is done.
 */
const KUBELET_POSTINST = `#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable kubelet.service
  systemctl restart kubelet.service
fi
exit 0
`;

const KUBELET_PRERM = `#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop kubelet.service || true
  systemctl disable kubelet.service || true
fi
exit 0
`;

export interface BuildDebOptions {
  /** Directory the .deb is written to (named by debFileName). */
  readonly outDir: string;
  readonly logPath: string;
  readonly signal: AbortSignal;
  /** SOURCE_DATE_EPOCH: dpkg-deb clamps every member's mtime to it, so rebuilds differ only by content. */
  readonly sourceDateEpoch: number;
}

/**
 * Builds one .deb with dpkg-deb: files owned by root (`--root-owner-group`), modes as given, mtimes
 * clamped to `sourceDateEpoch`, gzip members (every dpkg and apt reads them). Returns the file's path.
 */
export async function buildDeb(pkg: DebPackage, options: BuildDebOptions): Promise<string> {
  const staging = await mkdtemp(join(options.outDir, `.${pkg.name}-`));
  try {
    let installedBytes = 0;
    for (const file of pkg.files) {
      const target = join(staging, file.path);
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      if (file.source !== undefined) await copyFile(file.source, target);
      else await writeFile(target, file.text ?? "");
      await chmod(target, file.mode);
      installedBytes += Math.ceil((await stat(target)).size / 1024) * 1024;
    }
    const debian = join(staging, "DEBIAN");
    await mkdir(debian, { mode: 0o755 });
    await writeFile(join(debian, "control"), controlFile(pkg, Math.max(1, installedBytes / 1024)));
    if (pkg.conffiles.length > 0) await writeFile(join(debian, "conffiles"), `${pkg.conffiles.join("\n")}\n`);
    for (const [script, text] of [
      ["postinst", pkg.postinst],
      ["prerm", pkg.prerm],
    ] as const) {
      if (text === undefined) continue;
      await writeFile(join(debian, script), text);
      await chmod(join(debian, script), 0o755);
    }
    const out = join(options.outDir, debFileName(pkg));
    await runProcess("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", staging, out], {
      timeoutMs: 10 * 60_000,
      signal: options.signal,
      logFile: options.logPath,
      env: { SOURCE_DATE_EPOCH: String(options.sourceDateEpoch) },
      label: `dpkg-deb --build ${debFileName(pkg)}`,
      missingToolHint: "install dpkg (apt-get install dpkg): the kit's packages are built with dpkg-deb",
    });
    return out;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
