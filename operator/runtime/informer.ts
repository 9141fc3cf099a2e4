// Informers: list + watch into a local cache of slim objects, with restarts that never give up.
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "winston";

import { ApiError, describeCause } from "../errors.ts";
import { backoffDelay, INFORMER_BACKOFF, type BackoffPolicy } from "./backoff.ts";
import type { KubeClient, RequestOptions, WatchEvent } from "./client.ts";
import { sleep, systemClock, type Clock } from "./clock.ts";

/** The least a cached object carries: its name (and namespace when it has one). */
export interface CachedObject {
  readonly metadata: { readonly name: string; readonly namespace?: string | undefined };
}

/** Reacts to cache changes. Handlers must be quick and must not throw (they only enqueue keys). */
export interface InformerHandlers<T> {
  onAdd?(object: T): void;
  onUpdate?(previous: T, object: T): void;
  onDelete?(object: T): void;
}

/** What an informer reports; runtime/metrics.ts turns it into Prometheus series. */
export interface InformerObserver {
  /** The list/watch loop failed and restarts after a backoff. */
  restarted(informer: string): void;
  /** A full list replaced the cache: `initial`, `expired` (410 Gone), `stalled` (no data for too long). */
  relisted(informer: string, reason: RelistReason): void;
  objects(informer: string, count: number): void;
  synced(informer: string, synced: boolean): void;
}

export type RelistReason = "initial" | "expired" | "stalled";

export interface InformerOptions<T extends CachedObject> {
  /** For logs and metrics: "nodes", "leases", "labclusters". */
  readonly name: string;
  readonly client: KubeClient;
  /** The collection's REST path, such as /api/v1/nodes. */
  readonly path: string;
  /**
   * Turns the API object into what the cache keeps: only the fields the operator reads. Updates that leave
   * the slim object unchanged (a heartbeat timestamp, a managedFields entry) reach no handler.
   */
  readonly transform: (raw: Record<string, unknown>) => T;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly log: Logger;
  readonly observer?: InformerObserver;
  /**
   * Items per list page; bounds the memory a relist needs (a page of Nodes is about 3.6 kB per Node as JSON,
   * parsed whole before the transform slims it). Default 100: 5,000 Nodes list in 50 requests.
   */
  readonly pageSize?: number;
  /**
   * No data at all (no event, no bookmark) for this long means the stream is stuck: abort it and re-list.
   * The API server sends bookmarks about once a minute on a healthy watch. Default 5 minutes.
   */
  readonly stallTimeoutMs?: number;
  /** Server-side watch timeout range in seconds, randomised as client-go does. Default 300-600. */
  readonly watchTimeoutSeconds?: readonly [number, number];
  readonly backoff?: BackoffPolicy;
  readonly clock?: Clock;
  /**
   * Keep the last cached state of up to this many deleted objects (`deleted(key)`), until they are added
   * again: what a reconcile needs to know of an object that is gone (its last labels). Default 0: none.
   */
  readonly keepDeleted?: number;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the key of caches and work queues. */
export function objectKey(object: CachedObject): string {
  const namespace = object.metadata.namespace;
  return namespace === undefined || namespace === ""
    ? object.metadata.name
    : `${namespace}/${object.metadata.name}`;
}

class GoneError extends Error {}

/**
 * A list+watch cache, written because @kubernetes/client-node's informer stops on the first error and can
 * stall silently on a half-open connection. This one:
 *
 * - restarts after any error with backoff (1 s doubling to 30 s, jittered), forever, until stopped;
 * - resumes the watch from the last resourceVersion, and re-lists when the server says 410 Gone;
 * - re-lists when no data has arrived for `stallTimeoutMs` (watch bookmarks keep a healthy stream talking);
 * - lists in pages and keeps only `transform`'s slim objects, so 5,000 Nodes cost little memory;
 * - calls handlers only for real changes of the slim object.
 */
export class Informer<T extends CachedObject> {
  readonly name: string;
  readonly #options: InformerOptions<T>;
  readonly #clock: Clock;
  readonly #log: Logger;
  #store = new Map<string, T>();
  /** Deleted objects' last cached state, oldest first (keepDeleted). */
  readonly #deleted = new Map<string, T>();
  readonly #handlers = new Set<InformerHandlers<T>>();
  #resourceVersion = "";
  #synced = false;
  readonly #syncWaiters: (() => void)[] = [];
  #running: Promise<void> | undefined;
  #stopController: AbortController | undefined;
  #streamController: AbortController | undefined;
  #lastData = 0;

  constructor(options: InformerOptions<T>) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log.child({ informer: options.name });
  }

