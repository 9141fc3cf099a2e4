// What the operator caches of a LabCluster: defaults applied, unhealthy node names, nothing else.
import { expect } from "chai";

import {
  labClusterPath,
  LABCLUSTERS_PATH,
  toCachedLabCluster,
} from "../../../../operator/labcluster/cache.ts";

describe("LabCluster cache", () => {
  it("keeps name, uid, generation, the defaulted spec and the nodes reported unhealthy", () => {
    const cached = toCachedLabCluster({
      metadata: { name: "lab", uid: "u", generation: 4, managedFields: [{}], resourceVersion: "9" },
      spec: { nodeHealth: { leaseStaleSeconds: 7 } },
      status: {
        nodes: [
          { name: "w1-k8s", ready: true },
          { name: "w2-k8s", ready: false },
        ],
      },
    });
    expect(cached.metadata).to.deep.equal({ name: "lab", uid: "u", generation: 4 });
    expect(cached.spec?.nodeHealth.leaseStaleSeconds).to.equal(7);
    expect(cached.spec?.nodeHealth.remediation).to.equal("None");
    expect(cached.unhealthyNodes).to.deep.equal(["w2-k8s"]);
  });

  it("keeps an unreadable spec as undefined instead of failing the informer", () => {
    expect(
      toCachedLabCluster({ metadata: { name: "lab" }, spec: { nodeHealth: { remediation: "Reboot" } } }).spec,
    ).to.equal(undefined);
  });

  it("addresses LabClusters as a cluster-scoped resource", () => {
    expect(LABCLUSTERS_PATH).to.equal("/apis/kubelab.dev/v1alpha1/labclusters");
    expect(labClusterPath("lab", "status")).to.equal("/apis/kubelab.dev/v1alpha1/labclusters/lab/status");
  });
});
