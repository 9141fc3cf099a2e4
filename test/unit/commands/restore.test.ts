// `bootstrap restore` and the backups folder through the real bin: help, refusals, and `down` keeping .kubelab/backups.
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { silentLogger } from "../../../bootstrap/log.ts";
import { VagrantProvider } from "../../../bootstrap/providers/vagrant/provider.ts";
import { labOf, runBootstrap, tempDir, useFakeVagrantOnPath } from "../helpers.ts";

describe("bootstrap restore (CLI)", function () {
  this.timeout(60_000);
  const currentFake = useFakeVagrantOnPath();

  it("--help explains the procedure and the exit codes, and exits 0", async () => {
    const result = await runBootstrap(["restore", "--help"], { cwd: await tempDir() });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.contain("--snapshot <name>");
    expect(result.stdout).to.contain("-y, --yes");
    expect(result.stdout).to.contain("etcdutl restores the");
    expect(result.stdout).to.match(/Exit codes: 0 restored \(or declined\), 1 the restore failed/);
    expect(result.stdout).to.contain("2 unknown or unverified snapshot, or no terminal and no --yes");
  });

  it("before `up` there is nothing to restore: exit 1, and the hint says to run up", async () => {
    const result = await runBootstrap(["restore", "--yes"], { cwd: await tempDir(), env: currentFake().env });
    expect(result.exitCode).to.equal(1);
    expect(result.stderr).to.contain("has no kubeconfig yet");
    expect(result.stderr).to.contain("run `bootstrap up` first");
  });

  it("vagrant: .kubelab/backups exists (owner-only) once the machines do, and `down --yes` keeps the snapshots in it", async () => {
    const fake = currentFake();
    const cwd = await tempDir();
    const workDir = join(cwd, ".kubelab");
    const lab = labOf({ workers: { count: 0 } });
    await writeFile(
      join(cwd, "lab.yaml"),
      "apiVersion: kubelab.dev/v1alpha1\nkind: Lab\nworkers:\n  count: 0\n",
    );
    await new VagrantProvider().createNodes(lab, lab.nodes, {
      workDir,
      logger: silentLogger(),
      signal: new AbortController().signal,
    });
    const backups = join(workDir, "backups");
    expect((await stat(backups)).mode & 0o777).to.equal(0o700);
    await writeFile(join(backups, "etcd-20261126-230000-ab12.db"), "snapshot bytes");
    await writeFile(join(backups, "etcd-20261126-230000-ab12.json"), "{}");

    const down = await runBootstrap(["down", "--yes"], { cwd, env: fake.env });
    expect(down.exitCode, down.stderr).to.equal(0);
    expect((await fake.calls()).at(-1)?.argv).to.deep.equal(["destroy", "--force", "--machine-readable"]);
    expect((await readdir(backups)).sort()).to.deep.equal([
      "etcd-20261126-230000-ab12.db",
      "etcd-20261126-230000-ab12.json",
    ]);
  });
});
