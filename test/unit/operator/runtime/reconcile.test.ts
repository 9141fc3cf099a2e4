// The reconcile contract: which result means success, requeue, retry with backoff, no retry, or a bug.
import { expect } from "chai";

import { ApiConnectionError, ApiError, TemporaryError, TerminalError } from "../../../../operator/errors.ts";
import { Action, outcomeOf } from "../../../../operator/runtime/reconcile.ts";

describe("reconcile contract", () => {
  it("awaitChange is a success with no requeue", () => {
    expect(outcomeOf({ action: Action.awaitChange() })).to.deep.equal({
      kind: "success",
      requeueAfterMs: undefined,
    });
  });

  it("requeueAfter is a success that comes back after the delay (rounded up, never negative)", () => {
    expect(outcomeOf({ action: Action.requeueAfter(1500.2) })).to.deep.equal({
      kind: "success",
      requeueAfterMs: 1501,
    });
    expect(Action.requeueAfter(-5).requeueAfterMs).to.equal(0);
  });

  it("merges parts' actions: the soonest requeue wins, awaitChange only when nobody asks", () => {
    expect(
      Action.merge([Action.awaitChange(), Action.requeueAfter(500), Action.requeueAfter(100)]),
    ).to.deep.equal(Action.requeueAfter(100));
    expect(Action.merge([Action.awaitChange(), Action.awaitChange()])).to.deep.equal(Action.awaitChange());
    expect(Action.merge([])).to.deep.equal(Action.awaitChange());
  });

  it("retries a temporary error after its own delay, or with backoff when it gives none", () => {
    const withDelay = outcomeOf({ error: new TemporaryError("blocked", { retryAfterMs: 5000 }) });
    expect(withDelay).to.include({ kind: "retry", retryAfterMs: 5000 });
    expect(outcomeOf({ error: new TemporaryError("conflict") })).to.include({
      kind: "retry",
      retryAfterMs: undefined,
    });
  });

  it("never retries a terminal error", () => {
    expect(outcomeOf({ error: new TerminalError("bad spec") }).kind).to.equal("terminal");
  });

  it("retries API errors with backoff, honouring the server's Retry-After", () => {
    const throttled = new ApiError("GET", "/x", 429, "TooManyRequests", "slow down", 3);
    expect(outcomeOf({ error: throttled })).to.include({ kind: "retry", retryAfterMs: 3000 });
    expect(outcomeOf({ error: new ApiError("GET", "/x", 500, "InternalError", "boom") })).to.include({
      kind: "retry",
      retryAfterMs: undefined,
    });
    expect(
      outcomeOf({ error: new ApiConnectionError("GET", "/x", new Error("ECONNREFUSED")) }).kind,
    ).to.equal("retry");
  });

  it("counts anything else thrown as a panic (a bug), strings included", () => {
    expect(outcomeOf({ error: new TypeError("undefined is not a function") }).kind).to.equal("panic");
    const fromString = outcomeOf({ error: "oops" });
    expect(fromString.kind).to.equal("panic");
    expect(fromString.kind === "panic" && fromString.error.message).to.equal("oops");
  });
});
