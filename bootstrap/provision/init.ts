// Renders init.sh: `kubeadm init --config` on the control plane, once, and the admin kubeconfig for the user.
import type { Lab } from "../lab/config.ts";
import { INSTALLED_KUBEADM_VERSION, renderInitConfiguration } from "./kubeadm.ts";
import { scriptHeader } from "./script.ts";

/** Where the node scripts keep kubeadm configs and markers on a node (root only). */
export const NODE_CONFIG_DIR = "/etc/kubernetes/kubelab";

/**
 * The KubeProxyConfiguration init.sh adds where the node cannot size the conntrack table: kube-proxy keeps
 * the table as it is instead of failing to start.
 */
export const KUBE_PROXY_KEEP_CONNTRACK = `---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
conntrack:
  maxPerCore: 0
`;

/**
 * init.sh for the control plane. It embeds the kubeadm configuration (and so the bootstrap token: the
 * caller writes it with mode 0600). A finished init is recorded by a marker and not repeated; an init that
 * failed half-way is reset first, since kubeadm refuses to run over its own leftovers. The token is never
 * printed (`--skip-token-print`). The user who ran the script through sudo (vagrant) gets ~/.kube/config.
 * What kubeadm must know of the host (cgroup v1) comes from kubeadm_host_facts, detected on the node; where
 * nf_conntrack_max is read-only (a node container's network namespace) kube-proxy is told to leave it.
 */
export function renderInitScript(lab: Lab, token: string): string {
  return `${scriptHeader(
    "init",
    lab,
    lab.controlPlane,
    ["Creates the cluster with kubeadm init and gives the admin kubeconfig to the ssh user."],
    ["kubeadm_host_facts"],
  )}
CONFIG_DIR=${NODE_CONFIG_DIR}
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
    sed "s/${INSTALLED_KUBEADM_VERSION}/$kubeadm_version/" >"$CONFIG" <<'EOF'
${renderInitConfiguration(lab, token)}EOF
  )
  # kube-proxy sizes the conntrack table (net.netfilter.nf_conntrack_max) as it starts, and fails where it
  # cannot: only the host's own network namespace may, so in a node container the file is read-only and the
  # table the host's. There kube-proxy is told to leave it (maxPerCore 0); a VM's kube-proxy sizes its own.
  if [[ -e $CONNTRACK_MAX && ! -w $CONNTRACK_MAX ]]; then
    log "conntrack table: the host's ($CONNTRACK_MAX is read-only here), kube-proxy leaves its size"
    cat >>"$CONFIG" <<'EOF'
${KUBE_PROXY_KEEP_CONNTRACK}EOF
  fi
  kubeadm_host_facts
  log "kubeadm init (kubeadm $kubeadm_version)"
  kubeadm init --config "$CONFIG" --skip-token-print "\${KUBEADM_FLAGS[@]}"
  touch "$DONE_MARKER"
fi

log "waiting for the API server"
wait_for_api_server || fail "the API server did not answer /readyz within 5 minutes (see: crictl ps -a)"

log "admin kubeconfig for root and the ssh user"
install -d -m 0700 /root/.kube
install -m 0600 "$ADMIN_KUBECONFIG" /root/.kube/config
admin_user=\${SUDO_USER:-}
if [[ -n $admin_user && $admin_user != root ]]; then
  admin_home=$(getent passwd "$admin_user" | cut -d: -f6)
  admin_group=$(id -gn "$admin_user")
  install -d -m 0700 -o "$admin_user" -g "$admin_group" "$admin_home/.kube"
  install -m 0600 -o "$admin_user" -g "$admin_group" "$ADMIN_KUBECONFIG" "$admin_home/.kube/config"
fi

log "init done on ${lab.controlPlane.name}"
`;
}
