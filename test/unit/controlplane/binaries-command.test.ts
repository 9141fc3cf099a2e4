// `npm run envtest:binaries` as a program: the directory on stdout, and an interrupted build leaves nothing behind.
import { chmod, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { execa } from "execa";

import { useTempDir } from "./tempdir.ts";

const NODE = fileURLToPath(new URL("../../../node_modules/.bin/node", import.meta.url));
const COMMAND = fileURLToPath(
  new URL("../../../bootstrap/controlplane/binaries-command.ts", import.meta.url),
);

describe("controlplane/binaries-command", () => {
  const tempDir = useTempDir("binaries-command-test");

  /** A `go` that reports a version and then "builds" until killed, first on PATH. */
  async function slowGo(): Promise<string> {
    const bin = join(tempDir(), "bin");
    await mkdir(bin);
    await writeFile(
      join(bin, "go"),
      '#!/bin/sh\nif [ "$1" = env ]; then echo go1.26.8; exit 0; fi\necho "building..." >&2\nexec sleep 300\n',
    );
    await chmod(join(bin, "go"), 0o755);
    return bin;
  }

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`stops a build on ${signal} with exit code 130, releasing the lock and removing the half-built set`, async () => {
      const cache = join(tempDir(), "cache");
      const child = execa(NODE, [COMMAND], {
        env: { PATH: `${await slowGo()}:${process.env.PATH}`, KUBELAB_CACHE_DIR: cache },
        reject: false,
        all: true,
        timeout: 30_000,
      });
      let output = "";
      await new Promise<void>((resolve) => {
        child.all?.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes("go build")) resolve();
        });
      });
      child.kill(signal);
      const result = await child;
      expect(result.exitCode, String(result.all)).to.equal(130);
      expect(String(result.all)).to.contain(`interrupted by ${signal}`);
      expect(String(result.stdout)).to.equal("");
      const left = await readdir(join(cache, "bin"));
      expect(left.filter((name) => name.endsWith(".lock") || name.includes(".tmp-"))).to.deep.equal([]);
    });
  }
});
