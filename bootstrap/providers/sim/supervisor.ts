// The sim lab's supervisor: a detached process that runs the lab's control plane until `bootstrap down`.
// Usage: node supervisor.ts WORK_DIR   (started by the sim provider; reads WORK_DIR/sim/spec.json)
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { type BinarySet } from "../../controlplane/binaries.ts";
import { type ComponentName, type ControlPlane, startControlPlane } from "../../controlplane/engine.ts";
import { COMPONENT_VERSIONS } from "../../controlplane/versions.ts";
import { createLogger } from "../../log.ts";
import { restartDelayMs, SimOperatorSupervisor } from "./operator.ts";
import { readSpec, simPaths, writeSpec, writeSupervisorState, type SimSpec } from "./spec.ts";

/** A binary set in a known directory (the CLI found or built it before starting us). */
function binariesIn(dir: string): BinarySet {
  return { dir, source: "cache", versions: COMPONENT_VERSIONS, path: (name) => join(dir, name) };
}

async function main(workDir: string): Promise<void> {
  const paths = simPaths(workDir);
  // stdout/stderr are supervisor.log (the provider opened it for us); timestamps make it readable later.
  const logger = createLogger({ level: "debug", stream: process.stderr });
  const log = (line: string): void => {
    logger.info(`${new Date().toISOString()} ${line}`);
  };
  const spec: SimSpec = await readSpec(paths.spec);
  let plane: ControlPlane | undefined;
  let stopping = false;
  const restarts = new Map<ComponentName, number>();
  // The lab's operator (once `up` asks for it), run beside the control plane: sim/operator.ts.
  const operator = new SimOperatorSupervisor(workDir, log, () => {
    if (!stopping) void report("running").catch(() => {});
  });

  const report = async (
    phase: "starting" | "running" | "stopping" | "failed",
    error?: string,
  ): Promise<void> => {
    await writeSupervisorState(paths.supervisor, {
      pid: process.pid,
      phase,
      components: { ...plane?.pids, ...operator.pids },
      ...(plane === undefined
        ? {}
        : {
            server: plane.server,
            ports: plane.ports,
            startMs: plane.timings.totalMs,
            etcd: plane.etcd,
          }),
      ...(error === undefined ? {} : { error }),
    });
  };

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the control plane`);
    await report("stopping").catch(() => {});
    await operator.stop();
    await plane?.stop();
    log("stopped");
    process.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.on(signal, () => void shutdown(signal));
  }

  /** Brings a component back after an unexpected exit, with exponential backoff. */
  const restart = async (component: ComponentName): Promise<void> => {
    const attempt = (restarts.get(component) ?? 0) + 1;
    restarts.set(component, attempt);
    const delay = restartDelayMs(attempt);
    log(`${component} exited; restart ${attempt} in ${delay / 1000}s (log: ${plane?.logPath(component)})`);
    await sleep(delay);
    if (stopping || plane === undefined) return;
    try {
      await plane.startComponents([component]);
      restarts.set(component, 0);
      log(`${component} restarted`);
      await report("running");
    } catch (error) {
      log(`${component} did not come back: ${(error as Error).message}`);
      void restart(component);
    }
  };

  await report("starting");
  log(`starting lab ${spec.lab}: ${spec.nodes.map((node) => node.name).join(", ")}`);
  try {
    plane = await startControlPlane({
      controllers: true,
      nodes: spec.nodes,
      dir: paths.cluster,
      binaries: binariesIn(spec.binariesDir),
      clusterName: spec.lab,
      serviceCidr: spec.serviceCidr,
      podCidr: spec.podCidr,
      dnsDomain: spec.dnsDomain,
      advertiseAddress: spec.advertiseAddress,
      apiServerSans: spec.apiServerSans,
      ...(spec.ports === undefined ? {} : { ports: spec.ports }),
      // A restored data directory (bootstrap restore).
      ...(spec.etcdDataDir === undefined ? {} : { etcdDataDir: spec.etcdDataDir }),
      startTimeoutMs: 180_000,
      logger,
      onUnexpectedExit: (component) => void restart(component),
    });
  } catch (error) {
    log(`start failed: ${(error as Error).message}`);
    await report("failed", (error as Error).message);
    process.exit(1);
  }
  if (stopping) return;
  // The ports are kept, so a restart after a crash serves the kubeconfig the user already has.
  await writeSpec(paths.spec, { ...spec, ports: plane.ports });
  await report("running");
  operator.start();
  const t = plane.timings;
  log(
    `running at ${plane.server} (started in ${(t.totalMs / 1000).toFixed(1)}s); pids ${JSON.stringify(plane.pids)}`,
  );
}

const workDir = process.argv[2];
if (workDir === undefined) {
  process.stderr.write("usage: supervisor.ts WORK_DIR\n");
  process.exit(2);
}
await main(workDir);
