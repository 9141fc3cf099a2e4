// How `bootstrap trace` reads its target words: kubectl's spellings of pod and deployment, and bad input.
import { expect } from "chai";

import { parseTraceTarget } from "../../../bootstrap/commands/trace.ts";
import { UsageError } from "../../../bootstrap/errors.ts";

describe("commands/trace", () => {
  it("reads pod NAME, deployment NAME and kubectl's short and slash forms", () => {
    expect(parseTraceTarget(["pod", "web-1"])).to.deep.equal({ kind: "Pod", name: "web-1" });
    expect(parseTraceTarget(["po", "web-1"])).to.deep.equal({ kind: "Pod", name: "web-1" });
    expect(parseTraceTarget(["deployment", "web"])).to.deep.equal({ kind: "Deployment", name: "web" });
    expect(parseTraceTarget(["deploy/web"])).to.deep.equal({ kind: "Deployment", name: "web" });
    expect(parseTraceTarget(["Pod/web-1"])).to.deep.equal({ kind: "Pod", name: "web-1" });
  });

  it("refuses another kind, a missing name or extra words as bad input (exit 2)", () => {
    for (const words of [
      [],
      ["pod"],
      ["service", "web"],
      ["pod", "a", "b"],
      ["deploy/"],
      ["statefulset/db"],
    ]) {
      expect(() => parseTraceTarget(words), words.join(" "))
        .to.throw(UsageError)
        .with.property("exitCode", 2);
    }
  });
});
