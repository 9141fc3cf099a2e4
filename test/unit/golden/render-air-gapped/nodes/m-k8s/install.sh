#!/usr/bin/env bash
# kubelab install script for m-k8s (lab kubelab), rendered by `bootstrap up`: edit lab.yaml, not this file.
# Installs containerd and kubeadm, kubelet, kubectl from http://mirror.lab.example/core:/stable:/v1.36/deb/.
# Idempotent: running it again changes only what is not already as wanted.
set -euo pipefail

log() { printf '==> %s\n' "$*"; }
fail() { printf 'kubelab: %s\n' "$*" >&2; exit 1; }

# put_file PATH MODE < content: installs stdin as PATH only when it differs; sets FILE_CHANGED=true|false.
FILE_CHANGED=false
put_file() {
  local path=$1 mode=$2 staged
  staged=$(mktemp)
  cat >"$staged"
  if [[ -f $path ]] && cmp -s "$staged" "$path"; then
    FILE_CHANGED=false
    rm -f "$staged"
  else
    install -D -m "$mode" "$staged" "$path"
    rm -f "$staged"
    FILE_CHANGED=true
  fi
}

# apt_get ARGS...: apt-get that waits for the dpkg lock (first boot runs unattended-upgrades) and retries downloads.
apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -y -q "$@"
}

NODE_IP='192.168.56.10'
KUBERNETES_MINOR='1.36'
# Empty: the newest patch of the minor that pkgs.k8s.io offers (kept on later runs, never upgraded).
KUBERNETES_PATCH=''
CONTAINERD_PACKAGE='containerd'
REPOSITORY='http://mirror.lab.example/core:/stable:/v1.36/deb/'
KEYRING='/etc/apt/keyrings/kubernetes-v1.36-apt-keyring.gpg'

log "containerd ($CONTAINERD_PACKAGE) and tools"
apt_get update
apt_get install -- "$CONTAINERD_PACKAGE" ca-certificates curl gpg conntrack socat

# Lowering an oom_score_adj below the parent's (the kubelet gives Guaranteed pods and itself negative scores)
# needs CAP_SYS_RESOURCE. A VM's root has it; a node container's root lacks it when its host withholds it from
# the container engine: then containerd must clamp the scores it is given instead of failing every pod sandbox.
cap_effective=$(awk '$1 == "CapEff:" { print $2 }' /proc/self/status)
if (((16#$cap_effective >> 24) & 1)); then
  RESTRICT_OOM_SCORE_ADJ=false
else
  RESTRICT_OOM_SCORE_ADJ=true
  log "no CAP_SYS_RESOURCE here: containerd restricts oom_score_adj"
fi

version_line=$(containerd --version)
if [[ $version_line =~ [[:space:]]v?([0-9]+)\.([0-9]+)\.[0-9]+ ]]; then
  containerd_major=${BASH_REMATCH[1]}
else
  fail "cannot read the containerd version from: $version_line"
fi

log "registry mirrors: docker.io registry.k8s.io"
put_file /etc/containerd/certs.d/docker.io/hosts.toml 0644 <<'EOF'
# kubelab: docker.io through the lab's mirror (lab.yaml images.mirrors); the registry itself after it.
server = "https://registry-1.docker.io"

[host."https://hub.mirror.example"]
  capabilities = ["pull", "resolve"]
EOF
put_file /etc/containerd/certs.d/registry.k8s.io/hosts.toml 0644 <<'EOF'
# kubelab: registry.k8s.io through the lab's mirror (lab.yaml images.mirrors); the registry itself after it.
server = "https://registry.k8s.io"

[host."http://mirror.lab.example:5000"]
  capabilities = ["pull", "resolve"]
EOF
log "containerd $containerd_major.x: systemd cgroups, sandbox image registry.k8s.io/pause:3.10.2"
if ((containerd_major >= 2)); then
  put_file /etc/containerd/config.toml 0644 <<EOF
# kubelab: containerd 2.x configuration for kubeadm (merged over containerd's defaults).
version = 3

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = 'registry.k8s.io/pause:3.10.2'

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '/etc/containerd/certs.d'

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = $RESTRICT_OOM_SCORE_ADJ

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
EOF
else
  put_file /etc/containerd/config.toml 0644 <<EOF
# kubelab: containerd 1.x configuration for kubeadm (merged over containerd's defaults).
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10.2"
  restrict_oom_score_adj = $RESTRICT_OOM_SCORE_ADJ

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
EOF
fi
if [[ $FILE_CHANGED == true ]]; then
  systemctl restart containerd.service
fi
systemctl enable --now containerd.service
put_file /etc/crictl.yaml 0644 <<'EOF'
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
EOF

log "apt repository $REPOSITORY"
put_file "${KEYRING%.gpg}.asc" 0644 <<'EOF'
-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEaw+NbxYJKwYBBAHaRw8BAQdABG8tCcNX38IeGuyq7gCbTaGZQ8w0KC6B0Jpz
IY0N5LG0LGt1YmVsYWIgdGVzdCBtaXJyb3IgPG1pcnJvckBleGFtcGxlLmludmFs
aWQ+iJAEExYIADgWIQQUCPfzynAbio9jGY1of1TWeRqOnQUCaw+NbwIbAwULCQgH
AgYVCgkICwIEFgIDAQIeAQIXgAAKCRBof1TWeRqOnYSSAP4um/v/3Cs3SDoQbqCq
tr7aqboFHCN2xI7Ar9fwCI7+AwEAx9ACGj2uB+wmgUHNiad5JDGk6UC0zSRwzT2f
cEKC1g8=
=FTAg
-----END PGP PUBLIC KEY BLOCK-----
EOF
if [[ $FILE_CHANGED == true || ! -s $KEYRING ]]; then
  gpg --batch --yes --dearmor -o "$KEYRING" "${KEYRING%.gpg}.asc"
  chmod 0644 "$KEYRING"
fi
put_file /etc/apt/sources.list.d/kubernetes.list 0644 <<EOF
deb [signed-by=$KEYRING] $REPOSITORY /
EOF
apt_get update

installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
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
  [[ -n $package_version ]] || fail "$REPOSITORY has no kubeadm ${wanted_prefix}* package (see apt-cache madison kubeadm)"
fi

log "kubeadm, kubelet, kubectl $package_version (held)"
if [[ $(installed_version kubeadm) == "$package_version" && $(installed_version kubelet) == "$package_version" && $(installed_version kubectl) == "$package_version" ]]; then
  log "already installed"
else
  apt-mark unhold kubeadm kubelet kubectl >/dev/null 2>&1 || true
  apt_get install --allow-downgrades --allow-change-held-packages \
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

log "install done on m-k8s"
