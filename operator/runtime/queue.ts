// The work queue: object keys only, deduplicated, delayed and rate-limited adds, one worker per key at a time.
import { KeyedBackoff, RECONCILE_BACKOFF, type BackoffPolicy } from "./backoff.ts";
import { systemClock, type CancelTimer, type Clock } from "./clock.ts";

/** What the queue reports; runtime/metrics.ts turns it into Prometheus series. */
export interface QueueObserver {
  /** Keys waiting to be processed (not counting delayed ones). */
  depth(depth: number): void;
  /** A key became ready (a new entry, not a duplicate). */
  added(): void;
  /** Seconds a key waited between becoming ready and a worker taking it. */
  waited(seconds: number): void;
  /** A key was re-added with backoff after a failure. */
  retried(): void;
}

export interface WorkQueueOptions {
  readonly backoff?: BackoffPolicy;
  readonly clock?: Clock;
  readonly observer?: QueueObserver;
}

/**
 * The queue semantics of client-go's workqueue, which controller-runtime and kube-rs share:
 *
 * - A key is queued at most once: adding a key that is already waiting does nothing (dedup). Ten thousand
 *   events about one LabCluster while a reconcile runs end in one more reconcile, not ten thousand.
 * - A key being processed is never handed to a second worker. Added meanwhile, it is marked dirty and queued
 *   again when `done` is called, so the change is not lost.
 * - `addAfter` keeps the earliest due time per key; `addRateLimited` delays by the key's exponential backoff
 *   until `forget` resets it.
 * - Only the key is stored. Why it was queued is the caller's log line, never an input of the reconcile,
 *   which keeps reconcilers level-based.
 */
export class WorkQueue {
  readonly #clock: Clock;
  readonly #backoff: KeyedBackoff;
  readonly #observer: QueueObserver | undefined;
  /** Ready keys in FIFO order. */
  readonly #ready: string[] = [];
  /** Keys that need processing: waiting in #ready, or re-added while processing. Value: when it became ready. */
  readonly #dirty = new Map<string, number>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; cancel: CancelTimer }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  #shuttingDown = false;
  #drained: (() => void) | undefined;

  constructor(options: WorkQueueOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new KeyedBackoff(options.backoff ?? RECONCILE_BACKOFF);
    this.#observer = options.observer;
  }

  /** Queues `key` now, unless it is already waiting. Returns false when it was a duplicate (or shut down). */
  add(key: string): boolean {
    if (this.#shuttingDown || this.#dirty.has(key)) return false;
    this.#dirty.set(key, this.#clock.now());
    this.#observer?.added();
    if (!this.#processing.has(key)) this.#push(key);
    return true;
  }

  /**
   * Queues `key` after `delayMs`. A key already delayed keeps the earlier of the two due times; a delay of
   * zero or less is `add`.
   */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + delayMs;
    const existing = this.#delayed.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      existing.cancel();
    }
    const cancel = this.#clock.setTimer(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { at, cancel });
  }

  /** Queues `key` after its next backoff delay (5 ms, 10 ms, ... up to ~15 min); returns the delay. */
  addRateLimited(key: string): number {
    const delay = this.#backoff.next(key);
    this.#observer?.retried();
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the key's backoff: its next failure waits the initial delay again. */
  forget(key: string): void {
    this.#backoff.forget(key);
  }

  /** How many times `key` failed in a row. */
  failures(key: string): number {
    return this.#backoff.failures(key);
  }

  /** When `key` is due, if it waits for a delay (for tests and logs). */
  dueAt(key: string): number | undefined {
    return this.#delayed.get(key)?.at;
  }

  /** Keys ready to be processed. */
  get length(): number {
    return this.#ready.length;
  }

  /** Keys being processed now. */
  get processing(): number {
    return this.#processing.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * The next ready key, waiting until there is one; marks it processing. Resolves `undefined` once the queue
   * is shut down: the worker's signal to stop. Every key returned must be given back with `done`.
   */
  get(): Promise<string | undefined> {
    const key = this.#take();
    if (key !== undefined || this.#shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The worker finished `key`. If it was added again meanwhile, it is queued once more. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
    else if (this.#shuttingDown) this.#dirty.delete(key);
    if (this.#shuttingDown && this.#processing.size === 0) this.#drained?.();
  }

  /**
   * Stops handing out keys and cancels delayed adds; resolves when every key being processed is `done`
   * (in-flight work finishes, nothing new starts).
   */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { cancel } of this.#delayed.values()) cancel();
    this.#delayed.clear();
    this.#ready.length = 0;
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    this.#observer?.depth(0);
    if (this.#processing.size === 0) return;
    await new Promise<void>((resolve) => (this.#drained = resolve));
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#startProcessing(key);
      waiter(key);
      return;
    }
    this.#ready.push(key);
    this.#observer?.depth(this.#ready.length);
  }

  #take(): string | undefined {
    const key = this.#ready.shift();
    if (key === undefined) return undefined;
    this.#observer?.depth(this.#ready.length);
    this.#startProcessing(key);
    return key;
  }

  #startProcessing(key: string): void {
    const readySince = this.#dirty.get(key) ?? this.#clock.now();
    this.#dirty.delete(key);
    this.#processing.add(key);
    this.#observer?.waited((this.#clock.now() - readySince) / 1000);
  }
}
