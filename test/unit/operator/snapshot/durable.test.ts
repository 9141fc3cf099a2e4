// Durable writes: the new content or the old one, and no temporary file left either way.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

import { SnapshotStorageError } from "../../../../operator/snapshot/errors.ts";
import { removeFile, writeFileDurably } from "../../../../operator/snapshot/durable.ts";

describe("writeFileDurably", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubelab-durable-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("replaces the content, mode 0600, leaving no temporary file", async () => {
    const path = join(dir, "r.json");
    await writeFileDurably(path, "one");
    await writeFileDurably(path, "two");
    expect(await readFile(path, "utf8")).to.equal("two");
    expect((await stat(path)).mode & 0o777).to.equal(0o600);
    expect(await readdir(dir)).to.deep.equal(["r.json"]);
  });

  it("fails with a storage error naming the path when it cannot write, and cleans up", async () => {
    const path = join(dir, "r.json");
    await mkdir(path); // a directory in the way: the rename fails
    const error = await writeFileDurably(path, "x").then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).to.be.instanceOf(SnapshotStorageError);
    expect((error as Error).message).to.include(path);
    expect(await readdir(dir)).to.deep.equal(["r.json"]);
  });
});

describe("removeFile", () => {
  it("is true when it removed, false when the file was already gone", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kubelab-durable-"));
    try {
      const path = join(dir, "f");
      await writeFile(path, "x");
      expect(await removeFile(path)).to.equal(true);
      expect(await removeFile(path)).to.equal(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
