// join.sh and token.sh: workers join with the CA pinned; late workers get a fresh token, never printed.
import { expect } from "chai";

import { renderJoinConfiguration } from "../../../bootstrap/provision/kubeadm.ts";
import { renderJoinScript, renderTokenScript } from "../../../bootstrap/provision/join.ts";
import { FIXED_TOKEN, labOf } from "../helpers.ts";

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
    expect(script).to.contain("if [[ -f /etc/kubernetes/kubelet.conf ]]; then");
    expect(script).to.contain("kubeadm reset --force");
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
});
