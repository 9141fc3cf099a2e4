// Restore and restart spacing: a burst at once, then doubling waits, so the operator never hot-loops.
import { expect } from "chai";

import {
  AVAILABLE,
  DEFAULT_RESTORE_POLICY,
  MAX_RESTART_WAIT_MS,
  nextRestoreAt,
  recentRestores,
  restartDueAt,
  type RestorePolicy,
} from "../../../../operator/labcluster/addons/backoff.ts";

const policy: RestorePolicy = { burst: 3, windowMs: 60_000, initialDelayMs: 1000, maxDelayMs: 8000 };
const now = 1_000_000;

describe("addon restore backoff", () => {
  it("lets a burst of restores through at once", () => {
    expect(nextRestoreAt([], policy, now)).to.equal(now);
    expect(nextRestoreAt([now - 3000, now - 2000], policy, now)).to.equal(now);
  });

  it("then doubles the wait after the last restore for every restore beyond the burst, up to the cap", () => {
    const restores = (count: number) => Array.from({ length: count }, (_, index) => now - 10_000 + index);
    const last = (count: number) => now - 10_000 + count - 1;
    expect(nextRestoreAt(restores(3), policy, now)).to.equal(last(3) + 1000);
    expect(nextRestoreAt(restores(4), policy, now)).to.equal(last(4) + 2000);
    expect(nextRestoreAt(restores(5), policy, now)).to.equal(last(5) + 4000);
    expect(nextRestoreAt(restores(30), policy, now)).to.equal(last(30) + 8000);
  });

  it("forgets restores older than the window", () => {
    const old = [now - 70_000, now - 65_000, now - 61_000];
    expect(recentRestores([...old, now - 1000], policy, now)).to.deep.equal([now - 1000]);
    expect(nextRestoreAt(old, policy, now)).to.equal(now);
  });

  it("by default allows 5 restores of one object in 10 minutes before slowing down", () => {
    const five = Array.from({ length: 4 }, (_, index) => now - index * 1000);
    expect(nextRestoreAt(five, DEFAULT_RESTORE_POLICY, now)).to.equal(now);
    expect(nextRestoreAt([...five, now], DEFAULT_RESTORE_POLICY, now)).to.be.greaterThan(now);
  });
});

describe("rollout restart schedule", () => {
  it("restarts unavailableSeconds after the workload became unavailable", () => {
    expect(restartDueAt(AVAILABLE, 180)).to.equal(Infinity);
    expect(restartDueAt({ unavailableSince: now, restarts: 0, lastRestartAt: undefined }, 180)).to.equal(
      now + 180_000,
    );
  });

  it("spaces further restarts 2x, 4x, 8x... unavailableSeconds after the previous one, at most an hour", () => {
    const after = (restarts: number) =>
      restartDueAt({ unavailableSince: 0, restarts, lastRestartAt: now }, 60) - now;
    expect(after(1)).to.equal(120_000);
    expect(after(2)).to.equal(240_000);
    expect(after(3)).to.equal(480_000);
    expect(after(20)).to.equal(MAX_RESTART_WAIT_MS);
  });
});
