// The kube helpers that need no API server: the field manager and which errors are worth retrying.
import { ApiException } from "@kubernetes/client-node";
import { expect } from "chai";

import { FIELD_MANAGER, isTransient } from "../../../bootstrap/kube/client.ts";

describe("kube/client", () => {
  it("applies as field manager kubelab-bootstrap", () => {
    expect(FIELD_MANAGER).to.equal("kubelab-bootstrap");
  });

  it("retries what can pass later (connection refused, 5xx, 429) and not what cannot (403, 422)", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 192.168.56.10:6443"), {
      code: "ECONNREFUSED",
    });
    expect(isTransient(refused)).to.equal(true);
    expect(isTransient(new TypeError("fetch failed", { cause: refused }))).to.equal(true);
    expect(isTransient(new ApiException(503, "unavailable", "", {}))).to.equal(true);
    expect(isTransient(new ApiException(429, "slow down", "", {}))).to.equal(true);
    expect(isTransient(new ApiException(403, "forbidden", "", {}))).to.equal(false);
    expect(isTransient(new ApiException(422, "invalid", "", {}))).to.equal(false);
    expect(isTransient(new Error("certificate signed by unknown authority"))).to.equal(false);
  });
});
