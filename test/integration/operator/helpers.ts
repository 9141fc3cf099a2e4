// Shared pieces of the operator's integration tests: the CRDs, an in-process operator, LabCluster helpers.
import { createWriteStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PassThrough } from "node:stream";
import { parse } from "yaml";

import { ManagedProcess } from "../../../bootstrap/controlplane/process.ts";
import type { LabClusterSpecInput, LabClusterStatus } from "../../../operator/api/labcluster.ts";
import { labClusterPath, LABCLUSTERS_PATH } from "../../../operator/labcluster/cache.ts";
import type { LabClusterPart } from "../../../operator/labcluster/part.ts";
import { createOperator, type Operator } from "../../../operator/operator.ts";
import { KubeClient } from "../../../operator/runtime/client.ts";
import {
  connectionFromKubeconfig,
  impersonate,
  type ClusterConnection,
} from "../../../operator/runtime/kubeconfig.ts";
import { createOperatorLogger } from "../../../operator/runtime/log.ts";
import type { LeaderElectionSettings, ManagerOptions } from "../../../operator/runtime/manager.ts";
import { RuntimeMetrics } from "../../../operator/runtime/metrics.ts";
import { controlPlane, waitFor, type ControlPlane } from "../../envtest/index.ts";

export const CRD_DIRECTORY = fileURLToPath(new URL("../../../crds/", import.meta.url));

/** The plane's admin kubeconfig as a connection of our runtime. */
export function adminConnection(plane: ControlPlane = controlPlane()): ClusterConnection {
  const file = plane.kubeconfigPath;
  return connectionFromKubeconfig([{ file, document: parse(readFileSync(file, "utf8")) }]);
}

const adminClients = new WeakMap<ControlPlane, KubeClient>();

/** A client of our runtime on the plane's admin credentials (one per plane, sharing its connections). */
export function adminClient(plane: ControlPlane = controlPlane()): KubeClient {
  let client = adminClients.get(plane);
  if (client === undefined) {
    client = new KubeClient(adminConnection(plane));
    adminClients.set(plane, client);
  }
  return client;
}

/** A client acting as `user` through impersonation (the admin may impersonate). */
export function impersonating(plane: ControlPlane, user: string): KubeClient {
  return new KubeClient(impersonate(adminConnection(plane), user));
}

/** Applies crds/ with server-side apply and waits until the API server serves LabClusters. */
export async function installCrds(plane: ControlPlane = controlPlane()): Promise<void> {
  await plane.kubectl(["apply", "--server-side", "--force-conflicts", "-k", CRD_DIRECTORY]);
  await plane.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/labclusters.kubelab.dev",
  ]);
  const client = adminClient(plane);
  await waitFor("LabClusters to be served", async () => {
    await client.get(LABCLUSTERS_PATH);
    return true;
  });
}

/** Creates (or replaces the spec of) a LabCluster. */
export async function applyLabCluster(
  name: string,
  spec: LabClusterSpecInput,
  plane: ControlPlane = controlPlane(),
): Promise<void> {
  await adminClient(plane).apply(
    labClusterPath(name),
    { apiVersion: "kubelab.dev/v1alpha1", kind: "LabCluster", metadata: { name }, spec },
    "kubelab-tests",
  );
}

export async function deleteLabCluster(name: string, plane: ControlPlane = controlPlane()): Promise<void> {
  await adminClient(plane).delete(labClusterPath(name));
}

export async function labClusterStatus(
  name: string,
  plane: ControlPlane = controlPlane(),
): Promise<LabClusterStatus> {
  const object = await adminClient(plane).get<{ status?: LabClusterStatus }>(labClusterPath(name));
  return object.status ?? {};
}

/** One condition of a LabCluster's status; undefined while it is not reported. */
export async function labClusterCondition(name: string, type: string, plane: ControlPlane = controlPlane()) {
  return (await labClusterStatus(name, plane)).conditions?.find((entry) => entry.type === type);
}

/** Waits until a LabCluster's condition `type` has `status`, and returns it. */
export async function waitLabClusterCondition(
  name: string,
  type: string,
  status: string,
  timeoutMs = 30_000,
  plane: ControlPlane = controlPlane(),
) {
  return waitFor(
    `${type}=${status}`,
    async () => {
      const found = await labClusterCondition(name, type, plane);
      return found?.status === status ? found : undefined;
    },
    { timeoutMs },
  );
}

/** The status entry of one node, if listed. */
export async function nodeStatus(labCluster: string, node: string, plane: ControlPlane = controlPlane()) {
  return (await labClusterStatus(labCluster, plane)).nodes?.find((entry) => entry.name === node);
}

