// Shared pieces of the operator's integration tests: the CRDs, an in-process operator, LabCluster helpers.
import { KubeConfig } from "@kubernetes/client-node";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PassThrough } from "node:stream";

import type { LabClusterSpecInput, LabClusterStatus } from "../../../operator/api/labcluster.ts";
import { labClusterPath, LABCLUSTERS_PATH } from "../../../operator/labcluster/cache.ts";
import { createOperator, type Operator } from "../../../operator/operator.ts";
import { KubeClient } from "../../../operator/runtime/client.ts";
import { createOperatorLogger } from "../../../operator/runtime/log.ts";
import type { LeaderElectionSettings, ManagerOptions } from "../../../operator/runtime/manager.ts";
import { RuntimeMetrics } from "../../../operator/runtime/metrics.ts";
import { controlPlane, waitFor, type ControlPlane } from "../../envtest/index.ts";

export const CRD_DIRECTORY = fileURLToPath(new URL("../../../crds/", import.meta.url));

/** A client of our runtime on the plane's admin credentials. */
export function adminClient(plane: ControlPlane = controlPlane()): KubeClient {
  return new KubeClient(plane.kubeConfig);
}

/** A client acting as `user` through impersonation (the admin may impersonate). */
export function impersonating(plane: ControlPlane, user: string): KubeClient {
  const admin = plane.kubeConfig;
  const config = new KubeConfig();
  const current = admin.getCurrentUser()!;
  config.loadFromOptions({
    clusters: admin.clusters,
    users: [{ ...current, impersonateUser: user }],
    contexts: [{ name: "as", cluster: admin.getCurrentCluster()!.name, user: current.name }],
    currentContext: "as",
  });
  return new KubeClient(config);
}

/** Applies crds/ with server-side apply and waits until the API server serves LabClusters. */
export async function installCrds(plane: ControlPlane = controlPlane()): Promise<void> {
  await plane.kubectl(["apply", "--server-side", "--force-conflicts", "-f", CRD_DIRECTORY]);
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
