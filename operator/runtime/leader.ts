// Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing rules.
import type { Logger } from "winston";

import { ApiError, describeCause, isConflict, isNotFound } from "../errors.ts";
import { resourcePath, type KubeClient } from "./client.ts";
import { microTime, sleep, systemClock, type Clock } from "./clock.ts";

/** How long the leader waits at its renew deadline for one last renewal before it stops acting. */
export const LAST_CHANCE_MS = 1000;

export interface LeaderElectionOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  /** The Lease's name; every replica of one operator uses the same. */
  readonly name: string;
  /** This replica's identity (pod name + random suffix); written as holderIdentity. */
  readonly identity: string;
  /** How long a Lease is honoured after its last renewal, as observed by the others. Default 15 s. */
  readonly leaseDurationMs?: number;
  /** The leader stops acting when it could not renew for this long. Must be < leaseDuration. Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** How often to try to acquire or renew. Default 2 s. */
  readonly retryPeriodMs?: number;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Called with true when leadership starts and false when it ends (metrics). */
  readonly onLeaderChange?: (leading: boolean) => void;
}

interface LeaseObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/**
 * Leader election as client-go's leaderelection package, so two replicas never act at once:
 *
 * - A candidate takes the Lease only when it is free (no holder, or released) or when its record has not
 *   changed for `leaseDuration` **as observed on the candidate's own clock** (no clock-skew assumptions).
 * - The leader renews every `retryPeriod`. If no renewal succeeded for `renewDeadline`, it stops acting,
 *   and since renewDeadline < leaseDuration it has stopped before anyone may take the Lease. At that
 *   deadline one renewal is tried first (or the one in flight awaited, LAST_CHANCE_MS at most): a process
 *   that was paused (SIGSTOP, a frozen VM) had no chance to renew, and when the Lease still names it and
 *   nobody took it meanwhile, that renewal succeeds and it goes on leading at once, instead of exiting and
 *   waiting out its own Lease as a new process. Someone else's renewal in between makes the write conflict.
 * - On a clean shutdown the leader releases the Lease (empty holder), so a standby takes over at its next
 *   retry instead of waiting out the lease.
 *
 * Writes use the Lease's resourceVersion: of two candidates racing, one gets 409 Conflict and stays standby.
 */
