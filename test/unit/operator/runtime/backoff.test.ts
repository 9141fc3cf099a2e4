// Exponential backoff: reconcile retries grow from milliseconds to the ~15 minute cap and reset on success.
import { expect } from "chai";

import {
  backoffDelay,
  INFORMER_BACKOFF,
  KeyedBackoff,
  RECONCILE_BACKOFF,
} from "../../../../operator/runtime/backoff.ts";

describe("backoff", () => {
  it("doubles from 5 ms per failure, as controller-runtime's default rate limiter", () => {
    expect([1, 2, 3, 4, 5].map((failures) => backoffDelay(RECONCILE_BACKOFF, failures))).to.deep.equal([
      5, 10, 20, 40, 80,
    ]);
  });

  it("never exceeds 15 minutes, however many failures, and never overflows", () => {
    expect(backoffDelay(RECONCILE_BACKOFF, 30)).to.equal(15 * 60_000);
    expect(backoffDelay(RECONCILE_BACKOFF, 10_000)).to.equal(15 * 60_000);
  });

  it("waits nothing before the first failure", () => {
    expect(backoffDelay(RECONCILE_BACKOFF, 0)).to.equal(0);
  });

  it("spreads informer restarts by their jitter but keeps them within the cap", () => {
    expect(backoffDelay(INFORMER_BACKOFF, 1, () => 0)).to.equal(1000);
    expect(backoffDelay(INFORMER_BACKOFF, 1, () => 1)).to.equal(1200);
    expect(backoffDelay(INFORMER_BACKOFF, 20, () => 1)).to.equal(30_000);
  });

  it("counts failures per key and forgets them independently", () => {
    const backoff = new KeyedBackoff();
    expect([backoff.next("a"), backoff.next("a"), backoff.next("b")]).to.deep.equal([5, 10, 5]);
    backoff.forget("a");
    expect(backoff.failures("a")).to.equal(0);
    expect(backoff.next("a")).to.equal(5);
    expect(backoff.failures("b")).to.equal(1);
  });
});
