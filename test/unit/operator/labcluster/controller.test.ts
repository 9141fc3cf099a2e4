// The LabCluster controller: which LabCluster acts, what it writes when a part fails, its Event notes.
import { expect } from "chai";

import type { LabClusterStatus } from "../../../../operator/api/labcluster.ts";
import { toCachedLabCluster } from "../../../../operator/labcluster/cache.ts";
import {
  LabClusterReconciler,
  labClusterToLabClusters,
  transitionNote,
} from "../../../../operator/labcluster/controller.ts";
import type { PartRuntime } from "../../../../operator/labcluster/part.ts";
import type { KubeClient } from "../../../../operator/runtime/client.ts";
import { ManualClock } from "../../../../operator/runtime/clock.ts";
import type { EventRecord, EventRecorder } from "../../../../operator/runtime/events.ts";
import { silentOperatorLogger } from "../../../../operator/runtime/log.ts";
import { TemporaryError } from "../../../../operator/errors.ts";

/** A LabCluster as the API server returns it. */
function stored(name: string, generation: number, createdAt: string, status: LabClusterStatus = {}) {
  return {
    apiVersion: "kubelab.dev/v1alpha1",
    kind: "LabCluster",
    metadata: { name, uid: `uid-${name}`, generation, creationTimestamp: createdAt },
    spec: {},
    status,
  };
}

/**
 * The reconciler against an in-memory API server holding `objects`: status applies are kept (the last per
 * LabCluster) and Events collected. `parts` record which LabClusters they reconciled.
 */
function harness(objects: ReturnType<typeof stored>[], parts: { name: string; runtime: PartRuntime }[]) {
  const statuses = new Map<string, LabClusterStatus>();
  const events: EventRecord[] = [];
  const client = {
    get: (path: string) => {
      const object = objects.find((candidate) => path.endsWith(`/labclusters/${candidate.metadata.name}`));
      if (object === undefined) throw new Error(`unexpected GET ${path}`);
      return Promise.resolve(structuredClone(object));
    },
    apply: (path: string, body: { status: LabClusterStatus }) => {
      statuses.set(path.split("/").at(-2)!, body.status);
      return Promise.resolve({});
    },
  } as unknown as KubeClient;
  const reconciler = new LabClusterReconciler({
    client,
    parts,
    events: {
      record: (event: EventRecord) => Promise.resolve(void events.push(event)),
    } as unknown as EventRecorder,
    clock: new ManualClock(Date.parse("2026-01-05T00:00:00Z")),
    labClusters: () => objects.map((object) => toCachedLabCluster(object)),
  });
  const reconcile = (key: string) =>
    reconciler.reconcile(key, {
      reconcileId: "r",
      log: silentOperatorLogger(),
      signal: new AbortController().signal,
    });
  return { reconcile, statuses, events };
}

function part(name: string, reconciled: string[], fail = false): { name: string; runtime: PartRuntime } {
  return {
    name,
    runtime: {
      sources: [],
      reconcile: (input) => {
        reconciled.push(input.labCluster.metadata.name);
        if (fail) return Promise.reject(new TemporaryError("the CronJob apply was refused"));
        return Promise.resolve({
          conditions: [{ type: "NodesHealthy", status: "True", reason: "AllNodesHealthy", message: "" }],
          status: {},
        });
      },
    },
  };
}

describe("the LabCluster reconciler", () => {
  it("lets only one LabCluster act: another gets DuplicateLab naming it, an Event, and no part runs for it", async () => {
    const reconciled: string[] = [];
    const { reconcile, statuses, events } = harness(
      [stored("first", 1, "2026-01-01T00:00:00Z"), stored("second", 1, "2026-01-02T00:00:00Z")],
      [part("nodes", reconciled)],
    );
    await reconcile("second");
    await reconcile("first");
    expect(reconciled).to.deep.equal(["first"]);
    const ready = statuses.get("second")?.conditions?.find((condition) => condition.type === "Ready");
    expect(ready).to.include({ status: "False", reason: "DuplicateLab" });
    expect(ready?.message).to.match(/^LabCluster first acts for this cluster/);
    expect(statuses.get("second")?.conditions).to.have.length(1);
    expect(
      events.filter((event) => event.reason === "DuplicateLab").map((e) => e.regarding.name),
    ).to.deep.equal(["second"]);
    expect(statuses.get("first")?.conditions?.find((c) => c.type === "Ready")?.status).to.equal("True");
  });

  it("does not stamp a new generation while a part fails on it, and Ready names the part", async () => {
    const reconciled: string[] = [];
    const readyBefore = {
      type: "Ready",
      status: "True" as const,
      reason: "AllHealthy",
      message: "",
      lastTransitionTime: "2026-01-01T00:00:00Z",
      observedGeneration: 1,
    };
    const { reconcile, statuses } = harness(
      [stored("lab", 2, "2026-01-01T00:00:00Z", { observedGeneration: 1, conditions: [readyBefore] })],
      [part("nodes", reconciled), part("backups", reconciled, true)],
    );
    let thrown: unknown;
    await reconcile("lab").catch((error: unknown) => (thrown = error));
    expect(thrown, "the failure is retried").to.be.instanceOf(TemporaryError);
    const status = statuses.get("lab")!;
    expect(status.observedGeneration).to.equal(1);
    expect(status.conditions?.find((condition) => condition.type === "Ready")).to.include({
      status: "False",
      reason: "ReconcileFailed",
      message: "generation 2 is not reconciled yet: backups failed: the CronJob apply was refused",
    });
  });
});

describe("labClusterToLabClusters", () => {
  const cached = (name: string, generation: number) =>
    toCachedLabCluster({ metadata: { name, generation }, spec: {} });

  it("queues every LabCluster when one is created or deleted, only itself on a spec change, nothing on status", () => {
    const map = labClusterToLabClusters(() => [cached("a", 1), cached("b", 1)]);
    expect(map(cached("c", 1), undefined).sort()).to.deep.equal(["a", "b", "c"]);
    expect(map(cached("a", 2), cached("a", 1))).to.deep.equal(["a"]);
    expect(map(cached("a", 1), cached("a", 1))).to.deep.equal([]);
  });
});

describe("transitionNote", () => {
  it("names the condition, its status, the previous status and the message", () => {
    expect(
      transitionNote(
        { type: "CalicoHealthy", status: "False", message: "1 of 39 objects not healthy" },
        {
          status: "True",
        },
      ),
    ).to.equal("CalicoHealthy is False (was True): 1 of 39 objects not healthy");
  });

  it("leaves out the colon when the condition has no message, and the previous status on the first report", () => {
    expect(transitionNote({ type: "Ready", status: "True", message: "" }, { status: "False" })).to.equal(
      "Ready is True (was False)",
    );
    expect(transitionNote({ type: "Ready", status: "True" }, undefined)).to.equal("Ready is True");
  });

  it("keeps the note within the 1,000 characters an Event allows for it", () => {
    const note = transitionNote({ type: "Ready", status: "False", message: "x".repeat(5000) }, undefined);
    expect(note).to.have.length(1000);
  });
});
