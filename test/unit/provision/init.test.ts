// init.sh: kubeadm init once, from the rendered config, token never printed, admin kubeconfig for the user.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { renderInitConfiguration } from "../../../bootstrap/provision/kubeadm.ts";
import { KUBE_PROXY_KEEP_CONNTRACK, renderInitScript } from "../../../bootstrap/provision/init.ts";
import { FIXED_TOKEN, labOf, tempDir } from "../helpers.ts";

describe("provision/init", () => {
  const lab = labOf();
  const script = renderInitScript(lab, FIXED_TOKEN);

  it("runs kubeadm init with the embedded v1beta4 config and does not print the token", () => {
    expect(script).to.contain(renderInitConfiguration(lab, FIXED_TOKEN));
    expect(script).to.contain('kubeadm init --config "$CONFIG" --skip-token-print');
    expect(script).not.to.contain("--token ");
  });

  it("learns what kubeadm needs of the host on the node and passes it to kubeadm init", () => {
    expect(script).to.contain(
      'kubeadm_host_facts\n  log "kubeadm init (kubeadm $kubeadm_version)"\n  kubeadm init --config "$CONFIG" --skip-token-print "${KUBEADM_FLAGS[@]}"\n',
    );
    expect(renderInitConfiguration(lab, FIXED_TOKEN)).to.contain(
      "patches:\n  directory: /etc/kubernetes/kubelab/patches\n",
    );
  });

  it("tells kube-proxy to leave the conntrack table only where the node cannot size it", async () => {
    const part = script.slice(
      script.indexOf("  if [[ -e $CONNTRACK_MAX"),
      script.indexOf("  kubeadm_host_facts\n"),
    );
    const dir = await tempDir();
    const run = async (conntrackMax: string) => {
      const config = join(dir, "kubeadm-init.yaml");
      await writeFile(config, "kind: InitConfiguration\n");
      const snippet = `log() { :; }\nCONFIG=${config}\nCONNTRACK_MAX=${conntrackMax}\n${part}`;
      await execa("bash", ["-c", snippet]);
      return readFile(config, "utf8");
    };
    // A read-only sysctl stands for nf_conntrack_max in a node container's network namespace.
    expect(await run("/proc/sys/kernel/ngroups_max")).to.equal(
      `kind: InitConfiguration\n${KUBE_PROXY_KEEP_CONNTRACK}`,
    );
    const writable = join(dir, "nf_conntrack_max");
    await writeFile(writable, "262144\n");
    expect(await run(writable)).to.equal("kind: InitConfiguration\n");
    expect(await run(join(dir, "absent"))).to.equal("kind: InitConfiguration\n");
  });

  it("writes the config owner-only and fills in the installed kubeadm's version", () => {
    expect(script).to.match(
      /umask 077\n\s+sed "s\/@INSTALLED_KUBEADM_VERSION@\/\$kubeadm_version\/" >"\$CONFIG"/,
    );
  });

  it("is idempotent: a marker skips a finished init, leftovers of a failed one are reset", () => {
    expect(script).to.contain("if [[ -f $DONE_MARKER ]]; then");
    expect(script).to.contain("kubeadm reset --force");
    expect(script.indexOf("kubeadm init --config")).to.be.lessThan(script.indexOf('touch "$DONE_MARKER"'));
  });

  it("gives the admin kubeconfig to root and to the sudo user, owner-only", () => {
    expect(script).to.contain('install -m 0600 "$ADMIN_KUBECONFIG" /root/.kube/config');
    expect(script).to.contain("admin_user=${SUDO_USER:-}");
    expect(script).to.contain('install -m 0600 -o "$admin_user"');
  });
});
