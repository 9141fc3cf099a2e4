// The contract of a LabCluster part (nodes, calico, coredns, backups): what it gets, what it returns.
import type { Logger } from "winston";

import type { LabCluster, LabClusterStatus } from "../api/labcluster.ts";
import type { KubeClient } from "../runtime/client.ts";
import type { Clock } from "../runtime/clock.ts";
import type { DesiredCondition } from "../runtime/conditions.ts";
import type { Controller, Mapper } from "../runtime/controller.ts";
import type { EventRecord, EventRecorder } from "../runtime/events.ts";
import type { CachedObject, Informer } from "../runtime/informer.ts";
import type { RuntimeMetrics } from "../runtime/metrics.ts";
import type { CachedLabCluster } from "./cache.ts";

/** What a part gets once, at startup, to build its informers. */
export interface PartSetupContext {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly clock: Clock;
  /** The namespace the operator runs in (addon bundles live there). */
  readonly operatorNamespace: string;
  /** The LabClusters, for mappers that must know which LabClusters an object concerns. */
  readonly labClusters: Informer<CachedLabCluster>;
  /**
   * Builds an informer with the runtime's logging and metrics. The operator starts it with the others and
   * waits for its first list before reporting ready.
   */
  informer<T extends CachedObject>(options: {
    name: string;
    path: string;
    transform: (raw: Record<string, unknown>) => T;
    labelSelector?: string;
    fieldSelector?: string;
    keepDeleted?: number;
  }): Informer<T>;
  /**
   * Runs a controller of the part's own beside the LabCluster controller: started on the leader once the
   * caches synced, stopped with it. For work that must not wait for a LabCluster reconcile and its status
   * write (the addon restore path acts on one object at a time, within milliseconds of its delete event).
   */
  addController(controller: Controller): void;
  /** Records Events from such a controller (regarding the LabCluster, like `PartInput.emit`). */
  readonly events: EventRecorder;
  /**
   * Queues a reconcile of the LabCluster `name`, when something the part's own controller did or saw must
   * reach its status (a restore to count, an object's health that changed).
   */
  requeue(name: string, reason: string): void;
}

/** An event source of a part: changes of `informer` queue the LabClusters `mapper` names. */
export interface PartSource<T extends CachedObject = CachedObject> {
  readonly informer: Informer<T>;
  readonly mapper: Mapper<T>;
}

/** What one reconcile of a part sees. */
export interface PartInput {
  /** The LabCluster as just read from the API server, spec defaults applied. */
  readonly labCluster: LabCluster;
  /** Its status before this reconcile (empty for a new LabCluster). */
  readonly previous: LabClusterStatus;
  readonly now: Date;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Emits an Event about the LabCluster (best effort, deduplicated into series). */
  emit(event: Omit<EventRecord, "regarding">): Promise<void>;
}

/**
 * A condition a part reports. Ready summarises them all except those listed in INFORMATIONAL_CONDITIONS
 * (operator/api/labcluster.ts).
 */
export type PartCondition = DesiredCondition;

/** What a part hands back; the controller merges every part's result into one status write. */
export interface PartResult {
  readonly conditions: readonly PartCondition[];
  /** Condition types this part reported before and no longer does (removed from status). */
  readonly removedConditions?: readonly string[];
  /** The status fields this part owns (nodes, readyNodes...; addons.calico...). */
  readonly status: Partial<LabClusterStatus>;
  /** Reconcile again after this long even if nothing changes (a deadline the part knows of). */
  readonly requeueAfterMs?: number;
}

/**
 * One concern of the LabCluster reconciler, in its own file under operator/labcluster/. Adding a part is
 * that file plus one line in parts.ts. A part:
 *
 * - builds the informers it reads in `setup` and says which changes concern which LabCluster (mappers);
 * - in `reconcile`, reads those caches, acts (idempotently), emits an Event for every action and
 *   transition, and returns its condition(s) and status fields. It never writes the LabCluster itself.
 * - throws to fail: a TemporaryError to be retried; its previous status fields are kept meanwhile.
 */
export interface LabClusterPart {
  /** For logs: "nodes", "calico". */
  readonly name: string;
  setup(context: PartSetupContext): PartRuntime;
}

/** A part after setup. */
export interface PartRuntime {
  readonly sources: readonly PartSource[];
  reconcile(input: PartInput): Promise<PartResult>;
}

/** Helps TypeScript keep a source's object type while the list stores them all. */
export function source<T extends CachedObject>(informer: Informer<T>, mapper: Mapper<T>): PartSource {
  return { informer, mapper } as unknown as PartSource;
}