export interface RunningOperator {
  readonly operator: Operator;
  readonly metrics: RuntimeMetrics;
  /** Every log record so far, parsed. */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * Runs the operator in this process against `plane`, logging to logs/operator-<name>.log of the plane. Without
 * leader election unless given; no probes unless given.
 */
export function startOperator(
  name: string,
  options: {
    plane?: ControlPlane;
    client?: KubeClient;
    leaderElection?: LeaderElectionSettings;
    probes?: ManagerOptions["probes"];
    informerDefaults?: ManagerOptions["informerDefaults"];
    /** Only these LabCluster parts (all of them by default). */
    parts?: readonly LabClusterPart[];
  } = {},
): RunningOperator {
  const plane = options.plane ?? controlPlane();
  const stream = new PassThrough();
  const logs: Record<string, unknown>[] = [];
  let partial = "";
  stream.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  stream.pipe(createWriteStream(join(plane.logsDir, `operator-${name}.log`), { flags: "a" }));
  const metrics = new RuntimeMetrics();
  const operator = createOperator({
    client: options.client ?? adminClient(plane),
    log: createOperatorLogger({ level: "debug", stream, defaultMeta: { operator: name } }),
    metrics,
    namespace: "default",
    identity: `test-${name}`,
    ...(options.leaderElection === undefined ? {} : { leaderElection: options.leaderElection }),
    ...(options.probes === undefined ? {} : { probes: options.probes }),
    ...(options.informerDefaults === undefined ? {} : { informerDefaults: options.informerDefaults }),
    ...(options.parts === undefined ? {} : { parts: options.parts }),
  });
  const abort = new AbortController();
  const running = operator.run(abort.signal);
  return {
    operator,
    metrics,
    logs,
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}

/**
 * Resolves once `controller` queued `key` after the log mark `since` (an index into `running.logs`, taken
 * before a change) and then finished a reconcile of it: proof the operator looked at the change, before a
 * check that something did not happen. Never a fixed sleep.
 */
export async function reconciledSince(
  running: RunningOperator,
  controller: string,
  key: string,
  since: number,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  const ours = (record: Record<string, unknown>) => record.controller === controller && record.key === key;
  await waitFor(
    `${controller} to reconcile ${key} after the change`,
    () => {
      const records = running.logs.slice(since);
      const queued = records.findIndex((record) => ours(record) && record.message === "queued");
      return (
        queued !== -1 &&
        records
          .slice(queued + 1)
          .some((record) => ours(record) && String(record.message).startsWith("reconcile"))
      );
    },
    options,
  );
}

/** Events regarding a LabCluster (events.k8s.io/v1 in the default namespace). */
export async function labClusterEvents(
  name: string,
  plane: ControlPlane = controlPlane(),
): Promise<
  { reason: string; note: string; type: string; related?: { name: string }; series?: { count: number } }[]
> {
  const list = await adminClient(plane).get<{
    items: {
      reason: string;
      note: string;
      type: string;
      regarding: { name: string; kind: string };
      related?: { name: string };
    }[];
  }>("/apis/events.k8s.io/v1/namespaces/default/events");
  return list.items.filter((event) => event.regarding.kind === "LabCluster" && event.regarding.name === name);
}

const OPERATOR_BIN = fileURLToPath(new URL("../../../bin/kubelab-operator.js", import.meta.url));

/**
 * The operator as its own process (bin/kubelab-operator.js), as it runs in a pod: its own memory, its own
 * leader election, its logs in logs/operator-<name>.log of the plane.
 */
export class OperatorProcess {
  readonly name: string;
  readonly process: ManagedProcess;
  readonly spawnedAt: number;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly #logPath: string;

  private constructor(
    name: string,
    child: ManagedProcess,
    logPath: string,
    spawnedAt: number,
    ports: { healthPort: number; metricsPort: number },
  ) {
    this.name = name;
    this.process = child;
    this.#logPath = logPath;
    this.spawnedAt = spawnedAt;
    this.healthPort = ports.healthPort;
    this.metricsPort = ports.metricsPort;
  }

  /** Starts it with probes on free loopback ports and `args` added; resolves once it serves them. */
  static async start(
    plane: ControlPlane,
    name: string,
    args: readonly string[] = [],
  ): Promise<OperatorProcess> {
    const logPath = join(plane.logsDir, `operator-${name}.log`);
    const spawnedAt = Date.now();
    const child = await ManagedProcess.start({
      name: `operator-${name}`,
      command: process.execPath,
      args: [
        OPERATOR_BIN,
        "--kubeconfig",
        plane.kubeconfigPath,
        "--namespace",
        "default",
        "--bind-address",
        "127.0.0.1",
        "--health-port",
        "0",
        "--metrics-port",
        "0",
        ...args,
      ],
      logPath,
      stopGraceMs: 30_000,
    });
    const ports = await waitFor(`operator ${name} to serve its probes`, () => {
      const line = readJsonLines(logPath).find((entry) => entry.message === "serving probes and metrics");
      return line === undefined
        ? undefined
        : { healthPort: Number(line.healthPort), metricsPort: Number(line.metricsPort) };
    });
    return new OperatorProcess(name, child, logPath, spawnedAt, ports);
  }

  /** Its JSON log records so far. */
  logs(): Record<string, unknown>[] {
    return readJsonLines(this.#logPath);
  }

  /** When it first logged `message` (epoch ms). */
  loggedAt(message: string): number | undefined {
    const line = this.logs().find((entry) => entry.message === message);
    return line === undefined ? undefined : Date.parse(String(line.timestamp));
  }

  /** Resident and peak resident memory in MB (10^6 bytes), from /proc. */
  memory(): { rssMB: number; peakMB: number } {
    const status = readFileSync(`/proc/${this.process.pid}/status`, "utf8");
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { rssMB: (kib("VmRSS") * 1024) / 1e6, peakMB: (kib("VmHWM") * 1024) / 1e6 };
  }

  /** SIGTERM (a clean shutdown), SIGKILL after 30 s; resolves with how it exited. */
  stop() {
    return this.process.stop();
  }
}

function readJsonLines(path: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
