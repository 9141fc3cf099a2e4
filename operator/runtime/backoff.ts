// Exponential backoff: the delays of work-queue retries and of informer restarts.

export interface BackoffPolicy {
  /** Delay after the first failure. */
  readonly initialMs: number;
  /** The delay never grows beyond this. */
  readonly maxMs: number;
  /** Growth per failure; 2 doubles. */
  readonly factor?: number;
  /**
   * Fraction of random spread added to each delay (0.2 = up to +20%), so that many clients failing together
   * do not retry together. 0 for exact, testable delays.
   */
  readonly jitter?: number;
}

/**
 * Work-queue retries as controller-runtime's default: 5 ms doubling to ~15 minutes (5 ms * 2^18 = 22 min,
 * capped), without jitter: one key retries alone, and exact delays keep the tests honest.
 */
export const RECONCILE_BACKOFF: BackoffPolicy = { initialMs: 5, maxMs: 15 * 60_000, factor: 2, jitter: 0 };

/** Informer restarts: 1 s doubling to 30 s with jitter, as client-go's reflector. */
export const INFORMER_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.2 };

/**
 * The delay before retry number `failures` (1 = after the first failure). Pure apart from the jitter, whose
 * random source can be given.
 */
export function backoffDelay(policy: BackoffPolicy, failures: number, random: () => number = Math.random) {
  if (failures <= 0) return 0;
  const factor = policy.factor ?? 2;
  // Exponent capped so that a key failing for days cannot overflow to Infinity.
  const exact = Math.min(policy.maxMs, policy.initialMs * factor ** Math.min(failures - 1, 64));
  const jitter = policy.jitter ?? 0;
  return Math.min(policy.maxMs, Math.round(exact * (1 + jitter * random())));
}

/** Counts failures per key and hands out the next delay; `forget` after a success. */
export class KeyedBackoff {
  readonly #policy: BackoffPolicy;
  readonly #failures = new Map<string, number>();

  constructor(policy: BackoffPolicy = RECONCILE_BACKOFF) {
    this.#policy = policy;
  }

  /** Records one more failure of `key` and returns how long to wait before retrying it. */
  next(key: string): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    return backoffDelay(this.#policy, failures);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }
}
