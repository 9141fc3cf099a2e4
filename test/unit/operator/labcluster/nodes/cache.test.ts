// Node health's cache transforms: what the Node and Lease informers keep, the remediation record.
import { expect } from "chai";
import { isDeepStrictEqual } from "node:util";

import {
  parseRemediationRecord,
  REMEDIATION_ANNOTATION,
  toSlimLease,
  toSlimNode,
} from "../../../../../operator/labcluster/nodes/cache.ts";
import { record } from "./fixtures.ts";

describe("node health", () => {
  describe("cache transforms", () => {
    const raw = (heartbeat: string, extra: Record<string, unknown> = {}) => ({
      metadata: {
        name: "w1-k8s",
        uid: "u1",
        resourceVersion: heartbeat,
        creationTimestamp: "2026-01-01T00:00:00Z",
        labels: { "kubernetes.io/hostname": "w1-k8s" },
        annotations: { "node.alpha.kubernetes.io/ttl": "0" },
        managedFields: [{ manager: "kubelet" }],
      },
      spec: {},
      status: {
        conditions: [
          { type: "MemoryPressure", status: "False", lastHeartbeatTime: heartbeat },
          {
            type: "Ready",
            status: "True",
            reason: "KubeletReady",
            lastHeartbeatTime: heartbeat,
            lastTransitionTime: "2026-01-01T00:00:10Z",
          },
        ],
        images: [{ names: ["a"], sizeBytes: 1 }],
      },
      ...extra,
    });

    it("keeps a Node's Ready condition, role and cordon, and drops heartbeats, images and managedFields", () => {
      const slim = toSlimNode(raw("2026-01-01T11:00:00Z"));
      expect(slim).to.deep.equal({
        metadata: { name: "w1-k8s", uid: "u1" },
        createdAt: Date.parse("2026-01-01T00:00:00Z"),
        controlPlane: false,
        unschedulable: false,
        ready: { status: "True", reason: "KubeletReady", since: Date.parse("2026-01-01T00:00:10Z") },
        remediation: undefined,
      });
    });

    it("turns a heartbeat-only update into an identical cached object (no event reaches the mappers)", () => {
      expect(
        isDeepStrictEqual(toSlimNode(raw("2026-01-01T11:00:00Z")), toSlimNode(raw("2026-01-01T11:00:10Z"))),
      ).to.equal(true);
    });

    it("sees the control-plane label and our remediation record", () => {
      const slim = toSlimNode({
        metadata: {
          name: "m-k8s",
          labels: { "node-role.kubernetes.io/control-plane": "" },
          annotations: { [REMEDIATION_ANNOTATION]: JSON.stringify(record()) },
        },
        spec: { unschedulable: true },
      });
      expect(slim.controlPlane).to.equal(true);
      expect(slim.unschedulable).to.equal(true);
      expect(slim.remediation).to.deep.equal(record());
      expect(slim.ready).to.equal(undefined);
    });

    it("reads a Lease's renewTime (MicroTime) as epoch milliseconds", () => {
      expect(
        toSlimLease({
          metadata: { name: "w1-k8s", namespace: "kube-node-lease", resourceVersion: "9" },
          spec: {
            holderIdentity: "w1-k8s",
            renewTime: "2026-01-01T11:59:50.123456Z",
            leaseDurationSeconds: 40,
          },
        }),
      ).to.deep.equal({
        metadata: { name: "w1-k8s", namespace: "kube-node-lease" },
        renewTime: Date.parse("2026-01-01T11:59:50.123Z"),
        durationSeconds: 40,
      });
    });

    it("ignores a remediation annotation that is not a record of ours", () => {
      expect(parseRemediationRecord("yes")).to.equal(undefined);
      expect(parseRemediationRecord(JSON.stringify({ by: "lab", action: "Reboot", started: "x" }))).to.equal(
        undefined,
      );
      expect(parseRemediationRecord(undefined)).to.equal(undefined);
    });
  });
});
