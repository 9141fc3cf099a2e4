// Renders prepare.sh: the host settings kubeadm's preflight checks expect, on every node.
import type { Lab, LabNode } from "../lab/config.ts";
import { hostsLines, scriptHeader, shellQuote } from "./script.ts";

/**
 * prepare.sh for `node`: swap off now and in fstab, overlay and br_netfilter loaded now and at boot,
 * bridge-nf-call and ip_forward sysctls, every lab node in /etc/hosts (a managed block, replaced on each
 * run, so adding a worker updates every node), and time sync (certificates and etcd need sane clocks).
 */
export function renderPrepareScript(lab: Lab, node: LabNode): string {
  return `${scriptHeader(
    "prepare",
    lab,
    node,
    ["Prepares the host for kubeadm: swap, kernel modules, sysctls, /etc/hosts, time sync."],
    ["put_file", "apt_get"],
  )}
NODE_NAME=${shellQuote(node.name)}

log "swap: off now and after reboot"
swapoff -a
if grep -Eq '^[^#[:space:]][^#]*[[:space:]]swap[[:space:]]' /etc/fstab; then
  sed -i.kubelab-backup -E 's/^([^#[:space:]][^#]*[[:space:]]swap[[:space:]].*)$/# \\1  # swap disabled by kubelab/' /etc/fstab
  systemctl daemon-reload
fi

log "kernel modules: overlay, br_netfilter (now and at boot)"
put_file /etc/modules-load.d/kubelab.conf 0644 <<'EOF'
overlay
br_netfilter
EOF
modprobe overlay
modprobe br_netfilter

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
  awk -v name="$NODE_NAME" '$1 ~ /^127\\.0\\.[12]\\.1$/ { for (i = 2; i <= NF; i++) if ($i == name) next } { print }' >"$hosts_new"
cat >>"$hosts_new" <<'EOF'
# BEGIN kubelab nodes (managed by bootstrap)
${hostsLines(lab)}
# END kubelab nodes
EOF
put_file /etc/hosts 0644 <"$hosts_new"
rm -f "$hosts_new"
if [[ $FILE_CHANGED == true ]]; then log "/etc/hosts updated"; else log "/etc/hosts already up to date"; fi

log "time sync"
if systemctl cat chrony.service >/dev/null 2>&1; then
  systemctl enable --now chrony.service
else
  if ! systemctl cat systemd-timesyncd.service >/dev/null 2>&1; then
    apt_get update
    apt_get install systemd-timesyncd
  fi
  timedatectl set-ntp true
fi

log "prepare done on $NODE_NAME"
`;
}
