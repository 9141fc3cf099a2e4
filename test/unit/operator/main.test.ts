// bin/kubelab-operator.js dispatches `snapshot ...` to the snapshot agent, as the backup CronJob runs it.
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { NODE, REPO } from "../helpers.ts";

const OPERATOR_BIN = join(REPO, "bin", "kubelab-operator.js");

async function operator(args: readonly string[]) {
  return execa(NODE, [OPERATOR_BIN, ...args], { reject: false, timeout: 30_000, env: { CI: "1" } });
}

describe("kubelab-operator snapshot", function () {
  this.timeout(60_000);

  it("--help exits 0 and names the agent's save and verify commands", async () => {
    const result = await operator(["snapshot", "--help"]);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^ {2}save \[options\]/m);
    expect(result.stdout).to.match(/^ {2}verify \[options\] <name>/m);
    expect(result.stdout).to.include("Exit codes:");
  });

  it("`snapshot save --help` shows the agent's flags, not the operator's run flags", async () => {
    const result = await operator(["snapshot", "save", "--help"]);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.include("--record-objects");
    expect(result.stdout).not.to.include("leader-election");
  });

  it("a bad flag of the agent is exit 2 (bad input), not the operator starting", async () => {
    const result = await operator(["snapshot", "save", "--no-such-flag"]);
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include("unknown option '--no-such-flag'");
  });

  it("the operator's own help lists snapshot among its commands", async () => {
    const result = await operator(["--help"]);
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.include("kubelab-operator snapshot");
  });
});
