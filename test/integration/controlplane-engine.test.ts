// The engine as a library: side-by-side instances, teardown on stop and on interruption, a restore drill, timeouts.
import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { CoreV1Api } from "@kubernetes/client-node";
import { expect } from "chai";
import { execa } from "execa";

import { type ControlPlane, startControlPlane } from "../../bootstrap/controlplane/engine.ts";
import { isRunning } from "../../bootstrap/controlplane/process.ts";
import { api, controlPlane, createNamespace, deleteNamespace, etcdctlSnapshot } from "../envtest/index.ts";

const NODE = fileURLToPath(new URL("../../node_modules/.bin/node", import.meta.url));
const START_FIXTURE = fileURLToPath(new URL("./fixtures/start-control-plane.ts", import.meta.url));

async function gone(path: string): Promise<boolean> {
  return access(path).then(
    () => false,
    () => true,
  );
}

async function waitUntilDead(pids: readonly number[], timeoutMs = 20_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isRunning) && Date.now() < deadline) await sleep(100);
  return pids.filter(isRunning);
}

describe("control plane: engine", () => {
  it("runs a second control plane beside the suite's, on other ports, with its own CA and data", async () => {
    const shared = controlPlane();
    const second = await startControlPlane({ etcdUnsafeNoFsync: true });
    try {
      expect(second.dir).to.not.equal(shared.dir);
      const used = ({ ports }: ControlPlane): number[] => [
        ports.etcdClient,
        ports.etcdPeer,
        ports.apiServer,
        ports.controllerManager,
        ports.scheduler,
      ];
      expect(used(second).filter((port) => used(shared).includes(port))).to.deep.equal([]);
      expect(second.kubeConfig.getCurrentCluster()?.caData).to.not.equal(
        shared.kubeConfig.getCurrentCluster()?.caData,
      );

      const namespace = await createNamespace("only-in-shared");
      try {
        const names = (await second.kubeConfig.makeApiClient(CoreV1Api).listNamespace()).items.map(
          (item) => item.metadata?.name,
        );
        expect(names).to.include("default").and.not.to.include(namespace);
      } finally {
        await deleteNamespace(namespace);
      }
      const pids = Object.values(second.pids);
      expect(pids).to.have.length(2);
      await second.stop();
      expect(pids.filter(isRunning), "processes left after stop()").to.deep.equal([]);
      expect(await gone(second.dir), `${second.dir} was not removed`).to.equal(true);
    } finally {
      await second.stop();
    }
    expect(
      (await api(CoreV1Api).listNamespace()).items.length,
      "the suite's control plane was disturbed",
    ).to.be.above(0);
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`leaves no process and no directory behind when its host process gets ${signal}`, async function () {
      this.timeout(120_000);
      const child = execa(NODE, [START_FIXTURE], { reject: false, timeout: 110_000 });
      // Read the first line without iterating execa's stream: ending such an iteration early ends the child.
      const firstLine = await new Promise<string>((resolve) => {
        let text = "";
        child.stdout.on("data", (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes("\n")) resolve(text.split("\n")[0]!);
        });
        child.stdout.on("end", () => resolve(text));
      });
      const started =
        firstLine === ""
          ? undefined
          : (JSON.parse(firstLine) as { pids: Record<string, number>; dir: string });
      expect(started, "the fixture printed nothing").to.not.equal(undefined);
      const pids = Object.values(started!.pids);
      expect(pids.every(isRunning)).to.equal(true);
      child.kill(signal);
      const result = await child;
      expect(result.signal, String(result.stderr)).to.equal(signal);
      expect(await waitUntilDead(pids), "component processes survived their host").to.deep.equal([]);
      expect(await gone(started!.dir), `${started!.dir} was not removed`).to.equal(true);
    });
  }

  it("restores etcd from a snapshot: stop kube-apiserver and etcd, restore to a new data dir, restart", async function () {
    this.timeout(120_000);
    const plane = await startControlPlane({ etcdUnsafeNoFsync: true });
    const scratch = await mkdtemp(join(tmpdir(), "kubelab-restore-test-"));
    try {
      const core = plane.kubeConfig.makeApiClient(CoreV1Api);
      const etcd = plane.etcd;
      await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "before" } } });
      const snapshot = join(scratch, "snapshot.db");
      await etcdctlSnapshot(plane, snapshot);
      await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "after" } } });

      await plane.stopComponents(["kube-apiserver", "etcd"]);
      expect(plane.pids).to.deep.equal({});
      const restored = join(scratch, "etcd-restored");
      await execa(
        plane.binaries.path("etcdutl"),
        [
          "snapshot",
          "restore",
          snapshot,
          `--data-dir=${restored}`,
          `--name=${etcd.name}`,
          `--initial-cluster=${etcd.initialCluster}`,
          `--initial-advertise-peer-urls=${etcd.peerUrl}`,
        ],
        { timeout: 60_000 },
      );
      await plane.startComponents(["etcd", "kube-apiserver"], { etcdDataDir: restored });
      expect(plane.etcd.dataDir).to.equal(restored);

      const names = (await core.listNamespacedConfigMap({ namespace: "default" })).items.map(
        (item) => item.metadata?.name,
      );
      expect(names).to.include("before").and.not.to.include("after");
    } finally {
      await plane.stop();
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it("gives up at the start timeout with the components' log tails, and removes its directory", async () => {
    const error = await startControlPlane({ startTimeoutMs: 1, etcdUnsafeNoFsync: true }).then(
      (plane) => plane.stop().then(() => undefined),
      (reason: unknown) => reason as Error,
    );
    expect(error, "the start did not time out").to.be.instanceOf(Error);
    expect(error!.message).to.contain("timed out waiting for etcd to become healthy");
    const logPath = /--- etcd \((.*)\/logs\/etcd\.log\) ---\n/.exec(error!.message);
    expect(logPath, error!.message).to.not.equal(null);
    expect(await gone(logPath![1]!), `${logPath![1]} was not removed`).to.equal(true);
  });
});
