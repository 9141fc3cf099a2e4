// Retention decisions: which snapshots prune removes, and that the newest verified one always survives.
import { expect } from "chai";

import { planPrune, type PruneCandidate } from "../../../../operator/snapshot/prune.ts";

function snapshot(name: string, hour: number, verified = true): PruneCandidate {
  return { name, createdAt: new Date(Date.UTC(2026, 0, 1, hour)).toISOString(), verified };
}

describe("planPrune", () => {
  it("removes nothing while there are at most `retain` snapshots", () => {
    const plan = planPrune([snapshot("a", 1), snapshot("b", 2)], 2);
    expect(plan).to.deep.equal({ keep: ["b", "a"], remove: [], keptBeyondRetain: undefined });
    expect(planPrune([], 3).remove).to.deep.equal([]);
  });

  it("keeps the newest `retain` and removes the rest oldest first, whatever the input order", () => {
    const plan = planPrune(
      [snapshot("c", 3), snapshot("a", 1), snapshot("e", 5), snapshot("b", 2), snapshot("d", 4)],
      2,
    );
    expect(plan.keep).to.deep.equal(["e", "d"]);
    expect(plan.remove).to.deep.equal(["a", "b", "c"]);
  });

  it("keeps the newest verified snapshot beyond `retain` when every newer one is unverified", () => {
    const plan = planPrune(
      [snapshot("v1", 1), snapshot("v2", 2), snapshot("u3", 3, false), snapshot("u4", 4, false)],
      1,
    );
    expect(plan.keep).to.deep.equal(["u4", "v2"]);
    expect(plan.remove).to.deep.equal(["v1", "u3"]);
    expect(plan.keptBeyondRetain).to.equal("v2");
  });

  it("does not keep an extra one when the newest verified snapshot is already within `retain`", () => {
    const plan = planPrune([snapshot("v1", 1), snapshot("u2", 2, false), snapshot("v3", 3)], 1);
    expect(plan.keep).to.deep.equal(["v3"]);
    expect(plan.keptBeyondRetain).to.equal(undefined);
  });

  it("with no verified snapshot at all, keeps exactly `retain`", () => {
    const plan = planPrune([snapshot("u1", 1, false), snapshot("u2", 2, false), snapshot("u3", 3, false)], 2);
    expect(plan.keep).to.deep.equal(["u3", "u2"]);
    expect(plan.remove).to.deep.equal(["u1"]);
  });

  it("orders snapshots taken in the same instant by name (names embed the time and sort)", () => {
    const plan = planPrune([snapshot("etcd-b", 1), snapshot("etcd-a", 1), snapshot("etcd-c", 1)], 1);
    expect(plan.keep).to.deep.equal(["etcd-c"]);
    expect(plan.remove).to.deep.equal(["etcd-a", "etcd-b"]);
  });

  it("refuses a retain below 1 or not whole: it would delete every snapshot", () => {
    expect(() => planPrune([snapshot("a", 1)], 0)).to.throw(RangeError, /retain/);
    expect(() => planPrune([snapshot("a", 1)], 1.5)).to.throw(RangeError, /retain/);
  });
});
