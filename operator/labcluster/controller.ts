// The LabCluster reconciler: read the object, run the parts, write one status, emit Events.
import type { Logger } from "winston";

import {
  LABCLUSTER_API_VERSION,
  LABCLUSTER_KIND,
  ConditionType,
  labClusterSchema,
} from "../api/labcluster.ts";
import { describeCause, isNotFound, TemporaryError, TerminalError } from "../errors.ts";
import type { KubeClient } from "../runtime/client.ts";
import type { Clock } from "../runtime/clock.ts";
import { Controller } from "../runtime/controller.ts";
import type { EventRecorder, ObjectReference } from "../runtime/events.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import { Action, type ReconcileContext, type Reconciler } from "../runtime/reconcile.ts";
import {
  actingLabCluster,
  LABCLUSTERS_PATH,
  labClusterPath,
  toCachedLabCluster,
  type CachedLabCluster,
} from "./cache.ts";
import type { LabClusterPart, PartResult, PartRuntime } from "./part.ts";
import { FIELD_MANAGER } from "./names.ts";
import { composeStatus, readStatus, type ComposeOptions } from "./status.ts";

export interface LabClusterReconcilerOptions {
  readonly client: KubeClient;
  readonly parts: readonly { readonly name: string; readonly runtime: PartRuntime }[];
  readonly events: EventRecorder;
  readonly clock: Clock;
  /** The LabClusters as cached: which one acts for the cluster (actingLabCluster). */
  readonly labClusters: () => Iterable<CachedLabCluster>;
}

/**
 * Cluster API's skeleton: get the object (gone: done); run every part in order, collecting errors instead of
 * stopping at the first; always write the status (when it changed), so a failing part never hides what the
 * others found; then report: the lowest requeue wins, any error means a retry.
 *
 * One lab per cluster: only the LabCluster actingLabCluster picks runs the parts. Any other gets
 * Ready=False, reason DuplicateLab, naming the one in charge (and the Event of that transition), and the
 * operator creates nothing for it: no CronJob, no remediation, no addon restores.
 */
export class LabClusterReconciler implements Reconciler {
  readonly #options: LabClusterReconcilerOptions;

  constructor(options: LabClusterReconcilerOptions) {
    this.#options = options;
  }

  async reconcile(key: string, context: ReconcileContext): Promise<Action> {
    const { client, clock } = this.#options;
    let raw: Record<string, unknown>;
    try {
      raw = await client.get(labClusterPath(key), { signal: context.signal });
    } catch (error) {
      if (isNotFound(error)) return Action.awaitChange();
      throw error;
    }
    const metadata = raw.metadata as { name: string; uid?: string; generation?: number };
    const previous = readStatus(raw.status);
    const now = new Date(clock.now());
    const regarding: ObjectReference = {
      apiVersion: LABCLUSTER_API_VERSION,
      kind: LABCLUSTER_KIND,
      name: metadata.name,
      ...(metadata.uid === undefined ? {} : { uid: metadata.uid }),
    };
    const parsed = labClusterSchema.safeParse(raw);
    if (!parsed.success) {
      // The API server validated it, so this is a spec the schema of this operator version cannot read.
      const message = parsed.error.issues
        .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
        .join("; ")
        .slice(0, 1000);
      await this.#writeStatus(key, regarding, previous, [], metadata.generation, now, context, {
        verdict: {
          ready: { type: ConditionType.ready, status: "False", reason: "InvalidSpec", message },
          reconciled: false,
          dropPartConditions: false,
        },
      });
      throw new TerminalError(`the LabCluster cannot be read: ${message}`);
    }
    const labCluster = parsed.data;
    const acting = actingLabCluster(this.#options.labClusters());
    if (acting !== undefined && acting.metadata.name !== metadata.name) {
      await this.#writeStatus(key, regarding, previous, [], metadata.generation, now, context, {
        verdict: {
          ready: {
            type: ConditionType.ready,
            status: "False",
            reason: "DuplicateLab",
            message:
              `LabCluster ${acting.metadata.name} acts for this cluster (one lab per cluster: the one bootstrap ` +
              `made, else the oldest); this one is ignored: delete it, or delete ${acting.metadata.name}`,
          },
          reconciled: true,
          dropPartConditions: true,
        },
      });
      return Action.awaitChange();
    }
    const results: PartResult[] = [];
    const failures: { part: string; error: unknown }[] = [];
    for (const part of this.#options.parts) {
      try {
        results.push(
          await part.runtime.reconcile({
            labCluster,
            previous,
            now,
            log: context.log.child({ part: part.name }),
            signal: context.signal,
            emit: async (event) => {
              await this.#options.events.record({ ...event, regarding });
            },
          }),
        );
      } catch (error) {
        failures.push({ part: part.name, error });
        context.log.warn("part failed; its status fields keep their previous values", {
          part: part.name,
          error: describeCause(error),
        });
      }
    }
    await this.#writeStatus(key, regarding, previous, results, metadata.generation, now, context, {
      failed: failures.map(({ part, error }) => ({ part, message: describeCause(error).slice(0, 300) })),
    });
    if (failures.length === 1) throw failures[0]!.error;
    if (failures.length > 1) {
      throw new TemporaryError(
        failures.map(({ part, error }) => `${part}: ${describeCause(error)}`).join("; "),
      );
    }
    return Action.merge(
      results.map((result) =>
        result.requeueAfterMs === undefined
          ? Action.awaitChange()
          : Action.requeueAfter(result.requeueAfterMs),
      ),
    );
  }

  /** Server-side apply of the status subresource, only when it changed; then the condition Events. */
  async #writeStatus(
    key: string,
    regarding: ObjectReference,
    previous: ReturnType<typeof readStatus>,
    results: readonly PartResult[],
    generation: number | undefined,
    now: Date,
    context: ReconcileContext,
    options: ComposeOptions,
  ): Promise<void> {
    const composed = composeStatus(previous, results, generation, now, options);
    if (!composed.changed) return;
    await this.#options.client.apply(
      labClusterPath(key, "status"),
      {
        apiVersion: LABCLUSTER_API_VERSION,
        kind: LABCLUSTER_KIND,
        metadata: { name: key },
        status: composed.status,
      },
      FIELD_MANAGER,
      { signal: context.signal },
    );
    context.log.debug("status written", { readyNodes: composed.status.readyNodes });
    for (const { condition, previous: before } of composed.transitions) {
      await this.#options.events.record({
        regarding,
        type: condition.status === "True" ? "Normal" : "Warning",
        reason: condition.reason,
        action: "Observe",
        note: transitionNote(condition, before),
      });
    }
  }
}

