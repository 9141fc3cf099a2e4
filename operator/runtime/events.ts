// Events (events.k8s.io/v1): one per transition or action, repeats folded into a series.
import { randomBytes } from "node:crypto";
import type { Logger } from "winston";

import { describeCause, isNotFound, isTransient } from "../errors.ts";
import { backoffDelay, type BackoffPolicy } from "./backoff.ts";
import { resourcePath, type KubeClient } from "./client.ts";
import { microTime, sleep, systemClock, type Clock } from "./clock.ts";

/** The object an Event is about (corev1.ObjectReference). */
export interface ObjectReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
}

export interface EventRecord {
  /** The object the Event is about: what `kubectl describe` shows it under. */
  readonly regarding: ObjectReference;
  /** A second object involved (the Node a LabCluster cordoned). */
  readonly related?: ObjectReference;
  readonly type: "Normal" | "Warning";
  /** CamelCase, machine-readable: NodeUnhealthy, NodeCordoned. */
  readonly reason: string;
  /** What was done or observed, CamelCase: Cordon, Drain, Observe. */
  readonly action: string;
  /** For humans; at most 1 kB. */
  readonly note: string;
}

export interface EventRecorderOptions {
  readonly client: KubeClient;
  /** `reportingController`: who emits, such as kubelab.dev/operator. */
  readonly controller: string;
  /** `reportingInstance`: which replica (its identity). */
  readonly instance: string;
  readonly log: Logger;
  readonly clock?: Clock;
  /** How long a repeat of the same Event becomes part of its series instead of a new Event. */
  readonly seriesWindowMs?: number;
  /** Writes per Event when the API server fails transiently, and the delays between them. */
  readonly retry?: { readonly attempts: number; readonly backoff: BackoffPolicy };
}

/**
 * An Event write that fails transiently (unreachable, 429, 5xx) is tried again in the background, 4 writes
 * over about 7 s, as client-go's recorder tries an Event again instead of dropping it on a busy API server.
 */
const EVENT_RETRY = {
  attempts: 4,
  backoff: { initialMs: 1000, maxMs: 4000, factor: 2, jitter: 0.2 },
} as const satisfies EventRecorderOptions["retry"];

interface SeriesEntry {
  readonly name: string;
  readonly namespace: string;
  count: number;
  lastSeen: number;
}

const MAX_TRACKED_SERIES = 4096;

/**
 * Emits Events. Repeats of the same Event (same object, reason, action, note, related object) within the
 * series window update the first one's `series` (count, lastObservedTime) instead of adding another object,
 * as client-go's new events library does. Recording is best effort: a transient failure is tried again in
 * the background (EVENT_RETRY), a lasting one is logged, never thrown, because an Event must not fail the
 * reconcile that reports it.
 */
export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #clock: Clock;
  readonly #series = new Map<string, SeriesEntry>();
  readonly #pending = new Set<Promise<void>>();

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Emits the Event, or counts it into the series of an identical recent one. Resolves after the first write
   * with the Event's name, or undefined when it failed: a transient failure is tried again in the background
   * (EVENT_RETRY), so the caller, often a reconcile, never waits on a busy API server. `settled()` waits for
   * those retries.
   */
  async record(event: EventRecord): Promise<string | undefined> {
    const at = this.#clock.now();
    try {
      return await this.#write(event, at);
    } catch (error) {
      this.#retryLater(event, at, error, 1);
      return undefined;
    }
  }

  /** Resolves once no retried write is pending. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** After failed write number `attempt`: schedules the next one, or gives up and logs why. */
  #retryLater(event: EventRecord, at: number, error: unknown, attempt: number): void {
    const retry = this.#options.retry ?? EVENT_RETRY;
    if (attempt >= retry.attempts || !isTransient(error)) {
      this.#options.log.warn("cannot record an Event", {
        reason: event.reason,
        regarding: event.regarding.name,
        attempts: attempt,
        error: describeCause(error),
      });
      return;
    }
    const pending = (async () => {
      await sleep(this.#clock, backoffDelay(retry.backoff, attempt));
      try {
        await this.#write(event, at);
      } catch (next) {
        this.#retryLater(event, at, next, attempt + 1);
      }
    })();
    this.#pending.add(pending);
    void pending.finally(() => this.#pending.delete(pending));
  }

  /** One write, of an Event that happened at `now`: the series' count when it is recent, else a new Event. */
  async #write(event: EventRecord, now: number): Promise<string> {
    const key = seriesKey(event);
    const window = this.#options.seriesWindowMs ?? 10 * 60_000;
    const existing = this.#series.get(key);
    if (existing !== undefined && now - existing.lastSeen < window) {
      try {
        await this.#options.client.mergePatch(
          resourcePath({
            group: "events.k8s.io",
            version: "v1",
            plural: "events",
            namespace: existing.namespace,
            name: existing.name,
          }),
          { series: { count: existing.count + 1, lastObservedTime: microTime(now) } },
        );
        existing.count++;
        existing.lastSeen = now;
        return existing.name;
      } catch (error) {
        // The series' Event is gone (its TTL): this one starts a new Event.
        if (!isNotFound(error)) throw error;
        this.#series.delete(key);
      }
    }
    const namespace = event.regarding.namespace ?? "default";
    const name = `${event.regarding.name}.${randomBytes(8).toString("hex")}`;
    await this.#options.client.create(
      resourcePath({ group: "events.k8s.io", version: "v1", plural: "events", namespace }),
      {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { name, namespace },
        eventTime: microTime(now),
        reportingController: this.#options.controller,
        reportingInstance: this.#options.instance.slice(0, 128),
        action: event.action.slice(0, 128),
        reason: event.reason.slice(0, 128),
        type: event.type,
        note: event.note.slice(0, 1024),
        regarding: event.regarding,
        ...(event.related === undefined ? {} : { related: event.related }),
      },
    );
    this.#remember(key, { name, namespace, count: 1, lastSeen: now });
    return name;
  }

  #remember(key: string, entry: SeriesEntry): void {
    if (this.#series.size >= MAX_TRACKED_SERIES) {
      const oldest = this.#series.keys().next().value;
      if (oldest !== undefined) this.#series.delete(oldest);
    }
    this.#series.set(key, entry);
  }
}

function seriesKey(event: EventRecord): string {
  return JSON.stringify([
    event.regarding.uid ?? event.regarding.name,
    event.type,
    event.reason,
    event.action,
    event.note,
    event.related?.name ?? "",
  ]);
}
