// Bootstrap tokens: kubeadm's format, fresh randomness per lab, and redaction from logs.
import { expect } from "chai";

import {
  BOOTSTRAP_TOKEN_PATTERN,
  randomBootstrapToken,
  redactTokens,
  tokenId,
} from "../../../bootstrap/provision/token.ts";

describe("provision/token", () => {
  it("has kubeadm's format [a-z0-9]{6}.[a-z0-9]{16}", () => {
    for (let i = 0; i < 200; i++) expect(randomBootstrapToken()).to.match(BOOTSTRAP_TOKEN_PATTERN);
  });

  it("is different every time (1000 tokens, no repeat) and uses the whole alphabet", () => {
    const tokens = Array.from({ length: 1000 }, () => randomBootstrapToken());
    expect(new Set(tokens).size).to.equal(1000);
    const letters = new Set(tokens.join("").replace(/\./g, ""));
    expect(letters.size).to.equal(36);
  });

  it("redacts anything token-shaped and keeps the rest of the line", () => {
    expect(redactTokens("kubeadm join 1.2.3.4:6443 --token abcdef.0123456789abcdef --x")).to.equal(
      "kubeadm join 1.2.3.4:6443 --token <redacted-token> --x",
    );
    expect(redactTokens("no secret here 1.36.5")).to.equal("no secret here 1.36.5");
  });

  it("tokenId is the public half", () => {
    expect(tokenId("abcdef.0123456789abcdef")).to.equal("abcdef");
  });
});
