// End to end through the real CLI: a lab comes up with the operator, heals its addons, reports a silent node, and is backed up, restored and torn down.
import { readdir, readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { expect } from "chai";

import { KWOK_MANAGED, KWOK_NODE_LABEL, KWOK_SILENCED } from "../../bootstrap/controlplane/kwok.ts";
import { API_GROUP as GROUP, API_VERSION as VERSION } from "../../operator/api/common.ts";
import { ETCDSNAPSHOT_PLURAL, type EtcdSnapshot } from "../../operator/api/etcdsnapshot.ts";
import { LABCLUSTER_PLURAL, type LabCluster } from "../../operator/api/labcluster.ts";
import { waitFor } from "../envtest/index.ts";
import { REPO, runBootstrap } from "../unit/helpers.ts";

/**
 * Which provider makes the lab: `sim` (default; runs anywhere with the envtest binaries), `kind` (needs Docker
 * and the kind CLI) or `vagrant` (needs VirtualBox). The suite only talks to the lab through the CLI and the
 * lab's kubeconfig, so it is the same scenario on each.
 */
const PROVIDER = process.env.KUBELAB_E2E_PROVIDER ?? "sim";
/** The Calico manifest for labs without internet; the sim lab uses our fixture of the real manifest's size. */
const CALICO_MANIFEST =
  process.env.KUBELAB_E2E_CALICO_MANIFEST ??
  (PROVIDER === "sim" ? join(REPO, "test", "fixtures", "calico", "calico-v3.31.7.yaml") : undefined);
/** How long the lab may take to come up: seconds on sim, many minutes on VMs. */
const UP_TIMEOUT_MS = PROVIDER === "sim" ? 600_000 : 3_600_000;
/** The worker the suite silences. */
const SILENCED_NODE = "w1-k8s";

interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
}

