// Atomic file writes: content and mode land together, unchanged content is not rewritten, no temp files left.
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { FileMode, readTextIfExists, writeFileAtomic } from "../../bootstrap/files.ts";
import { tempDir } from "./helpers.ts";

describe("files", () => {
  it("creates directories, writes the content with the mode, and leaves no temp file", async () => {
    const dir = await tempDir();
    const path = join(dir, "a", "b", "secret");
    expect(await writeFileAtomic(path, "token\n", FileMode.secret)).to.equal(true);
    expect(await readFile(path, "utf8")).to.equal("token\n");
    expect((await stat(path)).mode & 0o777).to.equal(0o600);
    expect(await readdir(join(dir, "a", "b"))).to.deep.equal(["secret"]);
  });

  it("reports no change for identical content, but still tightens the mode", async () => {
    const dir = await tempDir();
    const path = join(dir, "kubeconfig");
    await writeFile(path, "same", { mode: 0o644 });
    expect(await writeFileAtomic(path, "same", FileMode.secret)).to.equal(false);
    expect((await stat(path)).mode & 0o777).to.equal(0o600);
  });

  it("readTextIfExists: undefined for a missing file, the text otherwise", async () => {
    const dir = await tempDir();
    expect(await readTextIfExists(join(dir, "missing"))).to.equal(undefined);
    await writeFile(join(dir, "present"), "x");
    expect(await readTextIfExists(join(dir, "present"))).to.equal("x");
  });
});
