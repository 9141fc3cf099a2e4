#!/usr/bin/env bash
# kubelab prepare script for w1-k8s (lab kubelab), rendered by `bootstrap up`: edit lab.yaml, not this file.
# Prepares the host for kubeadm: swap, kernel modules, sysctls, /etc/hosts, time sync.
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

NODE_NAME='w1-k8s'
# "none" on a VM; the container manager's name ("podman") in a node container, which shares its host's kernel.
CONTAINER=$(systemd-detect-virt --container || true)

if [[ $CONTAINER == none ]]; then
  log "swap: off now and after reboot"
  swapoff -a
  if grep -Eq '^[^#[:space:]][^#]*[[:space:]]swap[[:space:]]' /etc/fstab; then
    sed -i.kubelab-backup -E 's/^([^#[:space:]][^#]*[[:space:]]swap[[:space:]].*)$/# \1  # swap disabled by kubelab/' /etc/fstab
    systemctl daemon-reload
  fi
else
  # The swap a container sees is its host's: swapoff here would turn it off for the whole machine.
  [[ -z $(swapon --show --noheadings) ]] ||
    fail "the host has swap on, which the kubelet refuses; this $CONTAINER container shares the host's kernel: turn swap off on the host (swapoff -a) and run bootstrap up again"
  log "swap: none (the $CONTAINER container shares the host's kernel, which has no swap on)"
fi

log "kernel modules: overlay, br_netfilter (now and at boot)"
put_file /etc/modules-load.d/kubelab.conf 0644 <<'EOF'
overlay
br_netfilter
EOF
# kernel_has MODULE: the kernel already offers what MODULE provides (loaded, or built in: a built-in module
# without parameters has no /sys/module entry, so its feature is checked instead).
kernel_has() {
  [[ -d /sys/module/$1 ]] && return 0
  case $1 in
    overlay) grep -qw overlay /proc/filesystems ;;
    br_netfilter) [[ -d /proc/sys/net/bridge ]] ;;
    *) return 1 ;;
  esac
}
for module in overlay br_netfilter; do
  if kernel_has "$module"; then
    log "$module: already in the kernel"
  else
    modprobe "$module"
  fi
done

log "sysctls: bridged traffic through iptables, IPv4 forwarding"
put_file /etc/sysctl.d/99-kubelab.conf 0644 <<'EOF'
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
EOF
sysctl --system >/dev/null
[[ $(sysctl -n net.ipv4.ip_forward) == 1 ]] || fail "net.ipv4.ip_forward is still 0 after sysctl --system"

log "/etc/hosts: every lab node by name"
# Drops the previous kubelab block and loopback aliases of this node's name (Vagrant adds 127.0.x.1 NAME,
# which would make the node's own name resolve to loopback instead of its host-only address).
hosts_new=$(mktemp)
sed -e '/^# BEGIN kubelab nodes/,/^# END kubelab nodes/d' /etc/hosts |
  awk -v name="$NODE_NAME" '$1 ~ /^127\.0\.[12]\.1$/ { for (i = 2; i <= NF; i++) if ($i == name) next } { print }' >"$hosts_new"
cat >>"$hosts_new" <<'EOF'
# BEGIN kubelab nodes (managed by bootstrap)
192.168.56.10 m-k8s
192.168.56.101 w1-k8s
# END kubelab nodes
EOF
put_file /etc/hosts 0644 <"$hosts_new"
rm -f "$hosts_new"
if [[ $FILE_CHANGED == true ]]; then log "/etc/hosts updated"; else log "/etc/hosts already up to date"; fi

log "time sync"
if [[ $CONTAINER != none ]]; then
  # A container reads its host's clock (a privileged one setting it would set the host's): the host keeps time.
  log "time sync: the host's clock ($CONTAINER container)"
elif systemctl cat chrony.service >/dev/null 2>&1; then
  systemctl enable --now chrony.service
else
  if ! systemctl cat systemd-timesyncd.service >/dev/null 2>&1; then
    apt_get update
    apt_get install systemd-timesyncd
  fi
  timedatectl set-ntp true
fi

log "prepare done on $NODE_NAME"
