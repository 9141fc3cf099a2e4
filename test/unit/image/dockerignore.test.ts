// .dockerignore matching as the builder does it: last match wins, `!` re-includes, parents exclude children.
import { expect } from "chai";

import { parseDockerIgnore } from "../../../bootstrap/image/dockerignore.ts";

describe("image/dockerignore", () => {
  it("the project's allowlist lets in the package files, bin/ and operator/ only", () => {
    const ignore = parseDockerIgnore("*\n!package.json\n!package-lock.json\n!bin/\n!operator/\n");
    for (const kept of [
      "package.json",
      "package-lock.json",
      "bin",
      "bin/bootstrap.js",
      "operator/api/x.ts",
    ]) {
      expect(ignore.excludes(kept), kept).to.equal(false);
    }
    for (const out of [
      "bootstrap/cli.ts",
      ".kubelab/state.json",
      "node_modules/x/index.js",
      "test",
      "README.md",
    ]) {
      expect(ignore.excludes(out), out).to.equal(true);
    }
  });

  it("supports ?, * within a segment, ** across segments, comments and a leading slash", () => {
    const ignore = parseDockerIgnore("# comment\n/operator/**/*.test.ts\nbin/?.js\n");
    expect(ignore.excludes("operator/a/b/c.test.ts")).to.equal(true);
    expect(ignore.excludes("operator/c.test.ts")).to.equal(true);
    expect(ignore.excludes("operator/c.ts")).to.equal(false);
    expect(ignore.excludes("bin/x.js")).to.equal(true);
    expect(ignore.excludes("bin/xy.js")).to.equal(false);
  });

  it("an excluded directory excludes what is under it unless a later rule lets it back in", () => {
    const ignore = parseDockerIgnore("docs\n!docs/keep.md\n");
    expect(ignore.excludes("docs/other.md")).to.equal(true);
    expect(ignore.excludes("docs/keep.md")).to.equal(false);
  });
});
