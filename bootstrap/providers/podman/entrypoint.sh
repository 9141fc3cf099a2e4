#!/bin/bash
# kubelab node entrypoint (podman provider): makes a systemd container look enough like a machine for systemd,
# containerd and the kubelet, then hands PID 1 to systemd. Baked into the node image as /usr/local/bin/kubelab-entrypoint.
set -euo pipefail

info() { printf 'kubelab-entrypoint: %s\n' "$*" >&2; }

# The mounts of the cgroup v1 hierarchies, one "ROOT MOUNT_POINT" line each, as the kernel lists them in
# /proc/self/mountinfo (the filesystem type follows the " - " separator; fields 4 and 5 are root and mount point).
v1_hierarchy_mounts() {
  awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup") print $4, $5; break } }' /proc/self/mountinfo
}

# cgroup v1 with the host's cgroup namespace (--cgroupns=host): the runtime mounts each hierarchy rooted at the
# container's own cgroup (/sys/fs/cgroup/memory is the host's /libpod_parent/libpod-ID), while /proc/self/cgroup
# names the full host path. systemd, runc and the kubelet join the two, so each hierarchy is bind-mounted under
# that path as well: /sys/fs/cgroup/memory/libpod_parent/libpod-ID is then the container's cgroup in both views.
# podman stacks the host's whole name=systemd tree over the container's own: that stack is unmounted first, or
# the kubelet's /kubepods.slice there would be the host's, not the one the node's systemd makes.
fix_cgroup_v1() {
  if [[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]]; then
    info "cgroup v2: the runtime gave the container its own cgroup namespace, nothing to fix"
    return
  fi
  local -A root_of=() stacked=()
  local root mount_point
  while read -r root mount_point; do
    if [[ $root == / && -n ${root_of[$mount_point]:-} && ${root_of[$mount_point]} != / ]]; then
      stacked[$mount_point]=1
      continue
    fi
    root_of[$mount_point]=$root
  done < <(v1_hierarchy_mounts)
  for mount_point in "${!stacked[@]}"; do
    umount --recursive "$mount_point"
  done
  for mount_point in "${!root_of[@]}"; do
    root=${root_of[$mount_point]}
    [[ $root != / ]] || continue
    if ! mountpoint -q "$mount_point$root"; then
      mkdir -p "$mount_point$root"
      mount --bind "$mount_point" "$mount_point$root"
    fi
  done
  info "cgroup v1: ${#root_of[@]} hierarchies, each also at the container's own path (${#stacked[@]} unstacked)"
}

# The image is shared by every node: each container gets its own machine id (the kubelet reports it, and the
# journal is keyed by it); kept across restarts of the same container.
fix_machine_id() {
  if [[ ! -s /etc/machine-id ]]; then
    systemd-machine-id-setup >/dev/null
    info "machine id $(cat /etc/machine-id)"
  fi
}

# The kubelet's mount propagation (Bidirectional volumes, CSI) needs shared mounts; runtimes make them private.
fix_mount_propagation() {
  mount --make-rshared /
}

# The node's own traffic to a ClusterIP needs a route before kube-proxy's DNAT can rewrite it, and the lab's
# --internal network gives no default route. KUBELAB_SERVICE_CIDR (set by the provider) is routed on-link out
# of the node's interface: an address no Service holds finds no neighbour and goes nowhere, never off the
# machine. A node that already has a route for it (a default route) is left as it is.
route_service_cidr() {
  local cidr=${KUBELAB_SERVICE_CIDR:-} device
  [[ -n $cidr ]] || return 0
  if ip -4 route get "${cidr%/*}" >/dev/null 2>&1; then
    return 0
  fi
  device=$(ip -o -4 route show scope link | awk 'NR == 1 { print $3 }')
  [[ -n $device ]] || { info "no network interface to route $cidr through"; return 1; }
  ip -4 route add "$cidr" dev "$device"
  info "route: $cidr on-link via $device"
}

# The kubelet tunes a few kernel-wide sysctls (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1,
# kernel.keys.root_maxkeys and root_maxbytes). On a VM that is its own kernel; in a privileged container it is
# the host's, for every process on the machine. Each is shadowed by a file of the container's own, holding the
# host's value, which the kubelet may rewrite; the host's kernel keeps its settings.
shield_kernel_tunables() {
  local dir=/run/kubelab-sysctl name file
  mkdir -p "$dir"
  for name in vm/overcommit_memory kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
    [[ -f /proc/sys/$name ]] || continue
    file=$dir/${name//\//.}
    cat "/proc/sys/$name" >"$file"
    mount --bind "$file" "/proc/sys/$name"
  done
  info "kernel-wide sysctls the kubelet tunes are the container's own copies"
}

fix_mount_propagation
fix_cgroup_v1
shield_kernel_tunables
fix_machine_id
route_service_cidr
exec "$@"
