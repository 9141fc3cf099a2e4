// Reading etcdutl's verdict: the error line, not its log records, is the reason a snapshot was refused.
import { expect } from "chai";

import { lastMeaningfulLine } from "../../../../operator/snapshot/etcdutl.ts";

describe("lastMeaningfulLine", () => {
  it("returns the Error: line after etcdutl's log records", () => {
    const stderr = [
      "2026-11-26T16:46:11Z\tinfo\tsnapshot/v3_snapshot.go:260\trestoring snapshot",
      "Error: expected sha256 [1 2 3], got [4 5 6]",
      "",
    ].join("\n");
    expect(lastMeaningfulLine(stderr)).to.equal("expected sha256 [1 2 3], got [4 5 6]");
  });

  it("falls back to the last line, and says so when there was no output", () => {
    expect(lastMeaningfulLine("a\nb\n")).to.equal("b");
    expect(lastMeaningfulLine("")).to.equal("etcdutl failed without output");
  });
});
