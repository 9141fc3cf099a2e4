// What the operator does about one addon object: re-create, re-apply, restart or nothing, and when to look again.
import { expect } from "chai";

import { AVAILABLE, type RestorePolicy } from "../../../../operator/labcluster/addons/backoff.ts";
import {
  AWAIT_CREATE_MS,
  decideObject,
  type ObjectInput,
} from "../../../../operator/labcluster/addons/decide.ts";
import type { LiveObject } from "../../../../operator/labcluster/addons/objects.ts";

const now = 5_000_000;
const policy: RestorePolicy = { burst: 2, windowMs: 60_000, initialDelayMs: 1000, maxDelayMs: 10_000 };

const live = (extra: Partial<LiveObject> = {}): LiveObject => ({
  metadata: { name: "calico-node", namespace: "kube-system", uid: "u1" },
  deleting: false,
  modeLabel: undefined,
  fingerprint: "F1",
  workload: undefined,
  ...extra,
});

const input = (extra: Partial<ObjectInput> = {}): ObjectInput => ({
  mode: "Reconcile",
  live: live(),
  namespace: "active",
  checkedFingerprint: "F1",
  staleFingerprint: undefined,
  awaitingCreate: false,
  restoreTimes: [],
  availability: AVAILABLE,
  unavailableSeconds: 60,
  policy,
  now,
  ...extra,
});

describe("addon object decisions", () => {
  describe("a deleted object", () => {
    it("is re-created at once by server-side apply in Reconcile mode", () => {
      const decision = decideObject(input({ live: undefined }));
      expect(decision.action).to.deep.equal({ kind: "apply", reason: "Deleted" });
      expect(decision.health.state).to.equal("Missing");
      expect(decision.requeueAfterMs).to.equal(undefined);
    });

    it("is re-created by a create in EnsureExists mode (something made meanwhile is left alone)", () => {
      expect(decideObject(input({ mode: "EnsureExists", live: undefined })).action).to.deep.equal({
        kind: "create",
        reason: "Deleted",
      });
    });

    it("is left alone when Disabled", () => {
      const decision = decideObject(input({ mode: "Disabled", live: undefined }));
      expect(decision.action.kind).to.equal("none");
      expect(decision.health.state).to.equal("Disabled");
    });

    it("is never restored into a namespace being deleted, nor into one that is gone", () => {
      const terminating = decideObject(input({ live: undefined, namespace: "terminating" }));
      expect(terminating.action.kind).to.equal("none");
      expect(terminating.health.state).to.equal("NamespaceTerminating");
      expect(decideObject(input({ live: undefined, namespace: "missing" })).health.state).to.equal(
        "NamespaceMissing",
      );
    });

    it("is not restored twice while the watch has not shown the one just created", () => {
      const decision = decideObject(input({ live: undefined, awaitingCreate: true }));
      expect(decision.action.kind).to.equal("none");
      expect(decision.requeueAfterMs).to.equal(AWAIT_CREATE_MS);
    });

    it("waits out its backoff when it was restored too often lately, and says when the next try is", () => {
      const decision = decideObject(input({ live: undefined, restoreTimes: [now - 2000, now - 500] }));
      expect(decision.action.kind).to.equal("none");
      expect(decision.health.state).to.equal("RestoreBackoff");
      expect(decision.requeueAfterMs).to.equal(500);
      expect(decision.health.message).to.match(/restored 2 times/);
    });
  });

  it("waits for an object being deleted to be gone", () => {
    const decision = decideObject(input({ live: live({ deleting: true }) }));
    expect(decision.action.kind).to.equal("none");
    expect(decision.health.state).to.equal("Deleting");
  });

  describe("an existing object", () => {
    it("is re-applied when it changed since the last check (Reconcile)", () => {
      expect(decideObject(input({ live: live({ fingerprint: "F2" }) })).action).to.deep.equal({
        kind: "apply",
        reason: "Drifted",
      });
      expect(decideObject(input({ checkedFingerprint: undefined })).action.kind).to.equal("apply");
    });

    it("is left alone when unchanged, or when the cache still shows it as it was before the last apply", () => {
      expect(decideObject(input()).action.kind).to.equal("none");
      expect(
        decideObject(input({ live: live({ fingerprint: "F0" }), staleFingerprint: "F0" })).action.kind,
      ).to.equal("none");
    });

    it("keeps a user's edit in EnsureExists mode", () => {
      const decision = decideObject(input({ mode: "EnsureExists", live: live({ fingerprint: "EDITED" }) }));
      expect(decision.action.kind).to.equal("none");
      expect(decision.health.state).to.equal("Healthy");
    });

    it("is not re-applied while its restores back off", () => {
      const decision = decideObject(
        input({ live: live({ fingerprint: "F2" }), restoreTimes: [now - 100, now - 50] }),
      );
      expect(decision.action.kind).to.equal("none");
      expect(decision.health.state).to.equal("RestoreBackoff");
    });
  });

  describe("a workload", () => {
    const unavailable = live({ workload: { observed: true, desired: 3, available: 1 } });

    it("is healthy with every pod available, and its unavailability is forgotten", () => {
      const decision = decideObject(
        input({
          live: live({ workload: { observed: true, desired: 3, available: 3 } }),
          availability: { unavailableSince: now - 1000, restarts: 2, lastRestartAt: now - 500 },
        }),
      );
      expect(decision.health.state).to.equal("Healthy");
      expect(decision.availability).to.deep.equal(AVAILABLE);
    });

    it("seen unavailable is timed from now and looked at again when unavailableSeconds are up", () => {
      const decision = decideObject(input({ live: unavailable }));
      expect(decision.action.kind).to.equal("none");
      expect(decision.health.state).to.equal("Unavailable");
      expect(decision.health.message).to.match(/1\/3 available/);
      expect(decision.availability.unavailableSince).to.equal(now);
      expect(decision.requeueAfterMs).to.equal(60_000);
    });

    it("unavailable for longer than unavailableSeconds gets a rollout restart", () => {
      const decision = decideObject(
        input({
          live: unavailable,
          availability: { unavailableSince: now - 60_000, restarts: 0, lastRestartAt: undefined },
        }),
      );
      expect(decision.action).to.deep.equal({ kind: "restart", reason: "Unavailable" });
      expect(decision.availability).to.deep.equal({
        unavailableSince: now - 60_000,
        restarts: 1,
        lastRestartAt: now,
      });
    });

    it("still unavailable after a restart waits twice as long for the next, and says it is backing off", () => {
      const decision = decideObject(
        input({
          live: unavailable,
          availability: { unavailableSince: now - 90_000, restarts: 1, lastRestartAt: now - 30_000 },
        }),
      );
      expect(decision.action.kind).to.equal("none");
      expect(decision.health.state).to.equal("RestartBackoff");
      expect(decision.requeueAfterMs).to.equal(90_000);
    });

    it("whose controller has not seen its spec yet counts as unavailable", () => {
      const decision = decideObject(
        input({ live: live({ workload: { observed: false, desired: 1, available: 1 } }) }),
      );
      expect(decision.health.state).to.equal("Unavailable");
    });

    it("is re-applied first when it drifted, even while unavailable", () => {
      const decision = decideObject(
        input({
          live: live({ fingerprint: "F2", workload: { observed: true, desired: 3, available: 0 } }),
          availability: { unavailableSince: now - 120_000, restarts: 0, lastRestartAt: undefined },
        }),
      );
      expect(decision.action.kind).to.equal("apply");
    });
  });
});
