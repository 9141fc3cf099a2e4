// Renders join.sh for a worker and token.sh, which mints a fresh join token on the control plane.
import type { Lab, LabNode } from "../lab/config.ts";
import { BOOTSTRAP_TOKEN_TTL, renderJoinConfiguration } from "./kubeadm.ts";
import { tokenId } from "./token.ts";
import { NODE_CONFIG_DIR } from "./init.ts";
import { scriptHeader, shellQuote } from "./script.ts";

/**
 * join.sh for a worker: `kubeadm join --config` with the bootstrap token and the CA public-key pin
 * (caCertHashes), so the worker verifies the API server it discovers. A joined node (kubelet.conf exists)
 * is left alone; a join that failed half-way is reset first. Done means the kubelet registered the Node
 * (kubeadm returns before that). Embeds the token: write it with mode 0600.
 */
export function renderJoinScript(lab: Lab, node: LabNode, token: string, caCertHash: string): string {
  return `${scriptHeader(
    "join",
    lab,
    node,
    [`Joins the cluster at ${lab.controlPlane.ip}, verifying its CA by public-key hash.`],
    ["kubeadm_host_facts"],
  )}
CONFIG_DIR=${NODE_CONFIG_DIR}
CONFIG=$CONFIG_DIR/kubeadm-join.yaml
NODE_NAME=${shellQuote(node.name)}
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
  log "${node.name} has already joined"
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
${renderJoinConfiguration(lab, node, token, caCertHash)}EOF
)
kubeadm_host_facts
log "kubeadm join ${lab.controlPlane.ip}"
kubeadm join --config "$CONFIG" "\${KUBEADM_FLAGS[@]}"
rm -f "$CONFIG"
wait_for_node || fail "the kubelet did not register the Node $NODE_NAME within 3 minutes (journalctl -u kubelet)"

log "join done on ${node.name}"
`;
}

/**
 * token.sh, run on the control plane before a late join: registers `token` (made on the host, so it is
 * known without reading it back from a log) with the standard TTL, unless it already exists. Prints no
 * token. Embeds the token: write it with mode 0600.
 */
export function renderTokenScript(lab: Lab, token: string): string {
  return `${scriptHeader("token", lab, lab.controlPlane, [
    "Creates a fresh bootstrap token for workers that join after the first one expired.",
  ])}
TOKEN=${shellQuote(token)}
TOKEN_ID=${shellQuote(tokenId(token))}
export KUBECONFIG=/etc/kubernetes/admin.conf

existing=$(kubeadm token list 2>/dev/null || true)
if [[ $existing == *"$TOKEN_ID."* ]]; then
  log "bootstrap token $TOKEN_ID already exists"
else
  kubeadm token create "$TOKEN" --ttl ${BOOTSTRAP_TOKEN_TTL} --description ${shellQuote(`kubelab join token for lab ${lab.name}`)} >/dev/null
  log "bootstrap token $TOKEN_ID created (valid ${BOOTSTRAP_TOKEN_TTL})"
fi
`;
}

/**
 * revoke-token.sh for the control plane, run once every worker has joined: deletes the bootstrap token
 * `tokenId` (already gone is fine) and scrubs its secret from the kubeadm init configuration left in
 * /etc/kubernetes/kubelab/, so nothing on the node can still join a machine to the cluster. Only the public
 * token id is in the script. A later join mints a fresh token first (token.sh).
 */
export function renderRevokeTokenScript(lab: Lab, tokenId: string): string {
  return `${scriptHeader("revoke-token", lab, lab.controlPlane, [
    "Deletes the join token once every worker has joined, and scrubs it from the kubeadm files left here.",
  ])}
TOKEN_ID=${shellQuote(tokenId)}
INIT_CONFIG=/etc/kubernetes/kubelab/kubeadm-init.yaml
export KUBECONFIG=/etc/kubernetes/admin.conf

if output=$(kubeadm token delete "$TOKEN_ID" 2>&1); then
  log "bootstrap token $TOKEN_ID deleted"
elif [[ $output == *"not found"* ]]; then
  log "bootstrap token $TOKEN_ID was already gone"
else
  fail "kubeadm token delete $TOKEN_ID: $output"
fi
if [[ -f $INIT_CONFIG ]] && grep -Eq "^  - token: $TOKEN_ID\\.[a-z0-9]{16}$" "$INIT_CONFIG"; then
  sed -i -E "s/^  - token: $TOKEN_ID\\.[a-z0-9]{16}$/  - # token $TOKEN_ID deleted by kubelab after the last join/" "$INIT_CONFIG"
  log "token secret removed from $INIT_CONFIG"
fi
`;
}
