// The benchmark framework: statistics by their textbook definitions, Markdown tables, one name per case.
import { expect } from "chai";

import { fixed, formatTable, median, percentile, registerBench, verdict } from "../../../bench/framework.ts";

describe("bench framework", () => {
  it("takes the median of odd and even counts", () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(Number.isNaN(median([]))).to.equal(true);
  });

  it("takes percentiles by nearest rank: p99 of 100 samples is the 99th smallest", () => {
    const samples = Array.from({ length: 100 }, (_, index) => 100 - index);
    expect(percentile(samples, 99)).to.equal(99);
    expect(percentile(samples, 50)).to.equal(50);
    expect(percentile([7], 99)).to.equal(7);
    expect(percentile([1, 2, 3], 100)).to.equal(3);
  });

  it("prints an aligned Markdown table with its notes", () => {
    const text = formatTable({
      title: "T",
      columns: ["a", "long column"],
      rows: [
        [1, "x"],
        ["wide value", 2],
      ],
      notes: ["target met"],
    });
    expect(text).to.equal(
      [
        "### T",
        "",
        "| a          | long column |",
        "|------------|-------------|",
        "| 1          | x           |",
        "| wide value | 2           |",
        "",
        "target met",
        "",
      ].join("\n"),
    );
  });

  it("formats figures and verdicts", () => {
    expect(fixed(1.234, 2)).to.equal("1.23");
    expect(fixed(Number.NaN)).to.equal("-");
    expect([verdict(true), verdict(false)]).to.deep.equal(["met", "MISSED"]);
  });

  it("refuses two cases with one name", () => {
    const run = () => Promise.resolve([]);
    registerBench({ name: "test/duplicate", description: "", run });
    expect(() => registerBench({ name: "test/duplicate", description: "", run })).to.throw(
      /registered twice/,
    );
  });
});
