// The operator's flags: defaults, validation messages naming the flag, --help, leader-election timing rules.
import { expect } from "chai";

import { parseRunFlags, runHelp, UsageError } from "../../../operator/flags.ts";

describe("operator flags", () => {
  it("applies the defaults: leader election on, 15/10/2 s, ports 8081 and 8080", () => {
    expect(parseRunFlags([])).to.deep.include({
      leaderElection: true,
      leaderElectionId: "kubelab-operator",
      leaseDuration: 15,
      renewDeadline: 10,
      retryPeriod: 2,
      healthPort: 8081,
      metricsPort: 8080,
      bindAddress: "0.0.0.0",
      logLevel: "info",
    });
  });

  it("reads every kind of flag", () => {
    const flags = parseRunFlags([
      "--kubeconfig",
      "/k",
      "--no-leader-election",
      "--health-port",
      "0",
      "--metrics-port=9090",
      "--log-level",
      "debug",
    ]);
    expect(flags).to.deep.include({
      kubeconfig: "/k",
      leaderElection: false,
      healthPort: 0,
      metricsPort: 9090,
      logLevel: "debug",
    });
  });

  it("rejects bad values and unknown flags, naming the flag", () => {
    expect(() => parseRunFlags(["--health-port", "99999"])).to.throw(
      UsageError,
      /--health-port 99999: must be a whole number from 0 to 65535/,
    );
    expect(() => parseRunFlags(["--concurrency", "1.5"])).to.throw(UsageError, /--concurrency/);
    expect(() => parseRunFlags(["--log-level", "loud"])).to.throw(
      UsageError,
      /--log-level loud: must be one of error, warn, info, debug/,
    );
    expect(() => parseRunFlags(["--bogus"])).to.throw(UsageError, /--bogus/);
  });

  it("refuses leader-election timings that would let two replicas act at once", () => {
    expect(() => parseRunFlags(["--renew-deadline", "15"])).to.throw(
      UsageError,
      /--retry-period < --renew-deadline < --lease-duration/,
    );
    expect(() => parseRunFlags(["--retry-period", "10"])).to.throw(UsageError);
  });

  it("answers --help with undefined and documents every flag and the exit codes", () => {
    expect(parseRunFlags(["--help"])).to.equal(undefined);
    const help = runHelp(["snapshot"]);
    for (const flag of [
      "--kubeconfig",
      "--no-leader-election",
      "--metrics-port",
      "--health-port",
      "--leader-election-namespace",
      "--namespace",
    ]) {
      expect(help).to.contain(flag);
    }
    expect(help).to.contain("kubelab-operator snapshot ...");
    expect(help).to.match(/Exit codes: 0 .* 2 bad flags/);
  });
});
