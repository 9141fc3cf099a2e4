// The snapshot stream check: exact byte count, exactly one sha256 trailer, and the trailer matching the bytes.
import { createHash } from "node:crypto";
import { expect } from "chai";

import { SnapshotStreamError } from "../../../../operator/snapshot/errors.ts";
import type { SnapshotChunk } from "../../../../operator/snapshot/etcd-client.ts";
import { SnapshotStreamChecker } from "../../../../operator/snapshot/save.ts";

/** The messages etcd sends for `database`: 32 KiB chunks with the remaining count, then the sha256. */
function stream(database: Buffer, chunkBytes = 32 * 1024): SnapshotChunk[] {
  const chunks: SnapshotChunk[] = [];
  for (let offset = 0; offset < database.length; offset += chunkBytes) {
    const blob = database.subarray(offset, offset + chunkBytes);
    chunks.push({ blob, remainingBytes: database.length - offset - blob.length, version: "3.6.0" });
  }
  chunks.push({ blob: createHash("sha256").update(database).digest(), remainingBytes: 0, version: "3.6.0" });
  return chunks;
}

function check(chunks: readonly SnapshotChunk[]) {
  const checker = new SnapshotStreamChecker();
  for (const chunk of chunks) checker.accept(chunk);
  return checker.finish();
}

const DATABASE = Buffer.alloc(100 * 1024, 7);

describe("SnapshotStreamChecker", () => {
  it("accepts etcd's stream and returns the whole file's size and sha256", () => {
    const chunks = stream(DATABASE);
    const file = Buffer.concat(chunks.map((chunk) => chunk.blob));
    expect(check(chunks)).to.deep.equal({
      sizeBytes: DATABASE.length + 32,
      sha256: createHash("sha256").update(file).digest("hex"),
      storageVersion: "3.6.0",
    });
  });

  it("accepts a database that is an exact multiple of the chunk size", () => {
    expect(check(stream(Buffer.alloc(64 * 1024, 1))).sizeBytes).to.equal(64 * 1024 + 32);
  });

  it("refuses a stream that ends before the announced bytes", () => {
    const chunks = stream(DATABASE).slice(0, 2);
    expect(() => check(chunks)).to.throw(SnapshotStreamError, /ended after 65536 of 102400 bytes/);
  });

  it("refuses a stream without the sha256 trailer", () => {
    const chunks = stream(DATABASE).slice(0, -1);
    expect(() => check(chunks)).to.throw(SnapshotStreamError, /without its sha256 trailer/);
  });

  it("refuses a trailer that does not match the bytes (a corrupted transfer)", () => {
    const chunks = stream(DATABASE);
    const flipped = Buffer.from(chunks[1]!.blob);
    flipped[10] = flipped[10]! ^ 1;
    chunks[1] = { ...chunks[1]!, blob: flipped };
    expect(() => check(chunks)).to.throw(SnapshotStreamError, /do not match etcd's sha256 trailer/);
  });

  it("refuses a remaining count that contradicts the first message", () => {
    const chunks = stream(DATABASE);
    chunks[1] = { ...chunks[1]!, remainingBytes: chunks[1]!.remainingBytes + 1 };
    expect(() => check(chunks)).to.throw(SnapshotStreamError, /inconsistent/);
  });

  it("refuses anything after the trailer, and a trailer of the wrong length", () => {
    const extra = [...stream(DATABASE), { blob: Buffer.alloc(1), remainingBytes: 0, version: "" }];
    expect(() => check(extra)).to.throw(SnapshotStreamError, /after the snapshot's sha256 trailer/);
    const short = stream(DATABASE);
    short[short.length - 1] = { blob: Buffer.alloc(31), remainingBytes: 0, version: "" };
    expect(() => check(short)).to.throw(SnapshotStreamError, /32-byte sha256 trailer, got 31/);
  });
});
