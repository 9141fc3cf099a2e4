// The verification checks that need no etcd: file size rules and status comparisons, and the streamed sha256.
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

import { checkFile, compareStatus, sha256OfFile } from "../../../../operator/snapshot/verify.ts";

const STATUS = { hash: 1, revision: 10, totalKey: 4, totalSize: 20480, version: "3.6.0" };

describe("checkFile", () => {
  it("accepts whole pages plus etcd's 32-byte trailer", () => {
    expect(checkFile(20480 + 32, {})).to.deep.equal([]);
    expect(checkFile(20480 + 32, { sizeBytes: 20512 })).to.deep.equal([]);
  });

  it("refuses a size that is not pages plus the trailer (a truncated file)", () => {
    expect(checkFile(20480, {})[0]).to.match(/not whole pages plus etcd's 32-byte sha256 trailer/);
    expect(checkFile(20001, {})[0]).to.match(/truncated/);
    expect(checkFile(0, {})).to.have.length(1);
  });

  it("refuses a size other than the recorded one, even a page-aligned one", () => {
    expect(checkFile(16384 + 32, { sizeBytes: 20512 })[0]).to.match(
      /size is 16416 bytes, the record says 20512/,
    );
  });
});

describe("compareStatus", () => {
  it("reports nothing when revision and key count match, or are not expected", () => {
    expect(compareStatus("x", STATUS, { revision: 10, keys: 4 })).to.deep.equal([]);
    expect(compareStatus("x", STATUS, {})).to.deep.equal([]);
  });

  it("reports each mismatch, naming where the expectation came from", () => {
    expect(compareStatus("the snapshot", STATUS, { revision: 11, keys: 5 }, "the live etcd")).to.deep.equal([
      "the snapshot is at revision 10, expected 11 (the live etcd)",
      "the snapshot holds 4 keys, expected 5 (the live etcd)",
    ]);
  });
});

describe("sha256OfFile", () => {
  it("equals the sha256 of the content, for a file larger than one read", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kubelab-sha-"));
    try {
      const content = Buffer.alloc(3 * 1024 * 1024 + 17, 3);
      await writeFile(join(dir, "f"), content);
      expect(await sha256OfFile(join(dir, "f"))).to.equal(createHash("sha256").update(content).digest("hex"));
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