export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  readonly #clock: Clock;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  #lease: LeaseObject | undefined;
  /** The record last seen (holder + renewTime) and when we first saw it, on our clock. */
  #observedRecord = "";
  #observedAt = 0;
  #leading = false;
  #lastRenew = 0;
  /** The acquire-or-renew attempt in flight, if any. */
  #attempt: Promise<boolean> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.#renewDeadlineMs >= this.#leaseDurationMs) {
      throw new Error("leader election: the renew deadline must be shorter than the lease duration");
    }
    if (this.#retryPeriodMs >= this.#renewDeadlineMs) {
      throw new Error("leader election: the retry period must be shorter than the renew deadline");
    }
  }

  get identity(): string {
    return this.#options.identity;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Campaigns until this replica leads, then renews. Resolves `"stopped"` when `signal` aborts (after
   * releasing the Lease if it was leading) and `"lost"` when leadership was lost: the caller must stop acting
   * at once. `onStartedLeading` runs when leadership is acquired; its signal aborts when leadership ends.
   */
  async run(
    signal: AbortSignal,
    onStartedLeading: (leadership: AbortSignal) => void,
  ): Promise<"stopped" | "lost"> {
    const log = this.#options.log;
    log.info("leader election: campaigning", { lease: `${this.#options.namespace}/${this.#options.name}` });
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew(signal)) break;
      await sleep(this.#clock, this.#retryPeriodMs, signal);
    }
    if (signal.aborted) return "stopped";

    const leadership = new AbortController();
    this.#setLeading(true);
    this.#lastRenew = this.#clock.now();
    log.info("leader election: acquired the lease; starting to act", { identity: this.#options.identity });
    onStartedLeading(leadership.signal);

    const outcome = await new Promise<"stopped" | "lost">((resolve) => {
      let finished = false;
      let cancelDeadline = () => {};
      let cancelRenew = () => {};
      const finish = (result: "stopped" | "lost") => {
        if (finished) return;
        finished = true;
        cancelDeadline();
        cancelRenew();
        signal.removeEventListener("abort", onStop);
        resolve(result);
      };
      const onStop = () => finish("stopped");
      signal.addEventListener("abort", onStop, { once: true });
      const armDeadline = () => {
        const remaining = this.#lastRenew + this.#renewDeadlineMs - this.#clock.now();
        cancelDeadline = this.#clock.setTimer(() => {
          if (this.#clock.now() - this.#lastRenew < this.#renewDeadlineMs) {
            armDeadline();
            return;
          }
          void this.#lastChance(signal).then((renewed) => {
            if (finished) return;
            if (!renewed) {
              finish("lost");
              return;
            }
            log.info("leader election: renewed at the deadline; still leading", {
              renewDeadlineMs: this.#renewDeadlineMs,
            });
            armDeadline();
          });
        }, remaining);
      };
      armDeadline();
      const renew = () => {
        cancelRenew = this.#clock.setTimer(() => {
          void this.#tryAcquireOrRenew(signal).then((renewed) => {
            if (finished) return;
            if (renewed) return renew();
            if (this.#lease?.spec?.holderIdentity !== this.#options.identity) {
              // Someone else holds the Lease now: we lost it, no matter the deadline.
              finish("lost");
              return;
            }
            renew();
          });
        }, this.#retryPeriodMs);
      };
      renew();
    });

    leadership.abort();
    this.#setLeading(false);
    if (outcome === "lost") {
      log.error("leader election: lost the lease; stopped acting", {
        renewDeadlineMs: this.#renewDeadlineMs,
      });
    } else {
      await this.release();
    }
    return outcome;
  }

  /** Gives the Lease up if we hold it: empty holder, so a standby takes over without waiting it out. */
  async release(): Promise<void> {
    const lease = this.#lease;
    if (lease?.spec?.holderIdentity !== this.#options.identity) return;
    const now = microTime(this.#clock.now());
    try {
      this.#lease = await this.#options.client.replace<LeaseObject>(
        this.#path(),
        {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: null,
            leaseDurationSeconds: 1,
            renewTime: now,
            acquireTime: now,
          },
        },
        { timeoutMs: this.#retryPeriodMs * 2 },
      );
      this.#options.log.info("leader election: released the lease");
    } catch (error) {
      this.#options.log.warn("leader election: cannot release the lease", { error: describeCause(error) });
    }
  }

  /**
   * The renewal at the deadline: the attempt in flight, else a new one, bounded by LAST_CHANCE_MS (past it
   * the leader stops acting, as it must well before leaseDuration). True when it renewed.
   */
  async #lastChance(signal: AbortSignal): Promise<boolean> {
    const attempt = this.#attempt ?? this.#tryAcquireOrRenew(signal);
    let cancel = () => {};
    const timedOut = new Promise<boolean>(
      (resolve) => (cancel = this.#clock.setTimer(() => resolve(false), LAST_CHANCE_MS)),
    );
    try {
      return await Promise.race([attempt, timedOut]);
    } finally {
      cancel();
    }
  }

  /** One attempt; true when we hold the Lease afterwards (a renewal moves lastRenew). Never throws. */
  #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const attempt = this.#attemptOnce(signal).then((held) => {
      if (held && this.#leading) this.#lastRenew = this.#clock.now();
      return held;
    });
    this.#attempt = attempt;
    void attempt.finally(() => {
      if (this.#attempt === attempt) this.#attempt = undefined;
    });
    return attempt;
  }

  async #attemptOnce(signal: AbortSignal): Promise<boolean> {
    const now = this.#clock.now();
    const timeoutMs = this.#leading
      ? Math.max(500, this.#lastRenew + this.#renewDeadlineMs - now)
      : this.#retryPeriodMs * 2;
    try {
      let lease: LeaseObject;
      try {
        lease = await this.#options.client.get<LeaseObject>(this.#path(), { signal, timeoutMs });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.#lease = await this.#options.client.create<LeaseObject>(
          resourcePath({
            group: "coordination.k8s.io",
            version: "v1",
            plural: "leases",
            namespace: this.#options.namespace,
          }),
          {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: this.#options.name, namespace: this.#options.namespace },
            spec: this.#record(now, undefined),
          },
          { signal, timeoutMs },
        );
        this.#observe(this.#lease, this.#clock.now());
        return true;
      }
      this.#lease = lease;
      this.#observe(lease, now);
      const holder = lease.spec?.holderIdentity ?? "";
      if (
        holder !== "" &&
        holder !== this.#options.identity &&
        this.#observedAt + this.#leaseDurationMs > now
      ) {
        return false;
      }
      this.#lease = await this.#options.client.replace<LeaseObject>(
        this.#path(),
        { ...lease, spec: this.#record(now, lease) },
        { signal, timeoutMs },
      );
      this.#observe(this.#lease, this.#clock.now());
      return true;
    } catch (error) {
      if (signal.aborted) return false;
      if (isConflict(error)) {
        this.#options.log.debug("leader election: lost a race for the lease");
      } else {
        const level = this.#leading ? "warn" : "debug";
        this.#options.log.log(level, "leader election: cannot reach the lease", {
          error: describeCause(error),
          status: error instanceof ApiError ? error.statusCode : undefined,
        });
      }
      return false;
    }
  }

  #record(now: number, lease: LeaseObject | undefined) {
    const spec = lease?.spec;
    const ours = spec?.holderIdentity === this.#options.identity;
    return {
      holderIdentity: this.#options.identity,
      leaseDurationSeconds: Math.ceil(this.#leaseDurationMs / 1000),
      acquireTime: ours && spec?.acquireTime ? spec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (spec?.leaseTransitions ?? 0) + (ours || lease === undefined ? 0 : 1),
    };
  }

  #observe(lease: LeaseObject, now: number): void {
    const record = `${lease.spec?.holderIdentity ?? ""}|${lease.spec?.renewTime ?? ""}`;
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = now;
    }
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#options.onLeaderChange?.(leading);
  }

  #path(): string {
    return resourcePath({
      group: "coordination.k8s.io",
      version: "v1",
      plural: "leases",
      namespace: this.#options.namespace,
      name: this.#options.name,
    });
  }
}
