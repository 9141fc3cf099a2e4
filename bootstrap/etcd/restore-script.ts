// Renders restore-etcd.sh: the kubeadm etcd restore procedure on the control-plane node, for `bootstrap restore`.
import type { Lab } from "../lab/config.ts";
import { shellQuote } from "../provision/script.ts";

/** What the script restores and where to; fixed on the host so the rendered file says it all. */
export interface RestoreScriptOptions {
  /** The snapshot file on the node (spec.directory/spec.fileName of its EtcdSnapshot). */
  readonly snapshotPath: string;
  /** Its sha256 as recorded (checked before anything is stopped). */
  readonly sha256: string;
  /** Names the new data directory and the stash: `20261126T233005Z`. */
  readonly stamp: string;
  /** How long each wait may take (containers gone, etcd and API server back). Default 300. */
  readonly waitSeconds?: number;
}

/** The line the script ends with on success; the provider reads the directories from it. */
const RESTORE_RESULT_MARKER = "kubelab-restore-result:";

/** The new data directory of a restore: a sibling of kubeadm's /var/lib/etcd, never an existing one. */
export function restoreDataDir(stamp: string): string {
  return `/var/lib/etcd-restore-${stamp}`;
}

/** Parses the script's last line: `kubelab-restore-result: data-dir=NEW previous-data-dir=OLD`. */
export function parseRestoreResult(stdout: string): { dataDir: string; previousDataDir: string } | undefined {
  const line = stdout
    .split("\n")
    .reverse()
    .find((candidate) => candidate.startsWith(RESTORE_RESULT_MARKER));
  const match = /data-dir=(\S+) previous-data-dir=(\S+)/.exec(line ?? "");
  return match === null ? undefined : { dataDir: match[1]!, previousDataDir: match[2]! };
}

/**
 * restore-etcd.sh, run as root on the control plane. The kubeadm procedure (kubernetes.io, "Operating etcd
 * clusters", restoring): check the snapshot (sha256 as recorded, then `etcdutl snapshot status`) while
 * everything still runs, so a bad file changes nothing; move the control plane's static pod manifests
 * out of /etc/kubernetes/manifests (kube-apiserver and etcd, and the controller-manager and scheduler so
 * that they too start over from the restored state) and wait until crictl shows their containers gone;
 * `etcdutl snapshot restore` with the member's name and peer URLs from etcd.yaml into a NEW data dir
 * (staged beside it and renamed, so it only ever appears complete), with `--bump-revision` and
 * `--mark-compacted` as the Kubernetes docs advise (clients' watches from before are told to re-list
 * instead of missing events); point etcd.yaml's `--data-dir` and hostPath at it; move the manifests back;
 * restart the kubelet; wait until the API server answers /readyz. The old data dir is kept.
 *
 * etcdutl is the etcd image's own, run with `ctr run` from the image etcd.yaml names: that image is
 * already on the node (the kubelet pulled it for etcd), so nothing is downloaded and etcdutl is exactly
 * the running etcd's version (a restore needs etcdutl of at least the snapshot's storage version). A
 * binary copied from a release would have to be downloaded, verified and kept in step with kubeadm's
 * etcd version by hand.
 *
 * Idempotent where it can be: the same script run again after it finished only waits for the API server;
 * run after an interruption it finds the stashed manifests and the restored dir and goes on; a new restore
 * after an interrupted one first puts the earlier stash's manifests back.
 */
