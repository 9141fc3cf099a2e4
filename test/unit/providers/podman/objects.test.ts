// Telling an interrupted earlier run's leftovers from a live lab of the same name, by labels and work dirs.
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import {
  ensureLabId,
  isLeftover,
  readLabId,
  withStopRaceRetry,
  type LabObject,
} from "../../../../bootstrap/providers/podman/objects.ts";
import { tempDir } from "../../helpers.ts";

function container(labels: Record<string, string>): LabObject {
  return { kind: "container", name: "demo-m-k8s", labels, state: "running" };
}

describe("providers/podman/objects", () => {
  it("a work dir keeps one random lab id, made on first use", async () => {
    const workDir = await tempDir();
    expect(await readLabId(workDir)).to.equal(undefined);
    const id = await ensureLabId(workDir);
    expect(id).to.match(/^[0-9a-f]{16}$/);
    expect(await ensureLabId(workDir)).to.equal(id);
    expect(await ensureLabId(await tempDir())).not.to.equal(id);
  });

  it("objects of this work dir's lab are never leftovers; those of a vanished or remade work dir are", async () => {
    const live = await tempDir();
    const liveId = await ensureLabId(live);
    const ours = await ensureLabId(await tempDir());
    const labelled = (id: string, workDir: string) =>
      container({ "kubelab.dev/lab": "demo", "kubelab.dev/lab-id": id, "kubelab.dev/workdir": workDir });
    expect(await isLeftover(labelled(ours, "/anywhere"), ours)).to.equal(false);
    // Another folder's lab of the same name, still there: live, not ours to remove.
    expect(await isLeftover(labelled(liveId, live), ours)).to.equal(false);
    // Its folder removed (a killed test's temp dir), or made again (a new id): what is left is a leftover.
    const gone = join(await tempDir(), "lab", ".kubelab");
    await mkdir(gone, { recursive: true });
    const goneId = await ensureLabId(gone);
    await rm(gone, { recursive: true });
    expect(await isLeftover(labelled(goneId, gone), ours)).to.equal(true);
    expect(await isLeftover(labelled("ffffffffffffffff", live), ours)).to.equal(true);
  });

  it("objects without a lab id were not made by the provider and are never its leftovers", async () => {
    const ours = await ensureLabId(await tempDir());
    expect(await isLeftover(container({ "kubelab.dev/lab": "demo" }), ours)).to.equal(false);
  });

  it("removes again when podman lost its stop race, and passes any other failure on at once", async () => {
    const race = new Error(
      "podman rm: exited with code 2: Error: cannot remove container 4cf1 as it could not be stopped: " +
        "sending SIGKILL to container 4cf1: container state improper: stopped",
    );
    let calls = 0;
    const removed = await withStopRaceRetry(() => {
      calls += 1;
      return calls === 1 ? Promise.reject(race) : Promise.resolve("removed");
    });
    expect([removed, calls]).to.deep.equal(["removed", 2]);

    calls = 0;
    const other = new Error("podman rm: exited with code 125: Error: no container with name or ID x found");
    const failed = await withStopRaceRetry(() => {
      calls += 1;
      return Promise.reject(other);
    }).catch((error: unknown) => error);
    expect([failed, calls]).to.deep.equal([other, 1]);
  });
});
