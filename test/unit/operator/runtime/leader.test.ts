// Leader election's deadline: a leader paused past it renews at once when the Lease is still its own, and
// stops acting when someone took the Lease or the API server cannot be reached.
import { expect } from "chai";

import { ApiConnectionError, ApiError } from "../../../../operator/errors.ts";
import type { KubeClient } from "../../../../operator/runtime/client.ts";
import { ManualClock } from "../../../../operator/runtime/clock.ts";
import { LAST_CHANCE_MS, LeaderElector } from "../../../../operator/runtime/leader.ts";
import { silentOperatorLogger } from "../../../../operator/runtime/log.ts";

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: { holderIdentity?: string | null; renewTime?: string | null; leaseTransitions?: number };
}

/** An API server holding one Lease, with resourceVersion conflicts as the real one; `down` refuses every call. */
function leaseServer() {
  const state: { lease: Lease | undefined; version: number; down: boolean; writes: number } = {
    lease: undefined,
    version: 1,
    down: false,
    writes: 0,
  };
  const reachable = () => {
    if (state.down) throw new ApiConnectionError("GET", "/leases", new Error("connect ECONNREFUSED"));
  };
  const store = (lease: Lease): Lease => {
    state.writes++;
    state.lease = structuredClone({
      ...lease,
      metadata: { ...lease.metadata, resourceVersion: String(++state.version) },
    });
    return structuredClone(state.lease);
  };
  const client = {
    get: () => {
      reachable();
      if (state.lease === undefined)
        return Promise.reject(new ApiError("GET", "/leases/x", 404, "NotFound", "not found"));
      return Promise.resolve(structuredClone(state.lease));
    },
    create: (_path: string, lease: Lease) => {
      reachable();
      return Promise.resolve(store(lease));
    },
    replace: (_path: string, lease: Lease) => {
      reachable();
      if (lease.metadata.resourceVersion !== state.lease?.metadata.resourceVersion) {
        return Promise.reject(
          new ApiError("PUT", "/leases/x", 409, "Conflict", "the object has been modified"),
        );
      }
      return Promise.resolve(store(lease));
    },
  } as unknown as KubeClient;
  return {
    state,
    client,
    takeOver: (identity: string) =>
      store({ ...state.lease!, spec: { ...state.lease!.spec, holderIdentity: identity } }),
  };
}

/** Lets the promises the timers started run to their end. */
async function settle(): Promise<void> {
  for (let round = 0; round < 20; round++) await new Promise((resolve) => setImmediate(resolve));
}

async function leading(server: ReturnType<typeof leaseServer>, clock: ManualClock) {
  const elector = new LeaderElector({
    client: server.client,
    namespace: "kubelab-system",
    name: "kubelab-operator",
    identity: "replica-a",
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    log: silentOperatorLogger(),
    clock,
  });
  const stop = new AbortController();
  let outcome: string | undefined;
  const run = elector.run(stop.signal, () => {}).then((result) => (outcome = result));
  await settle();
  expect(elector.isLeader(), "leads at once: the Lease was free").to.equal(true);
  // A few renewals, as a leader lives.
  for (let step = 0; step < 3; step++) {
    clock.advance(2_000);
    await settle();
  }
  return { elector, stop, run, outcome: () => outcome };
}

describe("LeaderElector", () => {
  it("renews at once after a pause longer than the lease when the Lease still names it, and keeps leading", async () => {
    const clock = new ManualClock();
    const server = leaseServer();
    const { elector, stop, run, outcome } = await leading(server, clock);
    const writes = server.state.writes;
    clock.jump(30_000);
    await settle();
    expect(outcome(), "not lost").to.equal(undefined);
    expect(elector.isLeader()).to.equal(true);
    expect(server.state.writes, "renewed on resuming").to.be.greaterThan(writes);
    expect(Date.parse(server.state.lease!.spec!.renewTime!)).to.equal(clock.now());
    expect(server.state.lease!.spec!.holderIdentity).to.equal("replica-a");
    stop.abort();
    await run;
  });

  it("stops acting after a pause when someone else took the Lease meanwhile", async () => {
    const clock = new ManualClock();
    const server = leaseServer();
    const { stop, run, outcome } = await leading(server, clock);
    server.takeOver("replica-b");
    clock.jump(30_000);
    await settle();
    expect(outcome()).to.equal("lost");
    expect(server.state.lease!.spec!.holderIdentity, "the other's Lease is left alone").to.equal("replica-b");
    stop.abort();
    await run;
  });

  it("stops acting within renewDeadline and one last attempt when the API server cannot be reached", async () => {
    const clock = new ManualClock();
    const server = leaseServer();
    const { stop, run, outcome } = await leading(server, clock);
    const lastRenewal = Date.parse(server.state.lease!.spec!.renewTime!);
    server.state.down = true;
    let lostAt: number | undefined;
    for (let elapsed = 0; elapsed <= 15_000 && lostAt === undefined; elapsed += 100) {
      clock.advance(100);
      await settle();
      if (outcome() === "lost") lostAt = clock.now();
    }
    expect(lostAt, "lost").to.not.equal(undefined);
    // Before anyone may take the Lease: the others wait leaseDuration (15 s) from their last sight of it.
    expect(lostAt! - lastRenewal)
      .to.be.at.least(10_000)
      .and.at.most(10_000 + LAST_CHANCE_MS + 100);
    stop.abort();
    await run;
  });
});
