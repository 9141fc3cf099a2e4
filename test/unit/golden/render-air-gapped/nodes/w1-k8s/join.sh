#!/usr/bin/env bash
# kubelab join script for w1-k8s (lab kubelab), rendered by `bootstrap up`: edit lab.yaml, not this file.
# Joins the cluster at 192.168.56.10, verifying its CA by public-key hash.
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
CONFIG=$CONFIG_DIR/kubeadm-join.yaml
NODE_NAME='w1-k8s'
KUBELET_KUBECONFIG=/etc/kubernetes/kubelet.conf

# kubeadm join returns once the kubelet has its credentials; the kubelet registers the Node a moment later.
wait_for_node() {
  local attempt
  for attempt in $(seq 1 90); do
    if kubectl --kubeconfig "$KUBELET_KUBECONFIG" get node "$NODE_NAME" >/dev/null 2>&1; then
      return 0
    fi
    if ((attempt % 15 == 0)); then log "waiting for the kubelet to register $NODE_NAME ($((attempt * 2))s)"; fi
    sleep 2
  done
  return 1
}

if [[ -f $KUBELET_KUBECONFIG ]]; then
  log "w1-k8s has already joined"
  wait_for_node || fail "$NODE_NAME joined, but its Node object does not exist (journalctl -u kubelet)"
  exit 0
fi
if [[ -e /etc/kubernetes/pki/ca.crt || -e /etc/kubernetes/bootstrap-kubelet.conf ]]; then
  log "an earlier kubeadm join did not finish: kubeadm reset first"
  kubeadm reset --force
fi
install -d -m 0700 "$CONFIG_DIR"
(
  umask 077
  cat >"$CONFIG" <<'EOF'
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: 192.168.56.10:6443
    token: abcdef.0123456789abcdef
    caCertHashes:
      - sha256:<known after kubeadm init>
nodeRegistration:
  name: w1-k8s
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs:
    - name: node-ip
      value: 192.168.56.101
patches:
  directory: /etc/kubernetes/kubelab/patches
EOF
)
kubeadm_host_facts
log "kubeadm join 192.168.56.10"
kubeadm join --config "$CONFIG" "${KUBEADM_FLAGS[@]}"
rm -f "$CONFIG"
wait_for_node || fail "the kubelet did not register the Node $NODE_NAME within 3 minutes (journalctl -u kubelet)"

log "join done on w1-k8s"
