// Node health benchmarks: a silent node reported vs the controller-manager, and the operator at 1,000/5,000 nodes.
import { startControlPlane, type ControlPlane, type NodeSpec } from "../../bootstrap/controlplane/engine.ts";
import type { LabClusterStatus } from "../../operator/api/labcluster.ts";
import { LABCLUSTERS_PATH } from "../../operator/labcluster/cache.ts";
import { resourcePath, type KubeClient } from "../../operator/runtime/client.ts";
import { fixed, median, percentile, registerBench, verdict, type BenchContext } from "../framework.ts";
import { waitFor } from "../../test/envtest/index.ts";
import {
  adminClient,
  applyLabCluster,
  installCrds,
  OperatorProcess,
} from "../../test/integration/operator/helpers.ts";
import { EventClock } from "./support.ts";

const CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane";
const LEASE_STALE_SECONDS = 20;

interface NodeEventObject {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/** Times a node was first reported not ready in the LabCluster's status (by node name). */
function statusWatcher(
  client: KubeClient,
  labCluster: string,
  onStatus: (status: LabClusterStatus, at: number) => void,
) {
  return new EventClock(
    client,
    LABCLUSTERS_PATH,
    { fieldSelector: `metadata.name=${labCluster}` },
    (event, at) => {
      if (event.type === "ADDED" || event.type === "MODIFIED") onStatus(event.object.status ?? {}, at);
    },
  );
}

async function withPlane<T>(
  context: BenchContext,
  options: Parameters<typeof startControlPlane>[0],
  body: (plane: ControlPlane) => Promise<T>,
): Promise<T> {
  const plane = await startControlPlane({
    etcdUnsafeNoFsync: true,
    ...options,
    keepDir: process.env.KUBELAB_BENCH_KEEP === "1",
  });
  context.log(
    `control plane ${plane.server} up in ${fixed(plane.timings.totalMs / 1000)} s (logs: ${plane.logsDir})`,
  );
  try {
    return await body(plane);
  } finally {
    await plane.stop();
  }
}

registerBench({
  name: "operator/silent-node",
  description:
    "silent node -> LabCluster status vs controller-manager NotReady, same run (kubelet-like 40 s Lease, default 50 s grace)",
  async run(context) {
    const trials = Number(context.option("trials", "5"));
    const workers = Array.from({ length: trials }, (_, index) => `w${index + 1}-k8s`);
    const nodes: NodeSpec[] = [
      {
        name: "m-k8s",
        labels: { [CONTROL_PLANE_ROLE]: "" },
        taints: [{ key: CONTROL_PLANE_ROLE, effect: "NoSchedule" }],
      },
      ...workers.map((name) => ({ name })),
    ];
    return withPlane(context, { controllers: true, nodes }, async (plane) => {
      const client = adminClient(plane);
      await installCrds(plane);
      await applyLabCluster(
        "bench",
        {
          nodes: {
            expected: nodes.map((node) => ({
              name: node.name,
              role: node.name === "m-k8s" ? "control-plane" : "worker",
            })),
          },
          nodeHealth: { leaseStaleSeconds: LEASE_STALE_SECONDS },
        },
        plane,
      );
      const operator = await OperatorProcess.start(plane, "silent-node", ["--no-leader-election"]);
      const reportedAt = new Map<string, number>();
      const notReadyAt = new Map<string, number>();
      const silencedAt = new Map<string, number>();
      const statusClock = statusWatcher(client, "bench", (status, at) => {
        for (const entry of status.nodes ?? []) {
          if (!entry.ready && silencedAt.has(entry.name) && !reportedAt.has(entry.name))
            reportedAt.set(entry.name, at);
        }
      });
      const nodeClock = new EventClock(client, "/api/v1/nodes", {}, (event, at) => {
        const node = event.object as unknown as NodeEventObject;
        const ready = node.status?.conditions?.find((condition) => condition.type === "Ready")?.status;
        if (ready !== "True" && silencedAt.has(node.metadata.name) && !notReadyAt.has(node.metadata.name)) {
          notReadyAt.set(node.metadata.name, at);
        }
      });
      try {
        await waitFor(
          "every node healthy in status",
          async () => {
            const object = await client.get<{ status?: LabClusterStatus }>(`${LABCLUSTERS_PATH}/bench`);
            return object.status?.readyNodes === nodes.length ? true : undefined;
          },
          { timeoutMs: 60_000 },
        );
        const lastRenewal = new Map<string, number>();
        for (const [index, worker] of workers.entries()) {
          // Staggered, so the trials meet their Leases at different points of the 10 s renewal cycle.
          await new Promise((resolve) => setTimeout(resolve, index === 0 ? 0 : 3700));
          silencedAt.set(worker, Date.now());
          await plane.stopHeartbeats(worker);
          context.log(`silenced ${worker}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
        for (const worker of workers) {
          const lease = await client.get<{ spec: { renewTime: string } }>(
            resourcePath({
              group: "coordination.k8s.io",
              version: "v1",
              plural: "leases",
              namespace: "kube-node-lease",
              name: worker,
            }),
          );
          lastRenewal.set(worker, Date.parse(lease.spec.renewTime));
        }
        await waitFor(
          "every silent node NotReady",
          () => (notReadyAt.size === workers.length ? true : undefined),
          { timeoutMs: 120_000 },
        );
        const rows = workers.map((worker, index) => {
          const silenced = silencedAt.get(worker)!;
          const reported = reportedAt.get(worker) ?? Number.NaN;
          const notReady = notReadyAt.get(worker) ?? Number.NaN;
          const renewed = lastRenewal.get(worker)!;
          return {
            trial: index + 1,
            worker,
            reported: (reported - silenced) / 1000,
            sinceRenewal: (reported - renewed) / 1000,
            notReady: (notReady - silenced) / 1000,
          };
        });
        const reported = median(rows.map((row) => row.reported));
        const notReady = median(rows.map((row) => row.notReady));
        const worstSinceRenewal = Math.max(...rows.map((row) => row.sinceRenewal));
        const ratio = notReady / reported;
        return [
          {
            title: `Silent node -> reported (operator) vs NotReady (controller-manager), ${trials} trials, leaseStaleSeconds ${LEASE_STALE_SECONDS}`,
            columns: [
              "trial",
              "node",
              "silence -> status (s)",
              "last renewal -> status (s)",
              "silence -> NotReady (s)",
              "ratio",
            ],
            rows: [
              ...rows.map((row) => [
                row.trial,
                row.worker,
                fixed(row.reported),
                fixed(row.sinceRenewal, 2),
                fixed(row.notReady),
                `${fixed(row.notReady / row.reported)}x`,
              ]),
              [
                "median",
                "",
                fixed(reported),
                fixed(median(rows.map((row) => row.sinceRenewal)), 2),
                fixed(notReady),
                `${fixed(ratio)}x`,
              ],
            ],
            notes: [
              `Target: reported within leaseStaleSeconds + 1 s (${LEASE_STALE_SECONDS + 1} s) of the node's last Lease renewal: ` +
                `worst ${fixed(worstSinceRenewal, 2)} s, ${verdict(worstSinceRenewal <= LEASE_STALE_SECONDS + 1)}.`,
              `Target: at least 2x sooner than the controller-manager (median): ${fixed(ratio)}x, ${verdict(ratio >= 2)}.`,
              "A node is silenced by taking it away from kwok (its kubelet), which stops renewing its Lease (every 10 s) " +
                "and posting status; times are the arrival of the watch events of the LabCluster status and of the Node.",
            ],
          },
        ];
      } finally {
        await statusClock.stop();
        await nodeClock.stop();
        await operator.stop();
      }
    });
  },
});