/** "Ready is True (was False): message", without the colon when the condition has no message. */
export function transitionNote(
  condition: { readonly type: string; readonly status: string; readonly message?: string },
  before: { readonly status: string } | undefined,
): string {
  const was = before === undefined ? "" : ` (was ${before.status})`;
  const message = condition.message === undefined || condition.message === "" ? "" : `: ${condition.message}`;
  return `${condition.type} is ${condition.status}${was}${message}`.slice(0, 1000);
}

/**
 * A LabCluster queues itself on a spec change (its own status writes do not), and every LabCluster on a
 * creation or deletion: which one acts for the cluster may change with it (DuplicateLab).
 */
export function labClusterToLabClusters(labClusters: () => Iterable<CachedLabCluster>) {
  return (labCluster: CachedLabCluster, previous: CachedLabCluster | undefined): string[] => {
    if (previous === undefined) {
      const names = new Set([...labClusters()].map((other) => other.metadata.name));
      return [...names.add(labCluster.metadata.name)];
    }
    return previous.metadata.generation === labCluster.metadata.generation ? [] : [labCluster.metadata.name];
  };
}

/**
 * Builds the LabCluster controller on `manager`: the LabCluster informer, every part's informers and event
 * sources, the reconciler and its Event recorder. The parts come from the composition root (operator.ts):
 * the controller never picks its own.
 */
export function setupLabClusterController(
  manager: Manager,
  options: {
    readonly operatorNamespace: string;
    readonly events: EventRecorder;
    readonly concurrency?: number;
    readonly parts: readonly LabClusterPart[];
  },
): { controller: Controller; labClusters: Informer<CachedLabCluster> } {
  const log: Logger = manager.log;
  const labClusters = manager.informer({
    name: "labclusters",
    path: LABCLUSTERS_PATH,
    transform: toCachedLabCluster,
  });
  // Parts may queue LabClusters from their own controllers; the LabCluster controller is made below.
  const late: { controller?: Controller } = {};
  const parts = options.parts.map((part) => ({
    name: part.name,
    runtime: part.setup({
      client: manager.client,
      log: log.child({ part: part.name }),
      metrics: manager.metrics,
      clock: manager.clock,
      operatorNamespace: options.operatorNamespace,
      labClusters,
      informer: (informerOptions) => manager.informer(informerOptions),
      addController: (controller) => manager.addController(controller),
      events: options.events,
      requeue: (name, reason) => late.controller?.enqueue(name, reason),
    }),
  }));
  const controller = new Controller({
    name: "labcluster",
    reconciler: new LabClusterReconciler({
      client: manager.client,
      parts,
      events: options.events,
      clock: manager.clock,
      labClusters: () => labClusters.list(),
    }),
    log,
    metrics: manager.metrics,
    clock: manager.clock,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  });
  late.controller = controller;
  controller.watches(
    labClusters,
    labClusterToLabClusters(() => labClusters.list()),
  );
  for (const part of parts) {
    for (const { informer, mapper } of part.runtime.sources) controller.watches(informer, mapper);
  }
  manager.addController(controller);
  return { controller, labClusters };
}
