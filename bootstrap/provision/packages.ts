// Renders install.sh: containerd (systemd cgroups, the pinned pause image) and kubeadm/kubelet/kubectl.
import { kubernetesMinor, kubernetesPatch, type Lab, type LabNode } from "../lab/config.ts";
import { CRI_SOCKET } from "./kubeadm.ts";
import { scriptHeader, shellQuote } from "./script.ts";

/** The sandbox ("pause") image kubeadm 1.36 expects; containerd must pin the same one or kubeadm warns. */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2";

/** Where a node's packages and images come from (lab/sources.ts), as install.sh embeds them. */
export interface InstallSources {
  /** The flat apt repository in pkgs.k8s.io's layout, ending in `/`. */
  readonly repository: string;
  /** Its armored public key, embedded; undefined: fetched from `${repository}Release.key`. */
  readonly key?: string;
  /** Upstream registry host -> mirror URL, as containerd hosts.toml files. */
  readonly mirrors: Readonly<Record<string, string>>;
}

/** Where containerd reads its per-registry hosts.toml files (config_path). */
export const CONTAINERD_CERTS_DIR = "/etc/containerd/certs.d";

/**
 * install.sh for `node`: the distribution's containerd configured for kubeadm (config version 2 for
 * containerd 1.x, version 3 for 2.x: the CRI plugin moved), with a hosts.toml per registry mirror, the apt
 * repository of `sources` (pkgs.k8s.io for the lab's minor by default) with its signing key, kubeadm/kubelet/
 * kubectl at one exact version and held, and the kubelet pinned to the host-only address.
 * One branch on a detected fact: without CAP_SYS_RESOURCE (a node container on a host that withholds it)
 * containerd gets `restrict_oom_score_adj = true`; a VM's root has the capability and keeps the default.
 */
export function renderInstallScript(lab: Lab, node: LabNode, sources: InstallSources): string {
  const minor = kubernetesMinor(lab.kubernetes.version);
  const patch = kubernetesPatch(lab.kubernetes.version) ?? "";
  const repository = sources.repository;
  const keyring = `/etc/apt/keyrings/kubernetes-v${minor}-apt-keyring.gpg`;
  return `${scriptHeader(
    "install",
    lab,
    node,
    [`Installs containerd and kubeadm, kubelet, kubectl from ${repository}.`],
    ["put_file", "apt_get"],
  )}
NODE_IP=${shellQuote(node.ip)}
KUBERNETES_MINOR=${shellQuote(minor)}
# Empty: the newest patch of the minor that pkgs.k8s.io offers (kept on later runs, never upgraded).
KUBERNETES_PATCH=${shellQuote(patch)}
CONTAINERD_PACKAGE=${shellQuote(lab.containerd.package)}
REPOSITORY=${shellQuote(repository)}
KEYRING=${shellQuote(keyring)}

log "containerd ($CONTAINERD_PACKAGE) and tools"
apt_get update
apt_get install -- "$CONTAINERD_PACKAGE" ca-certificates curl gpg conntrack socat

# Lowering an oom_score_adj below the parent's (the kubelet gives Guaranteed pods and itself negative scores)
# needs CAP_SYS_RESOURCE. A VM's root has it; a node container's root lacks it when its host withholds it from
# the container engine: then containerd must clamp the scores it is given instead of failing every pod sandbox.
cap_effective=$(awk '$1 == "CapEff:" { print $2 }' /proc/self/status)
if (((16#$cap_effective >> ${CAP_SYS_RESOURCE}) & 1)); then
  RESTRICT_OOM_SCORE_ADJ=false
else
  RESTRICT_OOM_SCORE_ADJ=true
  log "no CAP_SYS_RESOURCE here: containerd restricts oom_score_adj"
fi

version_line=$(containerd --version)
if [[ $version_line =~ [[:space:]]v?([0-9]+)\\.([0-9]+)\\.[0-9]+ ]]; then
  containerd_major=\${BASH_REMATCH[1]}
else
  fail "cannot read the containerd version from: $version_line"
fi

${renderMirrors(sources.mirrors)}log "containerd $containerd_major.x: systemd cgroups, sandbox image ${PAUSE_IMAGE}"
if ((containerd_major >= 2)); then
  put_file /etc/containerd/config.toml 0644 <<EOF
${containerdConfigV3("$RESTRICT_OOM_SCORE_ADJ")}EOF
else
  put_file /etc/containerd/config.toml 0644 <<EOF
${containerdConfigV2("$RESTRICT_OOM_SCORE_ADJ")}EOF
fi
if [[ $FILE_CHANGED == true ]]; then
  systemctl restart containerd.service
fi
systemctl enable --now containerd.service
put_file /etc/crictl.yaml 0644 <<'EOF'
runtime-endpoint: ${CRI_SOCKET}
image-endpoint: ${CRI_SOCKET}
EOF

log "apt repository $REPOSITORY"
${sources.key === undefined ? FETCHED_KEY : embeddedKey(sources.key)}
put_file /etc/apt/sources.list.d/kubernetes.list 0644 <<EOF
deb [signed-by=$KEYRING] $REPOSITORY /
EOF
apt_get update

installed_version() { dpkg-query -W -f='\${Version}' "$1" 2>/dev/null || true; }
if [[ -n $KUBERNETES_PATCH ]]; then
  wanted_prefix="$KUBERNETES_PATCH-"
else
  wanted_prefix="$KUBERNETES_MINOR."
fi
current=$(installed_version kubeadm)
if [[ -z $KUBERNETES_PATCH && $current == "$wanted_prefix"* ]]; then
  package_version=$current
else
  package_version=$(apt-cache madison kubeadm | awk -v prefix="$wanted_prefix" 'index($3, prefix) == 1 { print $3 }' | sort -V | tail -n 1)
  [[ -n $package_version ]] || fail "$REPOSITORY has no kubeadm \${wanted_prefix}* package (see apt-cache madison kubeadm)"
fi

log "kubeadm, kubelet, kubectl $package_version (held)"
if [[ $(installed_version kubeadm) == "$package_version" && $(installed_version kubelet) == "$package_version" && $(installed_version kubectl) == "$package_version" ]]; then
  log "already installed"
else
  apt-mark unhold kubeadm kubelet kubectl >/dev/null 2>&1 || true
  apt_get install --allow-downgrades --allow-change-held-packages \\
    "kubeadm=$package_version" "kubelet=$package_version" "kubectl=$package_version"
fi
apt-mark hold kubeadm kubelet kubectl >/dev/null

log "kubelet: node-ip $NODE_IP (the host-only address, not the NAT one)"
put_file /etc/default/kubelet 0644 <<EOF
KUBELET_EXTRA_ARGS=--node-ip=$NODE_IP
EOF
if [[ $FILE_CHANGED == true ]] && systemctl is-active --quiet kubelet.service; then
  systemctl restart kubelet.service
fi
systemctl enable kubelet.service

log "install done on ${node.name}"
`;
}

