#!/usr/bin/env bash
# kubelab join script for w1-k8s (lab kubelab), rendered by `bootstrap up`: edit lab.yaml, not this file.
# Joins the cluster at 192.168.56.10, verifying its CA by public-key hash.
# Idempotent: running it again changes only what is not already as wanted.
set -euo pipefail

log() { printf '==> %s\n' "$*"; }
fail() { printf 'kubelab: %s\n' "$*" >&2; exit 1; }

CONFIG_DIR=/etc/kubernetes/kubelab
CONFIG=$CONFIG_DIR/kubeadm-join.yaml

if [[ -f /etc/kubernetes/kubelet.conf ]]; then
  log "w1-k8s has already joined"
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
EOF
)
log "kubeadm join 192.168.56.10"
kubeadm join --config "$CONFIG"
rm -f "$CONFIG"

log "join done on w1-k8s"
