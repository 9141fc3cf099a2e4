// Conditions: setCondition reports changes, moves lastTransitionTime only on a flip; Ready summarises.
import { expect } from "chai";

import type { Condition } from "../../../../operator/api/common.ts";
import {
  findCondition,
  formatTime,
  isTrue,
  setCondition,
  summarize,
} from "../../../../operator/runtime/conditions.ts";

const t0 = new Date("2026-01-01T00:00:00.000Z");
const t1 = new Date("2026-01-01T00:05:00.000Z");

describe("conditions", () => {
  it("adds a new condition as a transition stamped now", () => {
    const result = setCondition(
      [],
      { type: "Ready", status: "True", reason: "AllHealthy", message: "" },
      4,
      t0,
    );
    expect(result.changed).to.equal(true);
    expect(result.transitioned).to.equal(true);
    expect(result.conditions).to.deep.equal([
      {
        type: "Ready",
        status: "True",
        reason: "AllHealthy",
        message: "",
        lastTransitionTime: "2026-01-01T00:00:00Z",
        observedGeneration: 4,
      },
    ]);
  });

  it("reports no change when nothing differs, and keeps the time", () => {
    const first = setCondition(
      [],
      { type: "Ready", status: "True", reason: "A", message: "m" },
      1,
      t0,
    ).conditions;
    const again = setCondition(first, { type: "Ready", status: "True", reason: "A", message: "m" }, 1, t1);
    expect(again.changed).to.equal(false);
    expect(again.transitioned).to.equal(false);
    expect(again.conditions).to.deep.equal(first);
  });

  it("updates reason, message and generation without moving lastTransitionTime while the status holds", () => {
    const first = setCondition(
      [],
      { type: "NodesHealthy", status: "False", reason: "A", message: "1 node" },
      1,
      t0,
    );
    const next = setCondition(
      first.conditions,
      { type: "NodesHealthy", status: "False", reason: "B", message: "2 nodes" },
      2,
      t1,
    );
    expect(next.changed).to.equal(true);
    expect(next.transitioned).to.equal(false);
    expect(next.conditions[0]).to.include({
      reason: "B",
      message: "2 nodes",
      observedGeneration: 2,
      lastTransitionTime: "2026-01-01T00:00:00Z",
    });
  });

  it("moves lastTransitionTime when the status flips and returns the previous condition", () => {
    const first = setCondition([], { type: "Ready", status: "True", reason: "A", message: "" }, 1, t0);
    const flipped = setCondition(
      first.conditions,
      { type: "Ready", status: "False", reason: "B", message: "x" },
      1,
      t1,
    );
    expect(flipped.transitioned).to.equal(true);
    expect(flipped.previous?.status).to.equal("True");
    expect(flipped.conditions[0]?.lastTransitionTime).to.equal("2026-01-01T00:05:00Z");
  });

  it("leaves the input untouched and other conditions in place", () => {
    const input: Condition[] = [
      { type: "A", status: "True", reason: "R", message: "", lastTransitionTime: "2026-01-01T00:00:00Z" },
      { type: "B", status: "True", reason: "R", message: "", lastTransitionTime: "2026-01-01T00:00:00Z" },
    ];
    const copy = structuredClone(input);
    const result = setCondition(
      input,
      { type: "B", status: "False", reason: "R", message: "" },
      undefined,
      t1,
    );
    expect(input).to.deep.equal(copy);
    expect(result.conditions.map((condition) => condition.type)).to.deep.equal(["A", "B"]);
    expect(isTrue(result.conditions, "A")).to.equal(true);
    expect(findCondition(result.conditions, "B")?.status).to.equal("False");
  });

  it("summarises as True only when every part is True", () => {
    expect(summarize("Ready", [{ type: "A", status: "True", reason: "Ok", message: "" }])).to.include({
      status: "True",
    });
    const failing = summarize("Ready", [
      { type: "A", status: "True", reason: "Ok", message: "" },
      { type: "B", status: "Unknown", reason: "Pending", message: "b?" },
      { type: "C", status: "False", reason: "Broken", message: "c is down" },
    ]);
    expect(failing).to.deep.equal({
      type: "Ready",
      status: "False",
      reason: "Broken",
      message: "B: b?; C: c is down",
    });
    expect(summarize("Ready", [{ type: "B", status: "Unknown", reason: "Pending", message: "" }])).to.include(
      {
        status: "Unknown",
        reason: "Pending",
      },
    );
  });

  it("formats times as metav1.Time: seconds, UTC", () => {
    expect(formatTime(new Date("2026-03-04T05:06:07.890Z"))).to.equal("2026-03-04T05:06:07Z");
  });
});
