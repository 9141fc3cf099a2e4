// Loading the operator image into nodes: vagrant streams the archive to ctr's import over `vagrant ssh` stdin
// (argv and bytes checked through the fake vagrant), kind hands the archive to `kind load image-archive`.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { CommandError } from "../../../bootstrap/errors.ts";
import { CTR_IMPORT, loadIntoKindCluster, loadIntoVagrantNode } from "../../../bootstrap/image/load.ts";
import { operatorArchive } from "./archive.ts";
import { FAKE_VAGRANT_BIN_DIR, tempDir, useFakeVagrantOnPath } from "../helpers.ts";
import { FAKE_KIND_BIN_DIR, useFakeKindOnPath } from "../providers/fake-kind.ts";

async function archive(dir: string): Promise<{ path: string; digest: string }> {
  const image = await operatorArchive(dir);
  return { path: image.archivePath, digest: image.descriptor.digest };
}

describe("image/load", () => {
  describe("vagrant", () => {
    const fake = useFakeVagrantOnPath();

    it("streams the archive's exact bytes to `sudo ctr ... import -` over vagrant ssh stdin, per node", async () => {
      const dir = await tempDir();
      const { path, digest } = await archive(dir);
      await writeFile(
        join(fake().dir, "machines.json"),
        JSON.stringify({ "m-k8s": "running", "w1-k8s": "running" }),
      );
      const context = {
        vagrant: join(FAKE_VAGRANT_BIN_DIR, "vagrant"),
        workDir: dir,
        logFile: join(dir, "load.log"),
        signal: new AbortController().signal,
      };
      await loadIntoVagrantNode(path, "m-k8s", context);
      await loadIntoVagrantNode(path, "w1-k8s", context);
      const calls = (await fake().calls()).map((call) => call.argv);
      expect(calls).to.deep.equal([
        ["ssh", "m-k8s", "-c", `sudo ${CTR_IMPORT.join(" ")}`],
        ["ssh", "w1-k8s", "-c", `sudo ${CTR_IMPORT.join(" ")}`],
      ]);
      const sent = await readFile(path);
      expect((await readFile(join(fake().dir, "imports", "m-k8s-1.tar"))).equals(sent)).to.equal(true);
      expect((await readFile(join(fake().dir, "imports", "w1-k8s-1.tar"))).equals(sent)).to.equal(true);
      expect(await readFile(context.logFile, "utf8")).to.include(
        `unpacking docker.io/library/kubelab-operator:0.1.0 (${digest})...done`,
      );
    });

    it("a node whose import fails is a CommandError naming the node, with ctr's message", async () => {
      const dir = await tempDir();
      await writeFile(join(dir, "not-an-image.tar"), "garbage");
      await writeFile(join(fake().dir, "machines.json"), JSON.stringify({ "m-k8s": "running" }));
      const error = await loadIntoVagrantNode(join(dir, "not-an-image.tar"), "m-k8s", {
        vagrant: join(FAKE_VAGRANT_BIN_DIR, "vagrant"),
        workDir: dir,
        logFile: join(dir, "load.log"),
        signal: new AbortController().signal,
      }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(CommandError);
      expect((error as CommandError).message)
        .to.include("vagrant ssh m-k8s")
        .and.include("unrecognized image format");
    });
  });

  describe("kind", () => {
    const fake = useFakeKindOnPath();

    it("hands the archive to `kind load image-archive` for the lab's cluster", async () => {
      const dir = await tempDir();
      const { path } = await archive(dir);
      await writeFile(
        join(fake().dir, "clusters.json"),
        JSON.stringify({
          lab: {
            containers: { "lab-control-plane": "running", "lab-worker": "running" },
            limits: {},
            config: {},
          },
        }),
      );
      await loadIntoKindCluster(path, "lab", {
        kind: join(FAKE_KIND_BIN_DIR, "kind"),
        workDir: dir,
        logFile: join(dir, "load.log"),
        signal: new AbortController().signal,
      });
      const calls = (await fake().calls()).map((call) => [call.program, call.argv]);
      expect(calls).to.deep.equal([["kind", ["load", "image-archive", path, "--name", "lab"]]]);
      for (const node of ["lab-control-plane", "lab-worker"]) {
        expect(
          (await readFile(join(fake().dir, "loaded", node, "operator.tar"))).equals(await readFile(path)),
        ).to.equal(true);
      }
    });
  });
});
