// What the operator caches of a LabCluster: defaults applied, unhealthy node names, nothing else.
import { expect } from "chai";

import {
  actingLabCluster,
  labClusterPath,
  LABCLUSTERS_PATH,
  toCachedLabCluster,
} from "../../../../operator/labcluster/cache.ts";

const labCluster = (
  name: string,
  createdAt: string,
  labels: Record<string, string> = {},
  spec: unknown = {},
) => toCachedLabCluster({ metadata: { name, creationTimestamp: createdAt, labels }, spec });
const BOOTSTRAP = { "app.kubernetes.io/managed-by": "kubelab-bootstrap" };

describe("LabCluster cache", () => {
  it("keeps name, uid, generation, the defaulted spec and the nodes reported unhealthy", () => {
    const cached = toCachedLabCluster({
      metadata: { name: "lab", uid: "u", generation: 4, managedFields: [{}], resourceVersion: "9" },
      spec: { nodeHealth: { leaseStaleSeconds: 17 } },
      status: {
        nodes: [
          { name: "w1-k8s", ready: true },
          { name: "w2-k8s", ready: false },
        ],
      },
    });
    expect(cached.metadata).to.deep.equal({ name: "lab", uid: "u", generation: 4 });
    expect(cached.spec?.nodeHealth.leaseStaleSeconds).to.equal(17);
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

  it("lets one LabCluster act for the cluster: bootstrap's, else the oldest, ties by name", () => {
    const older = labCluster("zeta", "2026-01-01T00:00:00Z");
    const newer = labCluster("alpha", "2026-01-02T00:00:00Z");
    const twin = labCluster("beta", "2026-01-01T00:00:00Z");
    expect(actingLabCluster([newer, older])?.metadata.name).to.equal("zeta");
    expect(actingLabCluster([older, twin])?.metadata.name).to.equal("beta");
    const bootstraps = labCluster("lab", "2026-01-03T00:00:00Z", BOOTSTRAP);
    expect(actingLabCluster([older, bootstraps, newer])?.metadata.name).to.equal("lab");
    expect(actingLabCluster([])).to.equal(undefined);
  });

  it("never lets a LabCluster whose spec it cannot read act", () => {
    const unreadable = labCluster("old", "2025-01-01T00:00:00Z", BOOTSTRAP, {
      nodeHealth: { remediation: "Reboot" },
    });
    const readable = labCluster("new", "2026-01-01T00:00:00Z");
    expect(actingLabCluster([unreadable, readable])?.metadata.name).to.equal("new");
  });
});