/** Nodes no kwok manages, whose Lease and Ready condition the benchmark drives itself to flip them. */
class FlipNodes {
  readonly names: string[];
  readonly #client: KubeClient;
  #renewer: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, count: number) {
    this.#client = client;
    this.names = Array.from({ length: count }, (_, index) => `flip-${String(index).padStart(3, "0")}`);
  }

  async create(): Promise<void> {
    for (const name of this.names) {
      await this.#client.create("/api/v1/nodes", { apiVersion: "v1", kind: "Node", metadata: { name } });
      await this.#client.create(
        resourcePath({
          group: "coordination.k8s.io",
          version: "v1",
          plural: "leases",
          namespace: "kube-node-lease",
        }),
        {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace: "kube-node-lease" },
          spec: {
            holderIdentity: name,
            leaseDurationSeconds: 40,
            renewTime: new Date().toISOString().replace("Z", "000Z"),
          },
        },
      );
      await this.setReady(name, true);
    }
    // Renewed every 5 s, as a kubelet would (every 10 s), so that only the Ready flips change their health.
    this.#renewer = setInterval(() => void this.#renewAll(), 5000);
  }

  async #renewAll(): Promise<void> {
    for (const name of this.names) {
      await this.#client
        .mergePatch(
          resourcePath({
            group: "coordination.k8s.io",
            version: "v1",
            plural: "leases",
            namespace: "kube-node-lease",
            name,
          }),
          { spec: { renewTime: new Date().toISOString().replace("Z", "000Z") } },
        )
        .catch(() => {});
    }
  }

  async setReady(name: string, ready: boolean): Promise<void> {
    const now = new Date().toISOString();
    await this.#client.request("PATCH", `/api/v1/nodes/${name}/status`, {
      contentType: "application/strategic-merge-patch+json",
      body: {
        status: {
          conditions: [
            {
              type: "Ready",
              status: ready ? "True" : "False",
              reason: ready ? "KubeletReady" : "BenchFlip",
              message: "",
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    });
  }

  stop(): void {
    clearInterval(this.#renewer);
  }
}

registerBench({
  name: "operator/scale",
  description: "operator RSS, initial sync and node flip -> status latency at 1,000 and 5,000 kwok nodes",
  async run(context) {
    const sizes = context.option("nodes", "1000,5000").split(",").map(Number);
    const flips = Number(context.option("flips", "100"));
    const rows: (string | number)[][] = [];
    const notes: string[] = [];
    for (const size of sizes) {
      const row = await withPlane(context, { nodes: [{ name: "node-00000" }] }, async (plane) => {
        const client = adminClient(plane);
        await installCrds(plane);
        const flipNodes = new FlipNodes(client, 20);
        const kwokNodes = size - flipNodes.names.length;
        const started = Date.now();
        for (let first = 1; first < kwokNodes; first += 500) {
          const batch = Array.from({ length: Math.min(500, kwokNodes - first) }, (_, offset) => ({
            name: `node-${String(first + offset).padStart(5, "0")}`,
          }));
          await plane.addNodes(batch, 600_000);
          context.log(
            `${first + batch.length} kwok nodes Ready (${fixed((Date.now() - started) / 1000, 0)} s)`,
          );
        }
        await flipNodes.create();
        await applyLabCluster("scale", {}, plane);
        const operator = await OperatorProcess.start(plane, `scale-${size}`, ["--no-leader-election"]);
        let firstFullStatusAt: number | undefined;
        /** The flip being timed: resolved by the first status event that shows it. */
        let expecting: { name: string; down: boolean; seen: (at: number) => void } | undefined;
        const watcher = statusWatcher(client, "scale", (current, at) => {
          if (firstFullStatusAt === undefined && current.readyNodes === size) firstFullStatusAt = at;
          if (expecting === undefined) return;
          const entry = current.nodes?.find((node) => node.name === expecting!.name);
          // Unhealthy nodes are listed first, so a healthy node is either listed ready or not listed.
          const shows = expecting.down ? entry?.ready === false : entry === undefined || entry.ready;
          if (shows) expecting.seen(at);
        });
        try {
          await waitFor("the first status with every node ready", () => firstFullStatusAt, {
            timeoutMs: 120_000,
          });
          const synced = operator.loggedAt("caches synced; starting controllers")! - operator.spawnedAt;
          const fullStatus = firstFullStatusAt! - operator.spawnedAt;
          context.log(
            `caches synced after ${fixed(synced / 1000, 2)} s; full status after ${fixed(fullStatus / 1000, 2)} s`,
          );
          // Let kwok's heartbeats of every node flow through the informers for a while before measuring memory.
          await new Promise((resolve) => setTimeout(resolve, 30_000));
          const latencies: number[] = [];
          for (let flip = 0; flip < flips; flip++) {
            const name = flipNodes.names[Math.floor(flip / 2) % flipNodes.names.length]!;
            const down = flip % 2 === 0;
            const seenAt = new Promise<number>((resolve) => (expecting = { name, down, seen: resolve }));
            const sentAt = Date.now();
            await flipNodes.setReady(name, !down);
            let timer: NodeJS.Timeout | undefined;
            const seen = await Promise.race([
              seenAt,
              new Promise<never>((_, reject) => {
                timer = setTimeout(
                  () => reject(new Error(`status never showed ${name} ${down ? "not ready" : "ready"}`)),
                  60_000,
                );
              }),
            ]).finally(() => clearTimeout(timer));
            expecting = undefined;
            latencies.push(seen - sentAt);
            // Back up the same node only after this flip was seen.
            if (!down) await new Promise((resolve) => setTimeout(resolve, 100));
          }
          const memory = operator.memory();
          const p99 = percentile(latencies, 99);
          const atTarget = size >= 5000;
          notes.push(
            `${size} nodes: RSS ${fixed(memory.rssMB, 0)} MB (peak ${fixed(memory.peakMB, 0)}), sync ${fixed(synced / 1000, 2)} s, ` +
              `flip p99 ${fixed(p99, 0)} ms` +
              (atTarget
                ? `: targets RSS <= 150 MB: steady ${verdict(memory.rssMB <= 150)}, peak ${verdict(memory.peakMB <= 150)}; ` +
                  `sync <= 10 s ${verdict(synced <= 10_000)}; p99 <= 1 s ${verdict(p99 <= 1000)}.`
                : "."),
          );
          return [
            size,
            fixed(memory.rssMB, 0),
            fixed(memory.peakMB, 0),
            fixed(synced / 1000, 2),
            fixed(fullStatus / 1000, 2),
            fixed(median(latencies), 0),
            fixed(p99, 0),
            fixed(Math.max(...latencies), 0),
          ];
        } finally {
          flipNodes.stop();
          await watcher.stop();
          await operator.stop();
        }
      });
      rows.push(row);
    }
    return [
      {
        title: `Operator at scale (kwok nodes; ${flips} Ready flips of nodes the benchmark drives)`,
        columns: [
          "nodes",
          "RSS (MB)",
          "peak RSS (MB)",
          "caches synced (s)",
          "first full status (s)",
          "flip -> status p50 (ms)",
          "p99 (ms)",
          "max (ms)",
        ],
        rows,
        notes: [
          ...notes,
          "Sync is measured from the operator process's spawn to its informers' first full lists (Nodes, Leases, " +
            "LabClusters); 'first full status' to the watch event of a status counting every node ready. A flip is a " +
            "PATCH of a node's Ready condition; its latency runs from before the PATCH to the watch event of the " +
            "LabCluster status that shows it. RSS from /proc after the flips.",
        ],
      },
    ];
  },
});