describe(`a lab on the ${PROVIDER} provider, end to end`, function () {
  this.timeout(UP_TIMEOUT_MS);
  let lab: string;
  let workDir: string;
  let config: KubeConfig;

  const bootstrap = (args: readonly string[], timeoutMs = 600_000) =>
    runBootstrap(args, { cwd: lab, timeoutMs });

  const labClusters = async (): Promise<LabCluster[]> => {
    const list = (await config
      .makeApiClient(CustomObjectsApi)
      .listClusterCustomObject({ group: GROUP, version: VERSION, plural: LABCLUSTER_PLURAL })) as {
      items: LabCluster[];
    };
    return list.items;
  };

  const theLabCluster = async (): Promise<LabCluster> => {
    const items = await labClusters();
    expect(items, "bootstrap makes exactly one LabCluster").to.have.length(1);
    return items[0]!;
  };

  const condition = (cluster: LabCluster, type: string): Condition | undefined =>
    (cluster.status?.conditions as readonly Condition[] | undefined)?.find((c) => c.type === type);

  const waitReady = async (what: string, timeoutMs: number): Promise<LabCluster> => {
    let last = "";
    try {
      return await waitFor(
        what,
        async () => {
          const cluster = await theLabCluster();
          const ready = condition(cluster, "Ready");
          last = `${ready?.status ?? "no Ready condition"} ${ready?.reason ?? ""}: ${ready?.message ?? ""}`;
          return ready?.status === "True" &&
            cluster.status?.observedGeneration === cluster.metadata.generation
            ? cluster
            : undefined;
        },
        { timeoutMs, intervalMs: 1000 },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; last Ready: ${last}`, { cause: error });
    }
  };

  /** Deletes a workload and waits for a new object (another uid) and the operator's Event naming it. */
  const deleteAndExpectRestore = async (
    kind: "Deployment" | "DaemonSet",
    name: string,
    labCluster: string,
  ): Promise<void> => {
    const apps = config.makeApiClient(AppsV1Api);
    const namespace = "kube-system";
    const read =
      kind === "Deployment"
        ? () => apps.readNamespacedDeployment({ name, namespace })
        : () => apps.readNamespacedDaemonSet({ name, namespace });
    const before = await read();
    const deletedAt = Date.now();
    if (kind === "Deployment") await apps.deleteNamespacedDeployment({ name, namespace });
    else await apps.deleteNamespacedDaemonSet({ name, namespace });
    const restored = await waitFor(
      `${kind} ${name} to be re-created`,
      async () => {
        const object = await read().catch(() => undefined);
        return object !== undefined && object.metadata?.uid !== before.metadata?.uid ? object : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(restored.spec?.template.spec?.containers.map((c) => c.image)).to.deep.equal(
      before.spec?.template.spec?.containers.map((c) => c.image),
    );
    await waitFor(
      `an AddonObjectRestored Event on LabCluster ${labCluster} for ${kind} ${name}`,
      async () => {
        const events = await config.makeApiClient(EventsV1Api).listEventForAllNamespaces();
        return events.items.some(
          (event) =>
            event.reason === "AddonObjectRestored" &&
            event.regarding?.kind === "LabCluster" &&
            event.regarding.name === labCluster &&
            event.related?.kind === kind &&
            event.related.name === name &&
            new Date(event.eventTime ?? 0).getTime() >= deletedAt - 1000,
        );
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  };

  /** Stops a node's heartbeats: kwok lets go of it on sim; the kubelet is stopped on nodes with a shell. */
  const setHeartbeats = async (node: string, on: boolean): Promise<void> => {
    if (PROVIDER === "sim") {
      await config.makeApiClient(CoreV1Api).patchNode(
        {
          name: node,
          body: { metadata: { labels: { [KWOK_NODE_LABEL]: on ? KWOK_MANAGED : KWOK_SILENCED } } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      return;
    }
    // vagrant ssh logs in as the box's user; kind and podman nodes are exec'd as root, and kind's node image
    // has no sudo.
    const asRoot = PROVIDER === "vagrant" ? ["sudo"] : [];
    const result = await bootstrap([
      "ssh",
      node,
      "--",
      ...asRoot,
      "systemctl",
      on ? "start" : "stop",
      "kubelet",
    ]);
    expect(result.exitCode, result.output).to.equal(0);
  };

  /** Pids of the processes whose command line names the lab's directory (the sim lab runs them locally). */
  const processesOfLab = async (): Promise<number[]> => {
    const pids: number[] = [];
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
      if (cmdline.includes(lab)) pids.push(Number(entry));
    }
    return pids;
  };

  before(async () => {
    lab = await mkdtemp(join(tmpdir(), "kubelab-e2e-"));
    workDir = join(lab, ".kubelab");
    const init = await bootstrap(["init"]);
    expect(init.exitCode, init.output).to.equal(0);
  });

  after(async () => {
    // Whatever failed above, leave nothing running.
    if (lab === undefined) return;
    await bootstrap(["down", "--yes"]);
    if (process.env.KUBELAB_E2E_KEEP === undefined) await rm(lab, { recursive: true, force: true });
  });

  it("`bootstrap up` ends with the operator running and the LabCluster Ready, all nodes healthy", async () => {
    const args = ["up", "--provider", PROVIDER];
    if (CALICO_MANIFEST !== undefined) args.push("--calico-manifest", CALICO_MANIFEST);
    const up = await bootstrap(args, UP_TIMEOUT_MS);
    expect(up.exitCode, up.output).to.equal(0);

    config = new KubeConfig();
    config.loadFromFile(join(workDir, "kubeconfig"));
    const cluster = await waitReady("the LabCluster to be Ready", 120_000);
    expect(cluster.status?.readyNodes).to.equal(4);
    expect(cluster.status?.expectedNodes).to.equal(4);
    for (const type of ["NodesHealthy", "CalicoHealthy", "CoreDNSHealthy"]) {
      expect(condition(cluster, type)?.status, type).to.equal("True");
    }
    expect(up.output, "the summary names the kubeconfig").to.contain(join(workDir, "kubeconfig"));

    const again = await bootstrap(args, UP_TIMEOUT_MS);
    expect(again.exitCode, again.output).to.equal(0);
    expect(again.output.toLowerCase()).to.contain("nothing to do");
  });

  it("re-creates the coredns Deployment and the calico-node DaemonSet after they are deleted, with an Event each", async () => {
    const name = (await theLabCluster()).metadata.name;
    await deleteAndExpectRestore("Deployment", "coredns", name);
    await deleteAndExpectRestore("DaemonSet", "calico-node", name);
    // The status counts each restore; Ready may still be the one from before the deletes, so wait for both.
    await waitFor(
      "status to count the restores of both addons",
      async () => {
        const addons = (await theLabCluster()).status?.addons;
        return (addons?.coredns?.restores ?? 0) > 0 && (addons?.calico?.restores ?? 0) > 0;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await waitReady("the LabCluster to be Ready after the restores", 120_000);
  });

  it("reports a silenced node as unhealthy, and healthy again once it is back", async () => {
    await setHeartbeats(SILENCED_NODE, false);
    try {
      const cluster = await waitFor(
        `${SILENCED_NODE} to be reported unhealthy`,
        async () => {
          const current = await theLabCluster();
          const node = current.status?.nodes?.find((n) => n.name === SILENCED_NODE);
          return node?.ready === false && condition(current, "NodesHealthy")?.status === "False"
            ? current
            : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 1000 },
      );
      const node = cluster.status?.nodes?.find((n) => n.name === SILENCED_NODE);
      expect(["LeaseStale", "NotReady", "ReadyUnknown"]).to.include(node?.reason);
      expect(condition(cluster, "Ready")?.status).to.equal("False");
    } finally {
      await setHeartbeats(SILENCED_NODE, true);
    }
    const back = await waitReady(`the LabCluster to be Ready with ${SILENCED_NODE} back`, 180_000);
    expect(back.status?.readyNodes).to.equal(4);
  });

  it("`bootstrap backup` records a verified EtcdSnapshot, and `bootstrap restore --snapshot latest --yes` brings back a namespace deleted after it", async () => {
    const core = config.makeApiClient(CoreV1Api);
    const namespace = "e2e-restored";
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "proof" }, data: { saved: "before the backup" } },
    });

    const backup = await bootstrap(["backup"]);
    expect(backup.exitCode, backup.output).to.equal(0);
    const snapshots = (
      (await config
        .makeApiClient(CustomObjectsApi)
        .listClusterCustomObject({ group: GROUP, version: VERSION, plural: ETCDSNAPSHOT_PLURAL })) as {
        items: EtcdSnapshot[];
      }
    ).items;
    expect(snapshots, "one snapshot after one backup").to.have.length(1);
    const snapshot = snapshots[0]!;
    expect(snapshot.status?.verification?.verified, JSON.stringify(snapshot.status)).to.equal(true);
    expect(backup.output).to.contain(snapshot.metadata.name);
    const list = await bootstrap(["backups"]);
    expect(list.exitCode, list.output).to.equal(0);
    expect(list.output).to.contain(snapshot.metadata.name);

    await core.deleteNamespace({ name: namespace });
    await waitFor(
      `namespace ${namespace} to be gone`,
      async () =>
        (await core.readNamespace({ name: namespace }).then(
          () => false,
          () => true,
        )) || undefined,
      { timeoutMs: 120_000, intervalMs: 500 },
    );

    const restore = await bootstrap(["restore", "--snapshot", "latest", "--yes"], UP_TIMEOUT_MS);
    expect(restore.exitCode, restore.output).to.equal(0);
    config = new KubeConfig();
    config.loadFromFile(join(workDir, "kubeconfig"));
    const proof = await waitFor(
      "the ConfigMap of the deleted namespace to be back",
      () => config.makeApiClient(CoreV1Api).readNamespacedConfigMap({ namespace, name: "proof" }),
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(proof.data).to.deep.equal({ saved: "before the backup" });
    await waitReady("the LabCluster to be Ready after the restore", 300_000);
  });

  it("`bootstrap down` leaves nothing running and keeps the backups", async () => {
    const labProcesses = await processesOfLab();
    if (PROVIDER === "sim") {
      // The supervisor, etcd, kube-apiserver, controller-manager, scheduler, kwok and the operator.
      expect(labProcesses.length, "the sim lab's local processes").to.be.at.least(7);
    }
    const down = await bootstrap(["down", "--yes"]);
    expect(down.exitCode, down.output).to.equal(0);
    expect(await processesOfLab(), "processes of the lab still running").to.deep.equal([]);

    const status = await bootstrap(["status"]);
    expect(status.output).to.not.match(/\bkwok \(supervisor|\brunning\b/);
    const backups = await readdir(join(workDir, "backups")).catch(() => []);
    expect(
      backups.some((file) => file.endsWith(".db")),
      `backups kept: ${backups.join(", ")}`,
    ).to.equal(true);
  });
});
