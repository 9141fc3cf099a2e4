// Vagrant's --machine-readable output: records, escaping, machine states, progress and error lines.
import { expect } from "chai";

import {
  errorMessage,
  machineStates,
  parseRecord,
  parseRecords,
  phaseOf,
  progressLine,
} from "../../../../bootstrap/providers/vagrant/machine-readable.ts";

describe("providers/vagrant/machine-readable", () => {
  it("parses timestamp, target, type and unescapes data (commas and newlines)", () => {
    expect(parseRecord("1700000000,m-k8s,ui,info,one%!(VAGRANT_COMMA) two\\nthree")).to.deep.equal({
      timestamp: 1700000000,
      target: "m-k8s",
      type: "ui",
      data: ["info", "one, two\nthree"],
    });
  });

  it("ignores lines that are not records (plugin warnings, blank lines)", () => {
    expect(parseRecord("Vagrant failed to initialize at a very early stage:")).to.equal(undefined);
    expect(parseRecord("")).to.equal(undefined);
    expect(parseRecords("noise\n1,,ui,info,x\n\n")).to.have.length(1);
  });

  it("reads every machine's state from vagrant status", () => {
    const output = [
      "1,m-k8s,metadata,provider,virtualbox",
      "1,m-k8s,state,running",
      "1,w1-k8s,state,poweroff",
      "1,w2-k8s,state,not_created",
      "1,,ui,info,Current machine states:",
    ].join("\n");
    expect([...machineStates(output)]).to.deep.equal([
      ["m-k8s", "running"],
      ["w1-k8s", "poweroff"],
      ["w2-k8s", "not_created"],
    ]);
  });

  it("maps virtualbox and libvirt states onto the provider phases", () => {
    expect(phaseOf("running")).to.equal("running");
    expect(phaseOf("not_created")).to.equal("not-created");
    for (const state of ["poweroff", "aborted", "saved", "shutoff", "paused"])
      expect(phaseOf(state), state).to.equal("stopped");
    expect(phaseOf("gurumeditation")).to.equal("unknown");
  });

  it("turns ui records into short progress lines and skips the rest", () => {
    expect(progressLine(parseRecord("1,m-k8s,ui,info,==> m-k8s: Booting VM...")!)).to.equal("Booting VM...");
    expect(progressLine(parseRecord("1,m-k8s,ui,output,Waiting for SSH\\nmore")!)).to.equal(
      "Waiting for SSH",
    );
    expect(progressLine(parseRecord("1,m-k8s,state,running")!)).to.equal(undefined);
  });

  it("finds Vagrant's own message in an error-exit record", () => {
    const records = parseRecords(
      "1,,ui,info,x\n1,,error-exit,Vagrant::Errors::BoxNotFound,The box 'bento/ubuntu-24.04' could not be found.\\nMore help.\n",
    );
    expect(errorMessage(records)).to.equal("The box 'bento/ubuntu-24.04' could not be found.");
    expect(errorMessage(parseRecords("1,,ui,info,x"))).to.equal(undefined);
  });
});
