// The composition root: manager, Event recorder, the LabCluster parts and their controller, wired together.
// main.ts, the integration tests and the benchmark all build the operator here, so they run the same thing.
import { setupLabClusterController } from "./labcluster/controller.ts";
import { EVENT_CONTROLLER } from "./labcluster/names.ts";
import type { LabClusterPart } from "./labcluster/part.ts";
import { labClusterParts } from "./labcluster/parts.ts";
import type { KubeClient } from "./runtime/client.ts";
import type { Controller } from "./runtime/controller.ts";
import { EventRecorder } from "./runtime/events.ts";
import type { Logger } from "./runtime/log.ts";
import { Manager, type LeaderElectionSettings, type ManagerOptions } from "./runtime/manager.ts";
import type { RuntimeMetrics } from "./runtime/metrics.ts";

export interface OperatorOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  /** The namespace the operator runs in. */
  readonly namespace: string;
  /** This replica's identity: Lease holder and Events' reportingInstance. */
  readonly identity: string;
  readonly leaderElection?: LeaderElectionSettings;
  readonly probes?: ManagerOptions["probes"];
  readonly informerDefaults?: ManagerOptions["informerDefaults"];
  readonly concurrency?: number;
  /** The LabCluster parts; all of them (parts.ts, made for this operator) unless a test narrows it. */
  readonly parts?: readonly LabClusterPart[];
}

export interface Operator {
  readonly manager: Manager;
  readonly controller: Controller;
  /** Runs until `signal` aborts ("stopped") or leadership is lost ("lost"). */
  run(signal: AbortSignal): ReturnType<Manager["run"]>;
}

export function createOperator(options: OperatorOptions): Operator {
  const manager = new Manager({
    client: options.client,
    log: options.log,
    metrics: options.metrics,
    ...(options.leaderElection === undefined ? {} : { leaderElection: options.leaderElection }),
    ...(options.probes === undefined ? {} : { probes: options.probes }),
    ...(options.informerDefaults === undefined ? {} : { informerDefaults: options.informerDefaults }),
  });
  const events = new EventRecorder({
    client: options.client,
    controller: EVENT_CONTROLLER,
    instance: options.identity,
    log: options.log,
  });
  const { controller } = setupLabClusterController(manager, {
    operatorNamespace: options.namespace,
    events,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    parts: options.parts ?? labClusterParts(),
  });
  return { manager, controller, run: (signal) => manager.run(signal) };
}
