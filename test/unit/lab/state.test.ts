// state.json: persisted progress (atomic, serialised writes), the lab-change rules, and the lab lock.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { StateError } from "../../../bootstrap/errors.ts";
import { acquireLock, incompatibleChanges, LabState } from "../../../bootstrap/lab/state.ts";
import { labOf, tempDir } from "../helpers.ts";

describe("lab/state", () => {
  it("starts empty, and keeps what was recorded across loads", async () => {
    const file = join(await tempDir(), "state.json");
    const state = await LabState.load(file);
    expect(state.isDone("kubeadm-init")).to.equal(false);
    expect(state.hasProgress).to.equal(false);
    await state.setLab(labOf());
    await state.markDone("kubeadm-init");
    await state.markDone("prepare-nodes:m-k8s", "digest-1");
    await state.setCluster({ caCertHash: "sha256:abc" });
    const loaded = await LabState.load(file);
    expect(loaded.isDone("kubeadm-init")).to.equal(true);
    expect(loaded.isDone("prepare-nodes:m-k8s", "digest-1")).to.equal(true);
    expect(loaded.isDone("prepare-nodes:m-k8s", "digest-2")).to.equal(false);
    expect(loaded.cluster.caCertHash).to.equal("sha256:abc");
    expect(loaded.lab).to.deep.equal(labOf());
  });

  it("many concurrent records all land in the file (writes are serialised)", async () => {
    const file = join(await tempDir(), "state.json");
    const state = await LabState.load(file);
    await Promise.all(Array.from({ length: 40 }, (_, i) => state.markDone(`step:${i}`)));
    const loaded = await LabState.load(file);
    for (let i = 0; i < 40; i++) expect(loaded.isDone(`step:${i}`), `step:${i}`).to.equal(true);
    expect(Object.keys((JSON.parse(await readFile(file, "utf8")) as { steps: object }).steps)).to.have.length(
      40,
    );
  });

  it("forget drops matching records only", async () => {
    const state = await LabState.load(join(await tempDir(), "state.json"));
    await state.markDone("prepare-nodes:w1-k8s");
    await state.markDone("prepare-nodes:w2-k8s");
    await state.forget((key) => key.endsWith(":w1-k8s"));
    expect(state.isDone("prepare-nodes:w1-k8s")).to.equal(false);
    expect(state.isDone("prepare-nodes:w2-k8s")).to.equal(true);
  });

  it("a damaged or foreign state file is a StateError naming the file", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "broken.json"), "{ not json");
    await writeFile(join(dir, "future.json"), JSON.stringify({ version: 99, steps: {} }));
    for (const name of ["broken.json", "future.json"]) {
      try {
        await LabState.load(join(dir, name));
        expect.fail("must throw");
      } catch (error) {
        expect(error).to.be.instanceOf(StateError);
        expect((error as Error).message).to.contain(name);
      }
    }
  });

  describe("incompatibleChanges", () => {
    const created = labOf();
    it("allows the same lab, more workers, other Calico and backup settings", () => {
      expect(incompatibleChanges(created, labOf())).to.deep.equal([]);
      expect(incompatibleChanges(created, labOf({ workers: { count: 5 } }))).to.deep.equal([]);
      expect(
        incompatibleChanges(created, labOf({ calico: { version: "v3.30.0" }, backup: { retain: 3 } })),
      ).to.deep.equal([]);
    });

    it("refuses changes to what the machines and the cluster were built from, naming each path", () => {
      const changed = labOf({
        name: "other",
        kubernetes: { version: "1.35" },
        network: { podCidr: "10.244.0.0/16" },
        controlPlane: { memoryMiB: 4096 },
        vagrant: { provider: "libvirt" },
      });
      expect(incompatibleChanges(created, changed).map((p) => p.path)).to.deep.equal([
        "name",
        "kubernetes.version",
        "vagrant.provider",
        "controlPlane.memoryMiB",
        "network.podCidr",
      ]);
      expect(incompatibleChanges(created, changed)[1]?.message).to.equal(
        'was "1.36" when the lab was created, now "1.35": an existing lab cannot change it',
      );
    });

    it("refuses removing workers or changing an existing one", () => {
      expect(incompatibleChanges(created, labOf({ workers: { count: 2 } })).map((p) => p.path)).to.deep.equal(
        ["workers.count"],
      );
      expect(incompatibleChanges(created, labOf({ workers: { cpus: 2 } })).map((p) => p.path)).to.deep.equal([
        "workers[0].cpus (w1-k8s)",
        "workers[1].cpus (w2-k8s)",
        "workers[2].cpus (w3-k8s)",
      ]);
    });
  });

  describe("acquireLock", () => {
    it("lets one command hold the lab, refuses a second, and frees it on release", async () => {
      const dir = await tempDir();
      const release = await acquireLock(dir, "up");
      try {
        await acquireLock(dir, "down");
        expect.fail("second lock must fail");
      } catch (error) {
        expect(error).to.be.instanceOf(StateError);
        expect((error as Error).message).to.contain(`pid ${process.pid}`);
      }
      await release();
      const again = await acquireLock(dir, "down");
      await again();
    });

    it("takes over a lock whose process is gone", async () => {
      const dir = await tempDir();
      const finished = execa("true");
      const pid = finished.pid;
      await finished;
      await writeFile(join(dir, "lock"), `${pid} up\n`);
      const release = await acquireLock(dir, "up");
      expect(await readFile(join(dir, "lock"), "utf8")).to.equal(`${process.pid} up\n`);
      await release();
    });
  });
});