  /** Starts listing and watching in the background; idempotent. */
  start(): void {
    if (this.#running !== undefined) return;
    this.#stopController = new AbortController();
    this.#running = this.#run(this.#stopController.signal);
  }

  /** Stops the watch and waits for the loop to end. The cache keeps its last contents. */
  async stop(): Promise<void> {
    this.#stopController?.abort();
    this.#streamController?.abort();
    await this.#running;
    this.#running = undefined;
  }

  /** True once the first full list is in the cache. Stays true across restarts (the cache is then stale). */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves when the first list is in; rejects if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new Error(`stopped before informer ${this.name} synced`));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  /**
   * The last cached state of an object that was deleted and not added again since, if `keepDeleted` keeps
   * it: the reconcile of a deleted object reads its last labels here, not from an event handler.
   */
  deleted(key: string): T | undefined {
    return this.#deleted.get(key);
  }

  /**
   * Whether the cache shows every change up to `resourceVersion` (of a write this process made): the list
   * or the watch has gone past it. A reconcile uses it to tell a cache that has not caught up with its own
   * write from a change someone made. Resource versions are compared as etcd revisions (decimal integers,
   * which the API server guarantees comparable since Kubernetes 1.35); false when either is not one.
   */
  hasSeen(resourceVersion: string): boolean {
    const seen = revision(this.#resourceVersion);
    const wanted = revision(resourceVersion);
    return seen !== undefined && wanted !== undefined && seen >= wanted;
  }

  /** The cached objects; do not modify them. */
  list(): IterableIterator<T> {
    return this.#store.values();
  }

  get size(): number {
    return this.#store.size;
  }

  /**
   * Registers handlers; objects already cached are delivered to `onAdd` at once, so a late handler sees the
   * same world as an early one. Returns the function that removes them.
   */
  addHandlers(handlers: InformerHandlers<T>): () => void {
    this.#handlers.add(handlers);
    for (const object of this.#store.values()) this.#call(() => handlers.onAdd?.(object));
    return () => this.#handlers.delete(handlers);
  }

  async #run(stopSignal: AbortSignal): Promise<void> {
    let failures = 0;
    let relistReason: RelistReason | undefined = "initial";
    while (!stopSignal.aborted) {
      try {
        if (relistReason !== undefined || this.#resourceVersion === "") {
          await this.#relist(relistReason ?? "expired", stopSignal);
          relistReason = undefined;
        }
        const stalled = await this.#watch(stopSignal);
        if (stalled) {
          this.#log.warn("watch stalled: no data, not even a bookmark; re-listing", {
            stallTimeoutMs: this.#stallTimeoutMs(),
          });
          relistReason = "stalled";
        }
        failures = 0;
      } catch (error) {
        if (stopSignal.aborted) break;
        if (error instanceof GoneError) {
          this.#log.info("resourceVersion expired (410 Gone); re-listing", {
            resourceVersion: this.#resourceVersion,
          });
          relistReason = "expired";
          continue;
        }
        failures++;
        const delay = backoffDelay(this.#options.backoff ?? INFORMER_BACKOFF, failures);
        this.#options.observer?.restarted(this.name);
        this.#log.warn("list/watch failed; restarting", {
          error: describeCause(error),
          failures,
          retryInMs: delay,
        });
        await sleep(this.#clock, delay, stopSignal);
      }
    }
  }

  async #relist(reason: RelistReason, signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion: string;
    for (;;) {
      let page;
      try {
        page = await this.#options.client.listPage(this.#options.path, {
          limit: this.#options.pageSize ?? 100,
          ...(continueToken === undefined ? {} : { continueToken }),
          query: this.#selectors(),
          signal,
        });
      } catch (error) {
        // A continue token that expired mid-list: start the list again from the first page.
        if (error instanceof ApiError && error.statusCode === 410 && continueToken !== undefined) {
          fresh.clear();
          continueToken = undefined;
          continue;
        }
        throw error;
      }
      for (const raw of page.items) {
        const object = this.#options.transform(raw);
        fresh.set(objectKey(object), object);
      }
      resourceVersion = page.resourceVersion;
      continueToken = page.continueToken;
      if (continueToken === undefined) break;
    }
    const previous = this.#store;
    this.#store = fresh;
    this.#resourceVersion = resourceVersion;
    this.#options.observer?.relisted(this.name, reason);
    this.#options.observer?.objects(this.name, fresh.size);
    this.#log.debug("listed", { reason, objects: fresh.size, resourceVersion });
    for (const [key, object] of fresh) {
      const old = previous.get(key);
      if (old === undefined) this.#emit("add", object);
      else if (!isDeepStrictEqual(old, object)) this.#emit("update", object, old);
    }
    for (const [key, object] of previous) if (!fresh.has(key)) this.#emit("delete", object);
    if (!this.#synced) {
      this.#synced = true;
      this.#options.observer?.synced(this.name, true);
      for (const waiter of this.#syncWaiters.splice(0)) waiter();
    }
  }

  /** Watches until the server ends the stream (false) or it stalls (true); throws on errors. */
  async #watch(stopSignal: AbortSignal): Promise<boolean> {
    const controller = new AbortController();
    this.#streamController = controller;
    const onStop = () => controller.abort();
    stopSignal.addEventListener("abort", onStop, { once: true });
    let stalled = false;
    this.#lastData = this.#clock.now();
    const stallTimeout = this.#stallTimeoutMs();
    let cancelWatchdog = () => {};
    const arm = (delay: number) => {
      cancelWatchdog = this.#clock.setTimer(() => {
        const silentFor = this.#clock.now() - this.#lastData;
        if (silentFor >= stallTimeout) {
          stalled = true;
          controller.abort();
        } else arm(stallTimeout - silentFor);
      }, delay);
    };
    arm(stallTimeout);
    const [low, high] = this.#options.watchTimeoutSeconds ?? [300, 600];
    try {
      const events = this.#options.client.watch(
        this.#options.path,
        {
          ...this.#selectors(),
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: Math.round(low + Math.random() * (high - low)),
        },
        controller.signal,
        () => (this.#lastData = this.#clock.now()),
      );
      for await (const event of events) this.#apply(event);
    } finally {
      cancelWatchdog();
      stopSignal.removeEventListener("abort", onStop);
      this.#streamController = undefined;
    }
    return stalled;
  }

  #apply(event: WatchEvent): void {
    if (event.type === "ERROR") {
      const status = event.object as { code?: number; reason?: string; message?: string };
      if (status.code === 410) throw new GoneError(status.message ?? "Gone");
      throw new ApiError(
        "WATCH",
        this.#options.path,
        status.code ?? 500,
        status.reason ?? "",
        status.message ?? "",
      );
    }
    const metadata = (event.object.metadata ?? {}) as { resourceVersion?: string };
    if (metadata.resourceVersion !== undefined) this.#resourceVersion = metadata.resourceVersion;
    if (event.type === "BOOKMARK") return;
    const object = this.#options.transform(event.object);
    const key = objectKey(object);
    const old = this.#store.get(key);
    if (event.type === "DELETED") {
      if (old === undefined) return;
      this.#store.delete(key);
      this.#options.observer?.objects(this.name, this.#store.size);
      this.#emit("delete", old);
      return;
    }
    this.#store.set(key, object);
    if (old === undefined) {
      this.#options.observer?.objects(this.name, this.#store.size);
      this.#emit("add", object);
    } else if (!isDeepStrictEqual(old, object)) {
      this.#emit("update", object, old);
    }
  }

  #emit(type: "add" | "update" | "delete", object: T, old?: T): void {
    this.#remember(type, object);
    for (const handlers of this.#handlers) {
      this.#call(() => {
        if (type === "add") handlers.onAdd?.(object);
        else if (type === "update") handlers.onUpdate?.(old as T, object);
        else handlers.onDelete?.(object);
      });
    }
  }

  /** Keeps (or forgets) a deleted object's last state, at most keepDeleted of them, oldest dropped first. */
  #remember(type: "add" | "update" | "delete", object: T): void {
    const limit = this.#options.keepDeleted ?? 0;
    if (limit === 0) return;
    const key = objectKey(object);
    this.#deleted.delete(key);
    if (type !== "delete") return;
    this.#deleted.set(key, object);
    if (this.#deleted.size > limit) this.#deleted.delete(this.#deleted.keys().next().value as string);
  }

  #call(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.#log.error("informer handler threw; this is a bug", { error: describeCause(error) });
    }
  }

  #selectors(): RequestOptions["query"] {
    return { labelSelector: this.#options.labelSelector, fieldSelector: this.#options.fieldSelector };
  }

  #stallTimeoutMs(): number {
    return this.#options.stallTimeoutMs ?? 5 * 60_000;
  }
}

/** A resource version as the etcd revision it is; undefined when it is not a decimal integer. */
function revision(resourceVersion: string): bigint | undefined {
  return /^[0-9]{1,30}$/.test(resourceVersion) ? BigInt(resourceVersion) : undefined;
}
