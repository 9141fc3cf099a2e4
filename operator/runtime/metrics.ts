// Prometheus metrics of the runtime (reconciles, queue, informers, leader election) on one registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

import type { InformerObserver, RelistReason } from "./informer.ts";
import type { QueueObserver } from "./queue.ts";

/** Every metric name starts with this. */
export const METRIC_PREFIX = "kubelab_";

/**
 * The runtime's metrics. One instance per process (or per test), each on its own registry, so tests read
 * exact values and parts (nodes, addons, backups) register theirs on the same `registry`.
 */
export class RuntimeMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcilePanics: Counter<"controller">;
  readonly reconcileDuration: Histogram<"controller">;
  readonly queueDepth: Gauge<"queue">;
  readonly queueAdds: Counter<"queue">;
  readonly queueRetries: Counter<"queue">;
  readonly queueLatency: Histogram<"queue">;
  readonly informerRestarts: Counter<"informer">;
  readonly informerRelists: Counter<"informer" | "reason">;
  readonly informerObjects: Gauge<"informer">;
  readonly informerSynced: Gauge<"informer">;
  readonly leader: Gauge;

  constructor(options: { registry?: Registry; processMetrics?: boolean } = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    if (options.processMetrics ?? false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
    const registers = [registry];
    this.reconciles = new Counter({
      name: `${METRIC_PREFIX}reconcile_total`,
      help: "Reconciles by controller and result (success, requeue, error, terminal_error, panic).",
      labelNames: ["controller", "result"],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: `${METRIC_PREFIX}reconcile_errors_total`,
      help: "Reconciles that failed (temporary, terminal or panic).",
      labelNames: ["controller"],
      registers,
    });
    this.reconcilePanics = new Counter({
      name: `${METRIC_PREFIX}reconcile_panics_total`,
      help: "Reconciles that threw something other than a ReconcileError or an API error: bugs.",
      labelNames: ["controller"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: `${METRIC_PREFIX}reconcile_duration_seconds`,
      help: "Time one reconcile took.",
      labelNames: ["controller"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.queueDepth = new Gauge({
      name: `${METRIC_PREFIX}workqueue_depth`,
      help: "Keys ready and waiting for a worker.",
      labelNames: ["queue"],
      registers,
    });
    this.queueAdds = new Counter({
      name: `${METRIC_PREFIX}workqueue_adds_total`,
      help: "Keys that became ready (duplicates of a waiting key are not counted).",
      labelNames: ["queue"],
      registers,
    });
    this.queueRetries = new Counter({
      name: `${METRIC_PREFIX}workqueue_retries_total`,
      help: "Keys re-added with backoff after a failed reconcile.",
      labelNames: ["queue"],
      registers,
    });
    this.queueLatency = new Histogram({
      name: `${METRIC_PREFIX}workqueue_queue_duration_seconds`,
      help: "Time a key waited between becoming ready and a worker taking it.",
      labelNames: ["queue"],
      buckets: [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
      registers,
    });
    this.informerRestarts = new Counter({
      name: `${METRIC_PREFIX}informer_restarts_total`,
      help: "Times an informer's list/watch failed and restarted after a backoff.",
      labelNames: ["informer"],
      registers,
    });
    this.informerRelists = new Counter({
      name: `${METRIC_PREFIX}informer_relists_total`,
      help: "Full lists by reason: initial, expired (410 Gone), stalled (no data for too long).",
      labelNames: ["informer", "reason"],
      registers,
    });
    this.informerObjects = new Gauge({
      name: `${METRIC_PREFIX}informer_objects`,
      help: "Objects in an informer's cache.",
      labelNames: ["informer"],
      registers,
    });
    this.informerSynced = new Gauge({
      name: `${METRIC_PREFIX}informer_synced`,
      help: "1 once the informer's first list is in its cache.",
      labelNames: ["informer"],
      registers,
    });
    this.leader = new Gauge({
      name: `${METRIC_PREFIX}leader`,
      help: "1 while this replica holds the leader Lease and runs the controllers.",
      registers,
    });
  }

  /** The observer a WorkQueue reports to. */
  queueObserver(queue: string): QueueObserver {
    return {
      depth: (depth) => this.queueDepth.set({ queue }, depth),
      added: () => this.queueAdds.inc({ queue }),
      waited: (seconds) => this.queueLatency.observe({ queue }, seconds),
      retried: () => this.queueRetries.inc({ queue }),
    };
  }

  /** The observer informers report to. */
  informerObserver(): InformerObserver {
    return {
      restarted: (informer) => this.informerRestarts.inc({ informer }),
      relisted: (informer, reason: RelistReason) => this.informerRelists.inc({ informer, reason }),
      objects: (informer, count) => this.informerObjects.set({ informer }, count),
      synced: (informer, synced) => this.informerSynced.set({ informer }, synced ? 1 : 0),
    };
  }

  /** The current value of a counter or gauge with these labels (0 when never set); for tests and benchmarks. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (metric === undefined) throw new Error(`no metric ${name}`);
    const data = await metric.get();
    let total = 0;
    for (const sample of data.values) {
      const sampleLabels = sample.labels as Record<string, string | number>;
      if (Object.entries(labels).every(([key, value]) => String(sampleLabels[key]) === value))
        total += sample.value;
    }
    return total;
  }
}