export function renderRestoreScript(lab: Lab, options: RestoreScriptOptions): string {
  const node = lab.controlPlane;
  const waitSeconds = options.waitSeconds ?? 300;
  return `#!/usr/bin/env bash
# kubelab restore-etcd script for ${node.name} (lab ${lab.name}), rendered by \`bootstrap restore\`.
# Restores etcd from a snapshot into a new data dir, the kubeadm way; the old data dir is kept.
set -euo pipefail

log() { printf '==> %s\\n' "$*"; }
fail() { printf 'kubelab: %s\\n' "$*" >&2; exit 1; }

SNAPSHOT=${shellQuote(options.snapshotPath)}
SNAPSHOT_SHA256=${shellQuote(options.sha256)}
NEW_DATA_DIR=${shellQuote(restoreDataDir(options.stamp))}
STAGING=$NEW_DATA_DIR.partial
MANIFESTS=/etc/kubernetes/manifests
STASH=${shellQuote(`/etc/kubernetes/kubelab-restore-${options.stamp}`)}
ADMIN_KUBECONFIG=/etc/kubernetes/admin.conf
WAIT_SECONDS=${waitSeconds}
# etcd first back, kube-apiserver after it; all four out while etcd's data changes.
STATIC_PODS=(etcd kube-apiserver kube-controller-manager kube-scheduler)

# An earlier restore that was interrupted may have left the manifests in its stash: put them back first.
for stash in /etc/kubernetes/kubelab-restore-*; do
  [[ -d $stash && $stash != "$STASH" ]] || continue
  for pod in "\${STATIC_PODS[@]}"; do
    if [[ -f $stash/$pod.yaml && ! -f $MANIFESTS/$pod.yaml ]]; then
      log "putting back $pod.yaml from an interrupted restore ($stash)"
      mv "$stash/$pod.yaml" "$MANIFESTS/$pod.yaml"
    fi
  done
done

# manifest NAME: where NAME.yaml is now (the manifests dir, or this restore's stash).
manifest() {
  if [[ -f $MANIFESTS/$1.yaml ]]; then
    printf '%s\\n' "$MANIFESTS/$1.yaml"
  elif [[ -f $STASH/$1.yaml ]]; then
    printf '%s\\n' "$STASH/$1.yaml"
  else
    fail "no static pod manifest $1.yaml in $MANIFESTS (is this a kubeadm control plane?)"
  fi
}

# flag NAME: the value of etcd's --NAME=VALUE in its manifest.
flag() {
  sed -nE "s|^[[:space:]]*- --$1=(.*)\\$|\\1|p" "$(manifest etcd)" | head -n 1
}

ETCD_IMAGE=$(sed -nE 's/^[[:space:]]*image:[[:space:]]*"?([^" ]+)"?.*$/\\1/p' "$(manifest etcd)" | head -n 1)
CURRENT_DATA_DIR=$(flag data-dir)
[[ -n $ETCD_IMAGE && -n $CURRENT_DATA_DIR ]] || fail "cannot read the image and --data-dir of $(manifest etcd)"

wait_for_api_server() {
  local waited=0
  until kubectl --kubeconfig "$ADMIN_KUBECONFIG" get --raw=/readyz >/dev/null 2>&1; do
    ((waited < WAIT_SECONDS)) || fail "the API server did not answer /readyz within \${WAIT_SECONDS}s (crictl ps -a; journalctl -u kubelet)"
    if ((waited % 30 == 0)); then log "waiting for the API server (\${waited}s)"; fi
    sleep 2
    waited=$((waited + 2))
  done
}

result() {
  log "etcd runs on $NEW_DATA_DIR; the previous data dir $1 is kept"
  printf '${RESTORE_RESULT_MARKER} data-dir=%s previous-data-dir=%s\\n' "$NEW_DATA_DIR" "$1"
}

if [[ $CURRENT_DATA_DIR == "$NEW_DATA_DIR" && -f $MANIFESTS/etcd.yaml && -f $MANIFESTS/kube-apiserver.yaml ]]; then
  log "etcd already runs on $NEW_DATA_DIR"
  wait_for_api_server
  result "$(cat "$STASH/previous-data-dir")"
  exit 0
fi

# etcdutl ARGS...: the etcd image's etcdutl, with the snapshot's directory read-only and the staging dir.
etcdutl() {
  ctr --namespace k8s.io run --rm \\
    --mount "type=bind,src=$(dirname "$SNAPSHOT"),dst=/snapshots,options=rbind:ro" \\
    --mount "type=bind,src=$STAGING,dst=/restore,options=rbind:rw" \\
    "$ETCD_IMAGE" "kubelab-etcdutl-$$" etcdutl "$@"
}

log "checking $SNAPSHOT"
[[ -f $SNAPSHOT ]] || fail "snapshot $SNAPSHOT does not exist on ${node.name}"
actual_sha256=$(sha256sum "$SNAPSHOT" | cut -d ' ' -f 1)
[[ $actual_sha256 == "$SNAPSHOT_SHA256" ]] ||
  fail "snapshot $SNAPSHOT has sha256 $actual_sha256, not $SNAPSHOT_SHA256 as recorded: refusing to restore it"
if ! ctr --namespace k8s.io images list --quiet | grep -qxF "$ETCD_IMAGE"; then
  log "pulling $ETCD_IMAGE for etcdutl"
  crictl pull "$ETCD_IMAGE" >/dev/null
fi
SNAPSHOT_IN_CONTAINER=/snapshots/$(basename "$SNAPSHOT")
if [[ ! -d $NEW_DATA_DIR ]]; then
  rm -rf "$STAGING"
  install -d -m 0700 "$STAGING"
  etcdutl snapshot status "$SNAPSHOT_IN_CONTAINER" --write-out=table ||
    fail "etcdutl snapshot status rejected $SNAPSHOT: refusing to restore it"
fi

install -d -m 0700 "$STASH"
[[ -f $STASH/previous-data-dir ]] || printf '%s\\n' "$CURRENT_DATA_DIR" >"$STASH/previous-data-dir"
PREVIOUS_DATA_DIR=$(cat "$STASH/previous-data-dir")
MEMBER_NAME=$(flag name)
PEER_URLS=$(flag initial-advertise-peer-urls)
INITIAL_CLUSTER=$(flag initial-cluster)

log "stopping the control plane's static pods"
for pod in "\${STATIC_PODS[@]}"; do
  if [[ -f $MANIFESTS/$pod.yaml ]]; then mv "$MANIFESTS/$pod.yaml" "$STASH/$pod.yaml"; fi
done
for pod in "\${STATIC_PODS[@]}"; do
  waited=0
  while [[ -n $(crictl ps --quiet --name "^$pod\\$" 2>/dev/null) ]]; do
    ((waited < WAIT_SECONDS)) || fail "the $pod container still runs after \${WAIT_SECONDS}s; manifests are in $STASH"
    sleep 2
    waited=$((waited + 2))
  done
done

if [[ -d $NEW_DATA_DIR ]]; then
  log "$NEW_DATA_DIR was restored already"
else
  log "etcdutl snapshot restore into $NEW_DATA_DIR"
  rm -rf "$STAGING"
  install -d -m 0700 "$STAGING"
  etcdutl snapshot restore "$SNAPSHOT_IN_CONTAINER" \\
    --data-dir=/restore/data \\
    --name="$MEMBER_NAME" \\
    --initial-cluster="$INITIAL_CLUSTER" \\
    --initial-advertise-peer-urls="$PEER_URLS" \\
    --bump-revision=1000000000 \\
    --mark-compacted ||
    fail "etcdutl snapshot restore failed; the manifests are in $STASH, the old data in $PREVIOUS_DATA_DIR (move them back to undo)"
  mv "$STAGING/data" "$NEW_DATA_DIR"
  rmdir "$STAGING"
fi

log "pointing etcd at $NEW_DATA_DIR"
[[ -f $STASH/etcd.yaml.before-restore ]] || cp -p "$STASH/etcd.yaml" "$STASH/etcd.yaml.before-restore"
old=$(printf '%s' "$PREVIOUS_DATA_DIR" | sed 's/[][\\.*^$|]/\\\\&/g')
sed -i -E \\
  -e "s|^([[:space:]]*- --data-dir=)\${old}\\$|\\1$NEW_DATA_DIR|" \\
  -e "s|^([[:space:]]*(- )?mountPath: )\${old}\\$|\\1$NEW_DATA_DIR|" \\
  -e "s|^([[:space:]]*(- )?path: )\${old}\\$|\\1$NEW_DATA_DIR|" \\
  "$STASH/etcd.yaml"
grep -qF -- "--data-dir=$NEW_DATA_DIR" "$STASH/etcd.yaml" || fail "could not point $STASH/etcd.yaml at $NEW_DATA_DIR"

log "starting etcd and the control plane again"
for pod in "\${STATIC_PODS[@]}"; do
  if [[ -f $STASH/$pod.yaml ]]; then mv "$STASH/$pod.yaml" "$MANIFESTS/$pod.yaml"; fi
done
if systemctl is-active --quiet kubelet; then systemctl restart kubelet; fi
wait_for_api_server
result "$PREVIOUS_DATA_DIR"
`;
}
