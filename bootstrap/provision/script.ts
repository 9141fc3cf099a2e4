// Shared pieces of the rendered node scripts: header, quoting and the small bash helpers every script uses.
import type { Lab, LabNode } from "../lab/config.ts";
import { KUBEADM_PATCHES_DIR } from "./kubeadm.ts";

/** Quotes a value for bash as one word (single quotes; embedded quotes closed and escaped). */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The start of every node script: shebang, what it does, strict mode and the helpers. Scripts never use
 * `set -x`: some embed the bootstrap token.
 */
export function scriptHeader(
  kind: string,
  lab: Lab,
  node: LabNode,
  purpose: readonly string[],
  helpers: readonly ScriptHelper[] = [],
): string {
  return `#!/usr/bin/env bash
# kubelab ${kind} script for ${node.name} (lab ${lab.name}), rendered by \`bootstrap up\`: edit lab.yaml, not this file.
${purpose.map((line) => `# ${line}`).join("\n")}
# Idempotent: running it again changes only what is not already as wanted.
set -euo pipefail

log() { printf '==> %s\\n' "$*"; }
fail() { printf 'kubelab: %s\\n' "$*" >&2; exit 1; }
${helpers.map((helper) => HELPERS[helper]).join("")}`;
}

/** Optional bash helpers a script can ask for (unused helpers would be noise, and shellcheck warnings). */
export type ScriptHelper = "put_file" | "apt_get" | "kubeadm_host_facts";

const HELPERS: Record<ScriptHelper, string> = {
  put_file: `
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
`,
  apt_get: `
# apt_get ARGS...: apt-get that waits for the dpkg lock (first boot runs unattended-upgrades) and retries downloads.
apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -y -q "$@"
}
`,
  kubeadm_host_facts: `
# kubeadm_host_facts: what kubeadm init/join must know of this host, as KUBEADM_FLAGS and a kubelet patch
# in ${KUBEADM_PATCHES_DIR}. On cgroup v1 (a hybrid host running node containers; the lab's VM
# boxes run cgroup v2 and get neither) the kubelet (1.35+) starts only with failCgroupV1: false, and
# kubeadm's SystemVerification preflight check fails: it is the one check skipped, and only there.
kubeadm_host_facts() {
  local patch=${KUBEADM_PATCHES_DIR}/kubeletconfiguration.yaml
  install -d -m 0700 ${KUBEADM_PATCHES_DIR}
  KUBEADM_FLAGS=()
  if [[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]]; then
    rm -f "$patch"
  else
    log "cgroup v1 host: kubelet failCgroupV1=false, kubeadm preflight without SystemVerification"
    printf 'failCgroupV1: false\\n' >"$patch"
    KUBEADM_FLAGS=(--ignore-preflight-errors=SystemVerification)
  fi
}
`,
};

/** The `IP NAME` lines every node gets in /etc/hosts, control plane first. */
export function hostsLines(lab: Lab): string {
  return lab.nodes.map((node) => `${node.ip} ${node.name}`).join("\n");
}