/** The bit of CAP_SYS_RESOURCE in a capability mask (linux/capability.h). */
const CAP_SYS_RESOURCE = 24;

/**
 * containerd 1.6 and 1.7 (config version 2): the CRI plugin is `io.containerd.grpc.v1.cri`.
 * `restrictOomScoreAdj` is the TOML value, a literal or the shell variable the install script sets.
 */
export function containerdConfigV2(restrictOomScoreAdj: string): string {
  return `# kubelab: containerd 1.x configuration for kubeadm (merged over containerd's defaults).
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = ${restrictOomScoreAdj}

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "${CONTAINERD_CERTS_DIR}"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
`;
}

/** containerd 2.x (config version 3): images and runtime are separate CRI plugins. */
export function containerdConfigV3(restrictOomScoreAdj: string): string {
  return `# kubelab: containerd 2.x configuration for kubeadm (merged over containerd's defaults).
version = 3

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '${PAUSE_IMAGE}'

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '${CONTAINERD_CERTS_DIR}'

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = ${restrictOomScoreAdj}

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
`;
}

/** The repository's key fetched from it (pkgs.k8s.io serves Release.key beside the index, over HTTPS). */
const FETCHED_KEY = `if [[ ! -s $KEYRING ]]; then
  install -d -m 0755 /etc/apt/keyrings
  key_download=$(mktemp)
  curl -fsSL --retry 3 "\${REPOSITORY}Release.key" -o "$key_download"
  gpg --batch --yes --dearmor -o "$KEYRING" "$key_download"
  chmod 0644 "$KEYRING"
  rm -f "$key_download"
fi`;

/** The repository's key as bootstrap was given it (a mirror's key file, the offline kit's): pinned, not fetched. */
function embeddedKey(armored: string): string {
  const text = armored.endsWith("\n") ? armored : `${armored}\n`;
  return `put_file "\${KEYRING%.gpg}.asc" 0644 <<'EOF'
${text}EOF
if [[ $FILE_CHANGED == true || ! -s $KEYRING ]]; then
  gpg --batch --yes --dearmor -o "$KEYRING" "\${KEYRING%.gpg}.asc"
  chmod 0644 "$KEYRING"
fi`;
}

/** The URL containerd falls back to after the mirrors: the registry itself (Docker Hub's API host for docker.io). */
function registryServer(registry: string): string {
  return registry === "docker.io" ? "https://registry-1.docker.io" : `https://${registry}`;
}

/**
 * One hosts.toml per mirrored registry (containerd's config_path): pulls and resolves go to the mirror first,
 * so kubeadm and every manifest keep their upstream image names. Empty when the lab has no mirrors.
 */
function renderMirrors(mirrors: Readonly<Record<string, string>>): string {
  const registries = Object.keys(mirrors).sort();
  if (registries.length === 0) return "";
  const files = registries.map(
    (registry) => `put_file ${CONTAINERD_CERTS_DIR}/${registry}/hosts.toml 0644 <<'EOF'
# kubelab: ${registry} through the lab's mirror (lab.yaml images.mirrors); the registry itself after it.
server = "${registryServer(registry)}"

[host."${mirrors[registry]}"]
  capabilities = ["pull", "resolve"]
EOF
`,
  );
  return `log "registry mirrors: ${registries.join(" ")}"
${files.join("")}`;
}
