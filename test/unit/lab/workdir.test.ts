// .kubelab/ holds every secret of a lab: created owner-only, refused when another user could write to it.
import { chmod, mkdir, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { UsageError } from "../../../bootstrap/errors.ts";
import { createWorkDir, secureWorkDir, workDirAt } from "../../../bootstrap/lab/workdir.ts";
import { runBootstrap, tempDir } from "../helpers.ts";

async function modeOf(path: string): Promise<string> {
  return ((await stat(path)).mode & 0o777).toString(8);
}

async function refusal(promise: Promise<unknown>): Promise<UsageError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).to.be.instanceOf(UsageError);
  return error as UsageError;
}

describe("lab/workdir", () => {
  it("createWorkDir makes .kubelab owner-only whatever the umask", async () => {
    const root = join(await tempDir(), ".kubelab");
    const umask = process.umask(0o022);
    try {
      createWorkDir(root);
    } finally {
      process.umask(umask);
    }
    expect(await modeOf(root)).to.equal("700");
  });

  it("tightens a readable .kubelab, its secrets/ and backups/ and the kubeconfig, and refuses nothing", async () => {
    const workDir = workDirAt(join(await tempDir(), ".kubelab"));
    await mkdir(workDir.secretsDir, { recursive: true, mode: 0o755 });
    await mkdir(workDir.backupsDir, { recursive: true, mode: 0o755 });
    await writeFile(workDir.kubeconfigFile, "apiVersion: v1\n", { mode: 0o644 });
    await chmod(workDir.root, 0o755);
    await secureWorkDir(workDir);
    expect([
      await modeOf(workDir.root),
      await modeOf(workDir.secretsDir),
      await modeOf(workDir.backupsDir),
      await modeOf(workDir.kubeconfigFile),
    ]).to.deep.equal(["700", "700", "700", "600"]);
  });

  it("refuses a group- or world-writable .kubelab and changes nothing", async () => {
    for (const mode of [0o775, 0o777, 0o703]) {
      const workDir = workDirAt(join(await tempDir(), ".kubelab"));
      await mkdir(workDir.root);
      await chmod(workDir.root, mode);
      const error = await refusal(secureWorkDir(workDir));
      expect(error.message).to.match(/is writable by (its group|every user)/);
      expect(await modeOf(workDir.root)).to.equal(mode.toString(8));
    }
  });

  it("refuses a .kubelab of another user, and a symbolic link", async () => {
    const workDir = workDirAt(join(await tempDir(), ".kubelab"));
    await mkdir(workDir.root, { mode: 0o700 });
    const owner = (await stat(workDir.root)).uid;
    expect((await refusal(secureWorkDir(workDir, owner + 1))).message).to.include(`belongs to user ${owner}`);

    const elsewhere = await tempDir();
    const linked = workDirAt(join(await tempDir(), ".kubelab"));
    await symlink(elsewhere, linked.root);
    expect((await refusal(secureWorkDir(linked))).message).to.include("is not a directory");
  });

  it("a missing .kubelab is left missing (status on a new lab writes nothing)", async () => {
    const workDir = workDirAt(join(await tempDir(), ".kubelab"));
    await secureWorkDir(workDir);
    const exists = await stat(workDir.root).then(
      () => true,
      () => false,
    );
    expect(exists).to.equal(false);
  });

  it("every command refuses a world-writable .kubelab with exit 2", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, ".kubelab"));
    await chmod(join(dir, ".kubelab"), 0o777);
    const result = await runBootstrap(["status"], { cwd: dir });
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.include("is writable by every user");
  });
});
