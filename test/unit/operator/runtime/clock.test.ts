// The manual clock fires timers in time order at their own due time, so timing tests are exact.
import { expect } from "chai";

import { ManualClock, microTime, sleep } from "../../../../operator/runtime/clock.ts";

describe("ManualClock", () => {
  it("fires due timers in order, each seeing its own due time", () => {
    const clock = new ManualClock(0);
    const fired: [string, number][] = [];
    clock.setTimer(() => fired.push(["b", clock.now()]), 20);
    clock.setTimer(() => fired.push(["a", clock.now()]), 10);
    clock.setTimer(() => fired.push(["c", clock.now()]), 50);
    clock.advance(30);
    expect(fired).to.deep.equal([
      ["a", 10],
      ["b", 20],
    ]);
    expect(clock.now()).to.equal(30);
  });

  it("runs timers set by timers when they fall due in the same advance, and never cancelled ones", () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimer(() => clock.setTimer(() => fired.push(clock.now()), 5), 5);
    const cancel = clock.setTimer(() => fired.push(-1), 7);
    cancel();
    clock.advance(20);
    expect(fired).to.deep.equal([10]);
  });

  it("sleep resolves when the clock reaches it, or at once on abort", async () => {
    const clock = new ManualClock(0);
    let woke = false;
    const sleeping = sleep(clock, 100).then(() => (woke = true));
    clock.advance(99);
    await Promise.resolve();
    expect(woke).to.equal(false);
    clock.advance(1);
    await sleeping;
    const abort = new AbortController();
    const aborted = sleep(clock, 1e9, abort.signal);
    abort.abort();
    await aborted;
    expect(clock.pendingTimers()).to.equal(0);
  });

  it("writes MicroTime with six fractional digits", () => {
    expect(microTime(Date.parse("2026-01-02T03:04:05.678Z"))).to.equal("2026-01-02T03:04:05.678000Z");
  });
});
