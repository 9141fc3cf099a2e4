// The manager: owns informers, controllers, leader election and probes, and runs them in the right order.
import type { Logger } from "winston";

import type { KubeClient } from "./client.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { Controller } from "./controller.ts";
import { Informer, type CachedObject, type InformerOptions } from "./informer.ts";
import { LeaderElector, type LeaderElectionOptions } from "./leader.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import { startProbeServers, type ProbeServers } from "./server.ts";

/** Leader election as LeaderElector takes it, minus what the manager supplies. */
export type LeaderElectionSettings = Omit<
  LeaderElectionOptions,
  "client" | "log" | "clock" | "onLeaderChange"
>;

export interface ManagerOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly clock?: Clock;
  /** Undefined: no leader election, this process acts at once (a single replica, tests). */
  readonly leaderElection?: LeaderElectionSettings;
  /** Undefined: no HTTP endpoints (tests). */
  readonly probes?: { readonly host: string; readonly healthPort: number; readonly metricsPort: number };
  /** Defaults for every informer (stall timeout, page size, backoff). */
  readonly informerDefaults?: Partial<
    Pick<InformerOptions<CachedObject>, "stallTimeoutMs" | "pageSize" | "backoff">
  >;
}

export type ManagerOutcome = "stopped" | "lost";

/**
 * Runs an operator as controller-runtime's manager does:
 *
 * - informers start on every replica (a standby keeps warm caches, so a failover does not re-list);
 * - controllers start only on the leader, and only once every informer has synced (a reconcile against a
 *   half-filled cache would report present nodes as missing);
 * - on stop: controllers finish their in-flight reconciles, *then* the Lease is released (never the other
 *   way round, or a new leader could act beside an old reconcile), then informers and probes stop;
 * - on lost leadership: in-flight reconciles are aborted and `run` resolves "lost"; the process must exit.
 */
export class Manager {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly clock: Clock;
  readonly #options: ManagerOptions;
  readonly #informers: Informer<CachedObject>[] = [];
  readonly #controllers: Controller[] = [];
  #elector: LeaderElector | undefined;
  #servers: ProbeServers | undefined;
  #controllersRunning: Promise<void> | undefined;
  #lost = false;

  constructor(options: ManagerOptions) {
    this.client = options.client;
    this.log = options.log;
    this.metrics = options.metrics;
    this.clock = options.clock ?? systemClock;
    this.#options = options;
  }

  /** Creates an informer the manager starts, stops and checks for readiness. */
  informer<T extends CachedObject>(
    options: Omit<InformerOptions<T>, "client" | "log" | "observer" | "clock">,
  ): Informer<T> {
    const informer = new Informer<T>({
      ...this.#options.informerDefaults,
      ...options,
      client: this.client,
      log: this.log,
      observer: this.metrics.informerObserver(),
      clock: this.clock,
    });
    this.#informers.push(informer);
    return informer;
  }

  addController(controller: Controller): void {
    this.#controllers.push(controller);
  }

  /** The bound probe and metrics ports, once `run` started them. */
  get ports(): { healthPort: number; metricsPort: number } | undefined {
    return this.#servers === undefined
      ? undefined
      : { healthPort: this.#servers.healthPort, metricsPort: this.#servers.metricsPort };
  }

  /** Every informer has its first list in. */
  synced(): boolean {
    return this.#informers.every((informer) => informer.hasSynced());
  }

  isLeader(): boolean {
    return this.#options.leaderElection === undefined
      ? this.#controllersRunning !== undefined
      : (this.#elector?.isLeader() ?? false);
  }

  /** Runs until `signal` aborts ("stopped") or leadership is lost ("lost"). */
  async run(signal: AbortSignal): Promise<ManagerOutcome> {
    if (this.#options.probes !== undefined) {
      this.#servers = await startProbeServers({
        ...this.#options.probes,
        registry: this.metrics.registry,
        log: this.log,
        liveness: [{ name: "ping", check: () => ({ ok: true }) }],
        readiness: [
          ...this.#informers.map((informer) => ({
            name: `informer-${informer.name}`,
            check: () => ({ ok: informer.hasSynced(), detail: "first list not in yet" }),
          })),
          {
            name: "leader-election",
            check: () => ({ ok: !this.#lost, detail: "leadership lost; exiting" }),
          },
        ],
      });
    }
    for (const informer of this.#informers) informer.start();

    let outcome: ManagerOutcome = "stopped";
    const settings = this.#options.leaderElection;
    if (settings === undefined) {
      this.#startControllers(signal);
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener("abort", () => resolve(), { once: true });
      });
    } else {
      this.#elector = new LeaderElector({
        client: this.client,
        ...settings,
        log: this.log.child({ component: "leader-election" }),
        clock: this.clock,
        onLeaderChange: (leading) => this.metrics.leader.set(leading ? 1 : 0),
      });
      // On stop, controllers finish first; only then does the election end (and release the Lease).
      const election = new AbortController();
      const onStop = () => void this.#stopControllers(false).then(() => election.abort());
      if (signal.aborted) onStop();
      else signal.addEventListener("abort", onStop, { once: true });
      outcome = await this.#elector.run(election.signal, (leadership) => {
        if (!signal.aborted) this.#startControllers(leadership, signal);
      });
      signal.removeEventListener("abort", onStop);
      if (outcome === "lost") {
        this.#lost = true;
        await this.#stopControllers(true);
      }
    }
    await this.#stopControllers(false);
    await Promise.all(this.#informers.map((informer) => informer.stop()));
    await this.#servers?.close();
    this.log.info("manager stopped", { outcome });
    return outcome;
  }

  /** Starts the controllers once the caches synced; `signal` aborts in-flight work, `stop` only the wait. */
  #startControllers(signal: AbortSignal, stop: AbortSignal = signal): void {
    if (this.#controllersRunning !== undefined) return;
    this.#controllersRunning = (async () => {
      try {
        const waitSignal = AbortSignal.any([signal, stop]);
        await Promise.all(this.#informers.map((informer) => informer.waitForSync(waitSignal)));
      } catch {
        return; // stopped before the caches synced
      }
      if (signal.aborted || stop.aborted) return;
      this.log.info("caches synced; starting controllers", {
        controllers: this.#controllers.map((c) => c.name),
      });
      for (const controller of this.#controllers) controller.start(signal);
    })();
  }

  async #stopControllers(abort: boolean): Promise<void> {
    const running = this.#controllersRunning;
    if (running === undefined) return;
    await running;
    if (abort) for (const controller of this.#controllers) controller.abort();
    await Promise.all(this.#controllers.map((controller) => controller.stop()));
  }
}
