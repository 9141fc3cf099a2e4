// What providers with a node shell share: script markers as progress, failures named by step and node, copied secrets.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { CommandError, StepError } from "../../../bootstrap/errors.ts";
import { silentLogger } from "../../../bootstrap/log.ts";
import { asStepFailure, scriptMarkers, writeCopiedFile } from "../../../bootstrap/providers/node-io.ts";
import { tempDir } from "../helpers.ts";

describe("providers/node-io", () => {
  it("only the scripts' ==> lines become live progress, without the marker", () => {
    const seen: string[] = [];
    const tap = scriptMarkers("w1-k8s", {
      workDir: "/nowhere",
      logger: silentLogger(),
      signal: new AbortController().signal,
      progress: (node, line) => seen.push(`${node}: ${line}`),
    });
    for (const line of ["==> Installing containerd", "Reading package lists...", " ==> not a marker"])
      tap(line);
    expect(seen).to.deep.equal(["w1-k8s: Installing containerd"]);
  });

  it("a failed command becomes the step's failure on the node, with one log path and a short command name", () => {
    const failed = new CommandError(
      "kind create cluster --name demo --config kind/cluster.yaml",
      "exited with code 1: ERROR: boom",
      {
        logPath: "/lab/.kubelab/logs/kind.log",
      },
    );
    const plain = asStepFailure(failed, "create-nodes", "m-k8s", "/lab/.kubelab/logs/kind.log");
    expect(plain).to.be.instanceOf(StepError);
    expect((plain as Error).message).to.equal(
      "create-nodes on m-k8s failed: kind create cluster --name demo --config kind/cluster.yaml: exited with code 1: ERROR: boom (log: /lab/.kubelab/logs/kind.log)",
    );
    const short = asStepFailure(failed, "create-nodes", "m-k8s", "/l.log", {
      command: "kind create cluster",
      hint: "retry",
    });
    expect((short as Error).message).to.equal(
      "create-nodes on m-k8s failed: kind create cluster: exited with code 1: ERROR: boom (log: /l.log)",
    );
    expect((short as StepError).hint).to.equal("retry");
    expect((short as StepError).cause).to.equal(failed);
    const other = new Error("not a command");
    expect(asStepFailure(other, "x", "n", "/l")).to.equal(other);
  });

  it("a copied file lands owner-only with a final newline; an empty one is an error naming the file and node", async () => {
    const dir = await tempDir();
    const local = join(dir, "admin.conf");
    await writeCopiedFile("apiVersion: v1", local, {
      node: "m-k8s",
      remotePath: "/etc/kubernetes/admin.conf",
      logPath: "/l",
    });
    expect(await readFile(local, "utf8")).to.equal("apiVersion: v1\n");
    expect((await stat(local)).mode & 0o777).to.equal(0o600);
    try {
      await writeCopiedFile(" \n", join(dir, "empty"), {
        node: "m-k8s",
        remotePath: "/etc/x",
        logPath: "/l",
      });
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(CommandError);
      expect((error as Error).message).to.equal("copy /etc/x from m-k8s: the file is empty (log: /l)");
    }
  });
});
