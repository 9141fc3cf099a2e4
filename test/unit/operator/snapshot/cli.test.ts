// The agent's human output: sizes and the snapshot table.
import { expect } from "chai";

import { formatBytes, listTable } from "../../../../operator/snapshot/cli.ts";

describe("formatBytes", () => {
  it("uses binary units with one decimal", () => {
    expect(formatBytes(512)).to.equal("512B");
    expect(formatBytes(1536)).to.equal("1.5KiB");
    expect(formatBytes(104_857_632)).to.equal("100.0MiB");
  });
});

describe("listTable", () => {
  it("aligns columns and marks an unknown key count", () => {
    const table = listTable([
      {
        name: "etcd-20260102-030405-ab12",
        createdAt: "2026-01-02T03:04:05.000Z",
        sizeBytes: 20512,
        etcd: { revision: 12 },
        verification: { verified: true },
      },
    ]);
    expect(table.split("\n")).to.deep.equal([
      "NAME                       CREATED                   SIZE     REVISION  KEYS  VERIFIED",
      "etcd-20260102-030405-ab12  2026-01-02T03:04:05.000Z  20.0KiB  12        ?     true",
      "",
    ]);
  });
});
