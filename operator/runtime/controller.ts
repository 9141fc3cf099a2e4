// A controller: event sources map changes to keys, a work queue dedups them, workers run the reconciler.
import { randomUUID } from "node:crypto";
import type { Logger } from "winston";

import { describeCause } from "../errors.ts";
import type { BackoffPolicy } from "./backoff.ts";
import type { Clock } from "./clock.ts";
import { objectKey, type CachedObject, type Informer } from "./informer.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import { WorkQueue } from "./queue.ts";
import { outcomeOf, type Outcome, type Reconciler } from "./reconcile.ts";

/**
 * Maps a changed object to the keys of the objects to reconcile (`nodeToLabCluster`). Gets the previous
 * version on updates, so a mapper can ignore changes that cannot matter. Pure and quick: it runs for every
 * event of the informer.
 */
export type Mapper<T> = (object: T, previous: T | undefined) => readonly string[];

export interface ControllerOptions {
  /** For logs and metrics: "labcluster". */
  readonly name: string;
  readonly reconciler: Reconciler;
  /** Workers; distinct keys run in parallel, one key never twice at once. Default 2. */
  readonly concurrency?: number;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly clock?: Clock;
  readonly backoff?: BackoffPolicy;
}

/**
 * Runs a Reconciler by the contract written on it (runtime/reconcile.ts); `#apply` is the one place that
 * turns an outcome into queue operations, for every controller.
 */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #options: ControllerOptions;
  readonly #log: Logger;
  readonly #sources: { informer: Informer<CachedObject>; mapper: Mapper<CachedObject> }[] = [];
  readonly #removers: (() => void)[] = [];
  #workers: Promise<void>[] = [];
  #abort = new AbortController();

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#options = options;
    this.#log = options.log.child({ controller: options.name });
    this.queue = new WorkQueue({
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      observer: options.metrics.queueObserver(options.name),
    });
  }

  /**
   * Declares an event source: every add, update and delete of `informer` is mapped to keys that are queued.
   * Takes effect on `start`, so a standby replica queues nothing.
   */
  watches<T extends CachedObject>(informer: Informer<T>, mapper: Mapper<T>): this {
    this.#sources.push({
      informer: informer,
      mapper: mapper as Mapper<CachedObject>,
    });
    return this;
  }

  /** Queues `key`; `reason` goes to the debug log only, never to the reconcile. */
  enqueue(key: string, reason: string): void {
    if (this.queue.add(key)) this.#log.debug("queued", { key, reason });
  }

  /**
   * Starts the workers and the event sources (each replays its cache, so every existing object is
   * reconciled once). `signal` is passed to reconciles and aborts them when leadership ends.
   */
  start(signal?: AbortSignal): void {
    if (signal !== undefined) signal.addEventListener("abort", () => this.#abort.abort(), { once: true });
    for (const { informer, mapper } of this.#sources) {
      const map = (event: string, object: CachedObject, previous?: CachedObject) => {
        for (const key of mapper(object, previous))
          this.enqueue(key, `${informer.name} ${event} ${objectKey(object)}`);
      };
      this.#removers.push(
        informer.addHandlers({
          onAdd: (object) => map("added", object),
          onUpdate: (previous, object) => map("updated", object, previous),
          onDelete: (object) => map("deleted", object),
        }),
      );
    }
    const concurrency = Math.max(1, this.#options.concurrency ?? 2);
    this.#workers = Array.from({ length: concurrency }, () => this.#work());
    this.#log.info("controller started", { concurrency });
  }

  /** Stops taking keys, lets in-flight reconciles finish, and waits for the workers. */
  async stop(): Promise<void> {
    for (const remove of this.#removers.splice(0)) remove();
    await this.queue.shutdown();
    await Promise.all(this.#workers);
    this.#log.info("controller stopped");
  }

  /** Aborts in-flight reconciles (leadership lost): their API calls fail fast, nothing new starts. */
  abort(): void {
    this.#abort.abort();
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.#process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #process(key: string): Promise<void> {
    const reconcileId = randomUUID();
    const log = this.#log.child({ key, reconcileId });
    const timer = this.#options.metrics.reconcileDuration.startTimer({ controller: this.name });
    let outcome: Outcome;
    try {
      const action = await this.#options.reconciler.reconcile(key, {
        reconcileId,
        log,
        signal: this.#abort.signal,
      });
      outcome = outcomeOf({ action });
    } catch (error) {
      outcome = outcomeOf({ error });
    }
    const seconds = timer();
    this.#apply(key, outcome, log, seconds);
  }

  /** The contract, applied: the only place where an outcome becomes queue operations and metrics. */
  #apply(key: string, outcome: Outcome, log: Logger, seconds: number): void {
    const metrics = this.#options.metrics;
    const controller = this.name;
    switch (outcome.kind) {
      case "success": {
        this.queue.forget(key);
        if (outcome.requeueAfterMs === undefined) {
          metrics.reconciles.inc({ controller, result: "success" });
          log.debug("reconciled", { seconds });
        } else {
          metrics.reconciles.inc({ controller, result: "requeue" });
          this.queue.addAfter(key, outcome.requeueAfterMs);
          log.debug("reconciled; requeued", { seconds, requeueAfterMs: outcome.requeueAfterMs });
        }
        return;
      }
      case "retry": {
        metrics.reconciles.inc({ controller, result: "error" });
        metrics.reconcileErrors.inc({ controller });
        let delay: number;
        if (outcome.retryAfterMs === undefined) delay = this.queue.addRateLimited(key);
        else {
          delay = outcome.retryAfterMs;
          this.queue.addAfter(key, delay);
        }
        log.warn("reconcile failed; retrying", {
          error: describeCause(outcome.error),
          retryInMs: delay,
          seconds,
        });
        return;
      }
      case "terminal": {
        this.queue.forget(key);
        metrics.reconciles.inc({ controller, result: "terminal_error" });
        metrics.reconcileErrors.inc({ controller });
        log.error("reconcile failed terminally; waiting for the object to change", {
          error: describeCause(outcome.error),
          seconds,
        });
        return;
      }
      case "panic": {
        metrics.reconciles.inc({ controller, result: "panic" });
        metrics.reconcileErrors.inc({ controller });
        metrics.reconcilePanics.inc({ controller });
        const delay = this.queue.addRateLimited(key);
        log.error("reconcile threw unexpectedly; this is a bug, please report it", {
          error: outcome.error.message,
          stack: outcome.error.stack,
          retryInMs: delay,
          seconds,
        });
        return;
      }
    }
  }
}
