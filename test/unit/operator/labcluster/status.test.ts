// Composing the LabCluster status from parts: Ready summary, failed parts keep their fields, change detection.
import { expect } from "chai";

import type { LabClusterStatus } from "../../../../operator/api/labcluster.ts";
import type { PartResult } from "../../../../operator/labcluster/part.ts";
import { composeStatus, readStatus, sameStatus } from "../../../../operator/labcluster/status.ts";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:01:00Z");

const nodesResult = (status: "True" | "False", readyNodes: number): PartResult => ({
  conditions: [
    {
      type: "NodesHealthy",
      status,
      reason: status === "True" ? "AllNodesHealthy" : "NodesUnhealthy",
      message: "m",
    },
    { type: "RemediationAllowed", status: "False", reason: "TooManyUnhealthy", message: "paused" },
  ],
  status: { readyNodes, expectedNodes: 3, nodeSummary: `${readyNodes}/3` },
});

describe("LabCluster status", () => {
  it("sets Ready from the parts' conditions, ignoring informational ones, and stamps observedGeneration", () => {
    const { status, changed, transitions } = composeStatus({}, [nodesResult("True", 3)], 2, t0);
    expect(changed).to.equal(true);
    expect(status.observedGeneration).to.equal(2);
    expect(status.conditions?.map((condition) => [condition.type, condition.status])).to.deep.equal([
      ["Ready", "True"],
      ["NodesHealthy", "True"],
      ["RemediationAllowed", "False"],
    ]);
    expect(transitions.map((transition) => transition.condition.type)).to.deep.equal([
      "NodesHealthy",
      "RemediationAllowed",
      "Ready",
    ]);
  });

  it("reports no change (nothing to write) when the parts find the same again", () => {
    const first = composeStatus({}, [nodesResult("True", 3)], 2, t0).status;
    const again = composeStatus(
      readStatus(JSON.parse(JSON.stringify(first))),
      [nodesResult("True", 3)],
      2,
      t1,
    );
    expect(again.changed).to.equal(false);
    expect(again.transitions).to.deep.equal([]);
  });

  it("flips Ready with its part and reports both transitions", () => {
    const first = composeStatus({}, [nodesResult("True", 3)], 1, t0).status;
    const next = composeStatus(first, [nodesResult("False", 2)], 1, t1);
    expect(next.status.conditions?.[0]).to.include({
      type: "Ready",
      status: "False",
      reason: "NodesUnhealthy",
    });
    expect(next.transitions.map((transition) => transition.condition.type)).to.deep.equal([
      "NodesHealthy",
      "Ready",
    ]);
    expect(next.status.nodeSummary).to.equal("2/3");
  });

  it("keeps the fields and conditions of a part that failed this time", () => {
    const previous: LabClusterStatus = composeStatus({}, [nodesResult("False", 2)], 1, t0).status;
    const next = composeStatus(previous, [], 1, t1);
    expect(next.status.nodeSummary).to.equal("2/3");
    expect(next.status.conditions?.find((condition) => condition.type === "Ready")?.status).to.equal("False");
    expect(next.changed).to.equal(false);
  });

  it("removes a condition a part no longer reports", () => {
    const previous = composeStatus({}, [nodesResult("True", 3)], 1, t0).status;
    const next = composeStatus(
      previous,
      [
        {
          ...nodesResult("True", 3),
          conditions: [nodesResult("True", 3).conditions[0]!],
          removedConditions: ["RemediationAllowed"],
        },
      ],
      1,
      t1,
    );
    expect(next.status.conditions?.map((condition) => condition.type)).to.deep.equal([
      "Ready",
      "NodesHealthy",
    ]);
  });

  it("is Unknown before any part reported", () => {
    expect(composeStatus({}, [], 1, t0).status.conditions?.[0]).to.include({
      status: "Unknown",
      reason: "NotReconciled",
    });
  });

  it("reads a garbled status as empty rather than failing", () => {
    expect(readStatus({ readyNodes: "three" })).to.deep.equal({});
    expect(readStatus(undefined)).to.deep.equal({});
  });

  it("compares statuses as the API server stores them (undefined fields do not count)", () => {
    expect(sameStatus({ readyNodes: 1, omittedNodes: undefined }, { readyNodes: 1 })).to.equal(true);
    expect(sameStatus({ readyNodes: 1 }, { readyNodes: 2 })).to.equal(false);
  });

  it("stamps observedGeneration only when every part reconciled it: a part failing on a new spec holds it back and Ready says which", () => {
    const before = composeStatus({}, [nodesResult("True", 3)], 1, t0).status;
    expect(before.conditions?.[0]).to.include({ type: "Ready", status: "True" });
    const next = composeStatus(before, [nodesResult("True", 3)], 2, t1, {
      failed: [{ part: "backups", message: "cronjobs is forbidden" }],
    });
    expect(next.status.observedGeneration).to.equal(1);
    expect(next.status.conditions?.[0]).to.deep.include({
      type: "Ready",
      status: "False",
      reason: "ReconcileFailed",
      message: "generation 2 is not reconciled yet: backups failed: cronjobs is forbidden",
    });
    // The parts that did reconcile generation 2 say so on their conditions.
    expect(next.status.conditions?.find((c) => c.type === "NodesHealthy")?.observedGeneration).to.equal(2);
    const done = composeStatus(next.status, [nodesResult("True", 3)], 2, t1);
    expect(done.status.observedGeneration).to.equal(2);
    expect(done.status.conditions?.[0]).to.include({ type: "Ready", status: "True" });
  });

  it("leaves Ready to the summary when a part fails again on a generation already reconciled", () => {
    const before = composeStatus({}, [nodesResult("True", 3)], 2, t0).status;
    const next = composeStatus(before, [], 2, t1, { failed: [{ part: "nodes", message: "timeout" }] });
    expect(next.status.observedGeneration).to.equal(2);
    expect(next.status.conditions?.[0]).to.include({ type: "Ready", status: "True" });
    expect(next.changed).to.equal(false);
  });

  it("shows the controller's verdict as Ready instead of the summary, dropping the parts' conditions when told", () => {
    const before = composeStatus({}, [nodesResult("True", 3)], 1, t0).status;
    const ready = { type: "Ready", status: "False", reason: "DuplicateLab", message: "lab acts" } as const;
    const duplicate = composeStatus(before, [], 2, t1, {
      verdict: { ready, reconciled: true, dropPartConditions: true },
    }).status;
    expect(duplicate.conditions?.map((c) => [c.type, c.reason])).to.deep.equal([["Ready", "DuplicateLab"]]);
    expect(duplicate.observedGeneration).to.equal(2);
    const invalid = composeStatus(before, [], 2, t1, {
      verdict: { ready: { ...ready, reason: "InvalidSpec" }, reconciled: false, dropPartConditions: false },
    }).status;
    expect(invalid.conditions?.[0]).to.include({ type: "Ready", reason: "InvalidSpec" });
    expect(invalid.observedGeneration).to.equal(1);
  });
});
