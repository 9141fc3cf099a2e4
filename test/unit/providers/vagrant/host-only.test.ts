// VirtualBox's host-only range rule: the default /21, /etc/vbox/networks.conf, and the advice users get.
import { expect } from "chai";

import {
  allowedHostOnlyRanges,
  hostOnlyCidrAllowed,
  hostOnlyRangeAdvice,
} from "../../../../bootstrap/providers/vagrant/host-only.ts";

describe("providers/vagrant/host-only", () => {
  it("without networks.conf only 192.168.56.0/21 is allowed", () => {
    const ranges = allowedHostOnlyRanges(undefined);
    expect(hostOnlyCidrAllowed("192.168.56.0/24", ranges)).to.equal(true);
    expect(hostOnlyCidrAllowed("192.168.63.0/24", ranges)).to.equal(true);
    expect(hostOnlyCidrAllowed("192.168.64.0/24", ranges)).to.equal(false);
    expect(hostOnlyCidrAllowed("192.168.1.0/24", ranges)).to.equal(false);
    expect(hostOnlyCidrAllowed("192.168.0.0/16", ranges)).to.equal(false);
  });

  it("networks.conf replaces the default with its '*' lines (IPv6 ignored)", () => {
    const ranges = allowedHostOnlyRanges("# comment\n* 10.0.0.0/8 192.168.0.0/16\n* 2001::/64\n");
    expect(hostOnlyCidrAllowed("192.168.1.0/24", ranges)).to.equal(true);
    expect(hostOnlyCidrAllowed("10.20.0.0/24", ranges)).to.equal(true);
    expect(hostOnlyCidrAllowed("172.16.0.0/24", ranges)).to.equal(false);
    expect(hostOnlyCidrAllowed("192.168.56.0/24", allowedHostOnlyRanges("* 10.0.0.0/8\n"))).to.equal(false);
  });

  it("the advice names the setting, the file, the line to add and the default way back", () => {
    const advice = hostOnlyRangeAdvice("192.168.1.0/24", false);
    expect(advice).to.contain("network.hostOnlyCidr 192.168.1.0/24");
    expect(advice).to.contain("192.168.56.0/21");
    expect(advice).to.contain('"* 192.168.1.0/24" to /etc/vbox/networks.conf');
    expect(advice).to.contain("192.168.56.0/24");
    expect(hostOnlyRangeAdvice("192.168.1.0/24", true)).to.contain(
      "the ranges listed in /etc/vbox/networks.conf",
    );
  });
});
