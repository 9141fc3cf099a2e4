// Which objects a trace follows: a Deployment's current ReplicaSet, the newest pod it controls, a node's CNI agent.
import { expect } from "chai";

import type { TracedObject, TracedPod } from "../../../../bootstrap/kube/trace/objects.ts";
import { cniAgentOf, currentReplicaSet, newestOwnedPod } from "../../../../bootstrap/kube/trace/select.ts";

const DEPLOYMENT_UID = "d-1";

function replicaSet(
  name: string,
  revision: string,
  created: string,
  ownerUid = DEPLOYMENT_UID,
): TracedObject {
  return {
    kind: "ReplicaSet",
    metadata: {
      name,
      uid: `uid-${name}`,
      creationTimestamp: created,
      annotations: { "deployment.kubernetes.io/revision": revision },
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "Deployment", name: "web", uid: ownerUid, controller: true },
      ],
    },
  };
}

function pod(name: string, created: string, ownerUid: string): TracedPod {
  return {
    metadata: {
      name,
      uid: `uid-${name}`,
      creationTimestamp: created,
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: ownerUid, controller: true },
      ],
    },
    spec: { containers: [{ name: "main" }] },
  };
}

describe("kube/trace/select", () => {
  it("takes the ReplicaSet of the highest revision the Deployment controls, whatever its age", () => {
    const chosen = currentReplicaSet(
      [
        replicaSet("web-old", "1", "2026-01-01T00:00:00Z"),
        replicaSet("web-rolled-back", "3", "2026-01-01T00:00:00Z"),
        replicaSet("web-new", "2", "2026-01-02T00:00:00Z"),
        replicaSet("other", "9", "2026-01-03T00:00:00Z", "d-2"),
      ],
      DEPLOYMENT_UID,
    );
    expect(chosen?.metadata.name).to.equal("web-rolled-back");
    expect(
      currentReplicaSet([replicaSet("other", "1", "2026-01-01T00:00:00Z", "d-2")], DEPLOYMENT_UID),
    ).to.equal(undefined);
  });

  it("takes the newest pod the ReplicaSet controls", () => {
    const chosen = newestOwnedPod(
      [
        pod("a", "2026-01-01T00:00:00Z", "rs-1"),
        pod("b", "2026-01-01T00:00:05Z", "rs-1"),
        pod("c", "2026-01-01T00:00:09Z", "rs-2"),
      ],
      "rs-1",
    );
    expect(chosen?.metadata.name).to.equal("b");
  });

  it("finds the CNI agent among a node's pods by its DaemonSet, with its readiness", () => {
    const agent = cniAgentOf([
      {
        metadata: {
          name: "coredns-1",
          namespace: "kube-system",
          ownerReferences: [{ kind: "ReplicaSet", name: "coredns-589f" }],
        },
      },
      {
        metadata: {
          name: "calico-node-x",
          namespace: "kube-system",
          ownerReferences: [{ kind: "DaemonSet", name: "calico-node" }],
        },
        status: { conditions: [{ type: "Ready", status: "True" }] },
      },
    ]);
    expect(agent).to.deep.equal({ namespace: "kube-system", name: "calico-node-x", ready: true });
    expect(
      cniAgentOf([
        { metadata: { name: "kube-proxy-1", ownerReferences: [{ kind: "DaemonSet", name: "kube-proxy" }] } },
      ]),
    ).to.equal(undefined);
  });
});
