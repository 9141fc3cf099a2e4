// Node health's mappers: which Node and Lease changes queue which LabClusters.
import { expect } from "chai";

import type { CachedLabCluster } from "../../../../../operator/labcluster/cache.ts";
import type { SlimLease } from "../../../../../operator/labcluster/nodes/cache.ts";
import { leaseToLabCluster, nodeToLabCluster } from "../../../../../operator/labcluster/nodes/part.ts";
import { node, NOW } from "./fixtures.ts";

describe("node health", () => {
  describe("mappers", () => {
    const labCluster = (name: string, unhealthyNodes: string[] = []): CachedLabCluster => ({
      metadata: { name },
      createdAt: undefined,
      madeByBootstrap: false,
      spec: undefined,
      unhealthyNodes,
    });
    const lease = (renewTime: number): SlimLease => ({
      metadata: { name: "w1-k8s", namespace: "kube-node-lease" },
      renewTime,
    });

    it("nodeToLabCluster queues every LabCluster (one lab is one cluster)", () => {
      expect(nodeToLabCluster(() => [labCluster("a"), labCluster("b")])(node("w1-k8s"))).to.deep.equal([
        "a",
        "b",
      ]);
    });

    it("leaseToLabCluster ignores routine renewals of a healthy node", () => {
      expect(leaseToLabCluster(() => [labCluster("lab")])(lease(NOW), lease(NOW - 10_000))).to.deep.equal([]);
    });

    it("leaseToLabCluster queues new Leases, renewals after a stale gap, and renewals of nodes reported unhealthy", () => {
      const map = leaseToLabCluster(() => [labCluster("lab")]);
      expect(map(lease(NOW), undefined)).to.deep.equal(["lab"]);
      expect(map(lease(NOW), lease(NOW - 20_000))).to.deep.equal(["lab"]);
      expect(
        leaseToLabCluster(() => [labCluster("lab", ["w1-k8s"])])(lease(NOW), lease(NOW - 1000)),
      ).to.deep.equal(["lab"]);
    });
  });
});
