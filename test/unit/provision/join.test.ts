// join.sh, token.sh and revoke-token.sh: CA-pinned joins; late workers get a fresh token; the token dies after the last join.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { renderInitConfiguration, renderJoinConfiguration } from "../../../bootstrap/provision/kubeadm.ts";
import {
  renderJoinScript,
  renderRevokeTokenScript,
  renderTokenScript,
} from "../../../bootstrap/provision/join.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";
import { FIXED_TOKEN, labOf, tempDir } from "../helpers.ts";

const HASH = `sha256:${"cd".repeat(32)}`;

describe("provision/join", () => {
  const lab = labOf();
  const worker = lab.workers[0]!;
  const script = renderJoinScript(lab, worker, FIXED_TOKEN, HASH);

  it("joins with the embedded JoinConfiguration (token and CA hash), never skipping CA verification", () => {
    expect(script).to.contain(renderJoinConfiguration(lab, worker, FIXED_TOKEN, HASH));
    expect(script).to.contain('kubeadm join --config "$CONFIG"');
    expect(script).not.to.match(/unsafe-skip-ca-verification|unsafeSkipCAVerification/);
  });

  it("leaves a joined node alone and resets a half-joined one", () => {
    expect(script).to.contain("KUBELET_KUBECONFIG=/etc/kubernetes/kubelet.conf");
    expect(script).to.contain("if [[ -f $KUBELET_KUBECONFIG ]]; then");
    expect(script).to.contain("kubeadm reset --force");
  });

  it("is done only once the kubelet registered the Node (kubeadm join returns before that)", () => {
    const join = script.indexOf('kubeadm join --config "$CONFIG" "${KUBEADM_FLAGS[@]}"');
    expect(join).to.be.greaterThan(0);
    expect(script.indexOf("wait_for_node ||", join)).to.be.greaterThan(join);
    expect(script).to.contain('kubectl --kubeconfig "$KUBELET_KUBECONFIG" get node "$NODE_NAME"');
    expect(script).to.contain("NODE_NAME='w1-k8s'");
  });

  it("learns what kubeadm needs of the host on the node, before joining", () => {
    expect(script.indexOf("kubeadm_host_facts\n")).to.be.lessThan(script.indexOf("kubeadm join --config"));
    expect(renderJoinConfiguration(lab, worker, FIXED_TOKEN, HASH)).to.contain(
      "patches:\n  directory: /etc/kubernetes/kubelab/patches\n",
    );
  });

  it("removes its config (it holds the token) after a successful join", () => {
    expect(script.indexOf('rm -f "$CONFIG"')).to.be.greaterThan(script.indexOf("kubeadm join --config"));
  });

  it("token.sh registers the given token with a TTL, once, without printing it", () => {
    const token = renderTokenScript(lab, FIXED_TOKEN);
    expect(token).to.contain(`TOKEN='${FIXED_TOKEN}'`);
    expect(token).to.contain("TOKEN_ID='abcdef'");
    expect(token).to.match(/kubeadm token create "\$TOKEN" --ttl 2h0m0s .*>\/dev\/null/);
    expect(token).to.contain('if [[ $existing == *"$TOKEN_ID."* ]]; then');
  });

  describe("revoke-token.sh, run on a stand-in control plane (private /etc, a kubeadm that keeps its tokens in a file)", () => {
    before(() => requireSystemTool("shellcheck"));

    /** Runs the script twice with /etc/kubernetes/kubelab/kubeadm-init.yaml as init.sh left it. */
    async function revokeTwice(tokenKnown: boolean) {
      const sandbox = await tempDir();
      await mkdir(join(sandbox, "bin"));
      await writeFile(join(sandbox, "tokens"), tokenKnown ? `${FIXED_TOKEN}\n` : "");
      // kubeadm token delete ID: removes the token from the list, or fails like kubeadm with "not found".
      await writeFile(
        join(sandbox, "bin", "kubeadm"),
        `#!/usr/bin/env bash
[[ $1 == token && $2 == delete ]] || exit 3
if grep -q "^$3\\." "$SANDBOX/tokens"; then sed -i "/^$3\\./d" "$SANDBOX/tokens"; exit 0; fi
echo "failed to delete bootstrap token: bootstrap token '$3' not found" >&2; exit 1
`,
      );
      await chmod(join(sandbox, "bin", "kubeadm"), 0o755);
      await writeFile(join(sandbox, "init.yaml"), renderInitConfiguration(lab, FIXED_TOKEN));
      await writeFile(join(sandbox, "revoke.sh"), renderRevokeTokenScript(lab, "abcdef"));
      const driver = `set -u
mount -t tmpfs none /etc && mkdir -p /etc/kubernetes/kubelab && cp "$SANDBOX/init.yaml" /etc/kubernetes/kubelab/kubeadm-init.yaml
for run in 1 2; do bash "$SANDBOX/revoke.sh" >"$SANDBOX/run$run.log" 2>&1; echo $? >"$SANDBOX/run$run.rc"; done
cp /etc/kubernetes/kubelab/kubeadm-init.yaml "$SANDBOX/after.yaml"`;
      await execa("unshare", ["--user", "--map-root-user", "--mount", "bash", "-c", driver], {
        env: { SANDBOX: sandbox, PATH: `${join(sandbox, "bin")}:${process.env.PATH}` },
      });
      const read = (name: string) => readFile(join(sandbox, name), "utf8");
      return { read, sandbox };
    }

    it("deletes the token, scrubs its secret from kubeadm-init.yaml, and a second run changes nothing", async () => {
      const { read } = await revokeTwice(true);
      expect([await read("run1.rc"), await read("run2.rc")]).to.deep.equal(["0\n", "0\n"]);
      expect(await read("run1.log")).to.contain("bootstrap token abcdef deleted");
      expect(await read("run2.log")).to.contain("bootstrap token abcdef was already gone");
      expect(await read("tokens")).to.equal("");
      const after = await read("after.yaml");
      expect(after).not.to.contain(FIXED_TOKEN);
      expect(after).to.contain("  - # token abcdef deleted by kubelab after the last join");
    });

    it("passes shellcheck and carries the token id only", async () => {
      const { sandbox } = await revokeTwice(false);
      const script = renderRevokeTokenScript(lab, "abcdef");
      expect(script).to.contain("TOKEN_ID='abcdef'").and.not.to.contain(FIXED_TOKEN);
      const lint = await execa("shellcheck", ["--severity=style", join(sandbox, "revoke.sh")], {
        reject: false,
      });
      expect(lint.exitCode, `shellcheck:\n${lint.stdout}`).to.equal(0);
    });
  });
});
