// The LabCluster controller's Event notes for condition transitions.
import { expect } from "chai";

import { transitionNote } from "../../../../operator/labcluster/controller.ts";

describe("transitionNote", () => {
  it("names the condition, its status, the previous status and the message", () => {
    expect(
      transitionNote(
        { type: "CalicoHealthy", status: "False", message: "1 of 39 objects not healthy" },
        {
          status: "True",
        },
      ),
    ).to.equal("CalicoHealthy is False (was True): 1 of 39 objects not healthy");
  });

  it("leaves out the colon when the condition has no message, and the previous status on the first report", () => {
    expect(transitionNote({ type: "Ready", status: "True", message: "" }, { status: "False" })).to.equal(
      "Ready is True (was False)",
    );
    expect(transitionNote({ type: "Ready", status: "True" }, undefined)).to.equal("Ready is True");
  });

  it("keeps the note within the 1,000 characters an Event allows for it", () => {
    const note = transitionNote({ type: "Ready", status: "False", message: "x".repeat(5000) }, undefined);
    expect(note).to.have.length(1000);
  });
});
