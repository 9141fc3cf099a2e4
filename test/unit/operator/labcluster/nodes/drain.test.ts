// Which pods a drain evicts: as kubectl drain --ignore-daemonsets, never pods nothing would recreate.
import { expect } from "chai";

import { classifyPod } from "../../../../../operator/labcluster/nodes/drain.ts";

const pod = (overrides: { owner?: string; mirror?: boolean; deleting?: boolean; phase?: string } = {}) => ({
  metadata: {
    name: "p",
    namespace: "ns",
    ...(overrides.owner === undefined
      ? {}
      : { ownerReferences: [{ kind: overrides.owner, controller: true }] }),
    ...(overrides.mirror === true ? { annotations: { "kubernetes.io/config.mirror": "abc" } } : {}),
    ...(overrides.deleting === true ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
  },
  status: { phase: overrides.phase ?? "Running" },
});

describe("drain", () => {
  it("evicts pods managed by a controller", () => {
    expect(classifyPod(pod({ owner: "ReplicaSet" }))).to.equal("evict");
    expect(classifyPod(pod({ owner: "StatefulSet" }))).to.equal("evict");
  });

  it("skips DaemonSet pods (the DaemonSet would put them back) and static mirror pods", () => {
    expect(classifyPod(pod({ owner: "DaemonSet" }))).to.equal("skip");
    expect(classifyPod(pod({ mirror: true }))).to.equal("skip");
  });

  it("leaves pods without a controller on the node and reports them", () => {
    expect(classifyPod(pod())).to.equal("unmanaged");
  });

  it("counts terminating pods as already evicted (not waited for) and ignores finished ones", () => {
    expect(classifyPod(pod({ owner: "ReplicaSet", deleting: true }))).to.equal("terminating");
    expect(classifyPod(pod({ owner: "Job", phase: "Succeeded" }))).to.equal("skip");
  });
});
