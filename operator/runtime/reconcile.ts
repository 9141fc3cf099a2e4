// The reconcile contract: what a reconciler returns or throws, and what the controller does with it.
import type { Logger } from "winston";

import { ApiConnectionError, ApiError, ReconcileError, TemporaryError } from "../errors.ts";

/**
 * What a successful reconcile asks for next. Built only through the named constructors below, as kube-rs's
 * `Action`, so every call site says its intent.
 */
export interface Action {
  /** Milliseconds until the key is reconciled again; undefined: only when something changes. */
  readonly requeueAfterMs: number | undefined;
}

export const Action = {
  /**
   * Done: the world matches the spec. The key is reconciled again only when a watched object changes.
   * The usual answer.
   */
  awaitChange(): Action {
    return { requeueAfterMs: undefined };
  },
  /**
   * Done for now, but time itself will change the answer (a Lease goes stale at a known moment, a drain
   * times out): reconcile again after `ms`, or sooner if something changes. Not an error: the backoff is
   * reset.
   */
  requeueAfter(ms: number): Action {
    return { requeueAfterMs: Math.max(0, Math.ceil(ms)) };
  },
  /** The earliest of several parts' wishes: a requeue beats "await change", a sooner requeue a later one. */
  merge(actions: readonly Action[]): Action {
    let earliest: number | undefined;
    for (const action of actions) {
      if (action.requeueAfterMs === undefined) continue;
      earliest = earliest === undefined ? action.requeueAfterMs : Math.min(earliest, action.requeueAfterMs);
    }
    return { requeueAfterMs: earliest };
  },
} as const;

/** Where one reconcile runs: its log (with the reconcile id), its id and a signal that fires on shutdown. */
export interface ReconcileContext {
  readonly reconcileId: string;
  readonly log: Logger;
  /** Aborted when the operator stops or loses leadership; pass it to API calls. */
  readonly signal: AbortSignal;
}

/**
 * A reconciler brings one object's world to its spec. The contract, applied for every controller by
 * `outcomeOf` (and nowhere else):
 *
 * - **Return an Action** (`Action.awaitChange()` or `Action.requeueAfter(ms)`): success. The key's backoff is
 *   reset; with requeueAfter the key comes back after that delay (or sooner on a change).
 * - **Throw TemporaryError**: it failed, try again. With `retryAfterMs` after exactly that delay, else with
 *   the key's exponential backoff (5 ms doubling to ~15 min).
 * - **Throw TerminalError**: retrying cannot help until the object changes. Logged and counted, not retried.
 * - **Any other throw** is a bug or an API failure: API errors are retried with backoff like a temporary
 *   error; anything else is counted as a panic, logged with its stack, and retried with backoff too.
 *
 * A reconciler must be level-based and idempotent: it gets only the key, reads the current state, and may
 * run any number of times. The same key is never reconciled twice at once.
 */
export interface Reconciler {
  reconcile(key: string, context: ReconcileContext): Promise<Action>;
}

/** A reconcile's result as the controller acts on it. */
export type Outcome =
  | { readonly kind: "success"; readonly requeueAfterMs: number | undefined }
  | { readonly kind: "retry"; readonly retryAfterMs: number | undefined; readonly error: Error }
  | { readonly kind: "terminal"; readonly error: Error }
  | { readonly kind: "panic"; readonly error: Error };

/** Classifies a reconcile's result by the contract above. Pure. */
export function outcomeOf(result: { action: Action } | { error: unknown }): Outcome {
  if ("action" in result) return { kind: "success", requeueAfterMs: result.action.requeueAfterMs };
  const error = result.error;
  if (error instanceof ReconcileError) {
    if (error.terminal) return { kind: "terminal", error };
    const retryAfterMs = error instanceof TemporaryError ? error.retryAfterMs : undefined;
    return { kind: "retry", retryAfterMs, error };
  }
  if (error instanceof ApiError) {
    const retryAfterMs = error.retryAfterSeconds === undefined ? undefined : error.retryAfterSeconds * 1000;
    return { kind: "retry", retryAfterMs, error };
  }
  if (error instanceof ApiConnectionError) return { kind: "retry", retryAfterMs: undefined, error };
  return { kind: "panic", error: error instanceof Error ? error : new Error(String(error)) };
}
