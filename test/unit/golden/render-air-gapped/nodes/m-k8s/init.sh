#!/usr/bin/env bash
# kubelab init script for m-k8s (lab kubelab), rendered by `bootstrap up`: edit lab.yaml, not this file.
# Creates the cluster with kubeadm init and gives the admin kubeconfig to the ssh user.
# Idempotent: running it again changes only what is not already as wanted.
set -euo pipefail

log() { printf '==> %s\n' "$*"; }
fail() { printf 'kubelab: %s\n' "$*" >&2; exit 1; }

# kubeadm_host_facts: what kubeadm init/join must know of this host, as KUBEADM_FLAGS and a kubelet patch
# in /etc/kubernetes/kubelab/patches. On cgroup v1 (a hybrid host running node containers; the lab's VM
# boxes run cgroup v2 and get neither) the kubelet (1.35+) starts only with failCgroupV1: false, and
# kubeadm's SystemVerification preflight check fails: it is the one check skipped, and only there.
kubeadm_host_facts() {
  local patch=/etc/kubernetes/kubelab/patches/kubeletconfiguration.yaml
  install -d -m 0700 /etc/kubernetes/kubelab/patches
  KUBEADM_FLAGS=()
  if [[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]]; then
    rm -f "$patch"
  else
    log "cgroup v1 host: kubelet failCgroupV1=false, kubeadm preflight without SystemVerification"
    printf 'failCgroupV1: false\n' >"$patch"
    KUBEADM_FLAGS=(--ignore-preflight-errors=SystemVerification)
  fi
}

CONFIG_DIR=/etc/kubernetes/kubelab
CONFIG=$CONFIG_DIR/kubeadm-init.yaml
DONE_MARKER=$CONFIG_DIR/init.done
ADMIN_KUBECONFIG=/etc/kubernetes/admin.conf
CONNTRACK_MAX=/proc/sys/net/netfilter/nf_conntrack_max

wait_for_api_server() {
  local attempt
  for attempt in $(seq 1 150); do
    if kubectl --kubeconfig "$ADMIN_KUBECONFIG" get --raw=/readyz >/dev/null 2>&1; then
      return 0
    fi
    if ((attempt % 15 == 0)); then log "waiting for the API server ($((attempt * 2))s)"; fi
    sleep 2
  done
  return 1
}

if [[ -f $DONE_MARKER ]]; then
  log "kubeadm init already done"
else
  if [[ -e /etc/kubernetes/manifests/kube-apiserver.yaml ]]; then
    log "an earlier kubeadm init did not finish: kubeadm reset first"
    kubeadm reset --force
  fi
  install -d -m 0700 "$CONFIG_DIR"
  kubeadm_version=$(kubeadm version -o short)
  (
    umask 077
    sed "s/@INSTALLED_KUBEADM_VERSION@/$kubeadm_version/" >"$CONFIG" <<'EOF'
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
  - token: abcdef.0123456789abcdef
    description: kubelab join token for lab kubelab
    ttl: 2h0m0s
    usages:
      - signing
      - authentication
    groups:
      - system:bootstrappers:kubeadm:default-node-token
localAPIEndpoint:
  advertiseAddress: 192.168.56.10
  bindPort: 6443
nodeRegistration:
  name: m-k8s
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
    - name: node-ip
      value: 192.168.56.10
patches:
  directory: /etc/kubernetes/kubelab/patches
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: kubelab
kubernetesVersion: "@INSTALLED_KUBEADM_VERSION@"
controlPlaneEndpoint: 192.168.56.10:6443
networking:
  podSubnet: 172.16.0.0/16
  serviceSubnet: 10.96.0.0/12
  dnsDomain: cluster.local
apiServer:
  certSANs:
    - m-k8s
    - 192.168.56.10
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
EOF
  )
  # kube-proxy sizes the conntrack table (net.netfilter.nf_conntrack_max) as it starts, and fails where it
  # cannot: only the host's own network namespace may, so in a node container the file is read-only and the
  # table the host's. There kube-proxy is told to leave it (maxPerCore 0); a VM's kube-proxy sizes its own.
  if [[ -e $CONNTRACK_MAX && ! -w $CONNTRACK_MAX ]]; then
    log "conntrack table: the host's ($CONNTRACK_MAX is read-only here), kube-proxy leaves its size"
    cat >>"$CONFIG" <<'EOF'
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
conntrack:
  maxPerCore: 0
EOF
  fi
  kubeadm_host_facts
  log "kubeadm init (kubeadm $kubeadm_version)"
  kubeadm init --config "$CONFIG" --skip-token-print "${KUBEADM_FLAGS[@]}"
  touch "$DONE_MARKER"
fi

log "waiting for the API server"
wait_for_api_server || fail "the API server did not answer /readyz within 5 minutes (see: crictl ps -a)"

log "admin kubeconfig for root and the ssh user"
install -d -m 0700 /root/.kube
install -m 0600 "$ADMIN_KUBECONFIG" /root/.kube/config
admin_user=${SUDO_USER:-}
if [[ -n $admin_user && $admin_user != root ]]; then
  admin_home=$(getent passwd "$admin_user" | cut -d: -f6)
  admin_group=$(id -gn "$admin_user")
  install -d -m 0700 -o "$admin_user" -g "$admin_group" "$admin_home/.kube"
  install -m 0600 -o "$admin_user" -g "$admin_group" "$ADMIN_KUBECONFIG" "$admin_home/.kube/config"
fi

log "init done on m-k8s"
