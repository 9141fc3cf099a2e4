// Time as the runtime sees it: the real clock in production, a manual one in unit tests.

/** Cancels a timer set by a Clock; calling it twice is harmless. */
export type CancelTimer = () => void;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `callback` after `delayMs`. Timers never keep the process alive on their own. */
  setTimer(callback: () => void, delayMs: number): CancelTimer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** A clock that only moves when told: `advance` runs the timers that fall due, in order. */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  constructor(start = Date.parse("2026-01-01T00:00:00Z")) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): CancelTimer {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, delayMs), callback });
    return () => this.#timers.delete(id);
  }

  /** Moves time forward by `ms`, firing due timers in time order (each at its own due time). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId: number | undefined;
      let next: { at: number; callback: () => void } | undefined;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && (next === undefined || timer.at < next.at)) {
          nextId = id;
          next = timer;
        }
      }
      if (next === undefined || nextId === undefined) break;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, next.at);
      next.callback();
    }
    this.#now = target;
  }

  /**
   * Moves time forward by `ms` as a paused process lives it (SIGSTOP, a frozen VM): nothing runs meanwhile,
   * then every timer that fell due fires at once, late, in the order it was due.
   */
  jump(ms: number): void {
    this.#now += ms;
    this.advance(0);
  }

  /** How many timers are waiting. */
  pendingTimers(): number {
    return this.#timers.size;
  }
}

/** Waits `ms` on `clock`; resolves early (never rejects) when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const cancel = clock.setTimer(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      cancel();
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** metav1.MicroTime: RFC 3339 with microseconds, as Lease and Event times are written. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}
