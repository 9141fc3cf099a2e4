// What the addon caches keep of live objects, and the content fingerprint drift detection compares.
import { expect } from "chai";

import {
  applyBody,
  bundleQueueKey,
  contentFingerprint,
  describeRef,
  isAvailable,
  objectQueueKey,
  parseQueueKey,
  refOf,
  toLiveObject,
  toSlimNamespace,
} from "../../../../operator/labcluster/addons/objects.ts";

const daemonSet = {
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  metadata: {
    name: "calico-node",
    namespace: "kube-system",
    uid: "u1",
    resourceVersion: "41",
    generation: 3,
    labels: { "k8s-app": "calico-node" },
    annotations: { "deprecated.daemonset.template.generation": "3" },
    managedFields: [{ manager: "kubelab-bootstrap" }],
  },
  spec: {
    template: { spec: { containers: [{ name: "calico-node", image: "quay.io/calico/node:v3.31.7" }] } },
  },
  status: { observedGeneration: 3, desiredNumberScheduled: 3, numberAvailable: 2 },
};

describe("addon objects", () => {
  describe("the content fingerprint", () => {
    it("ignores status, server bookkeeping, apiVersion and kind (list items omit them) and key order", () => {
      const other = structuredClone(daemonSet) as Record<string, unknown> & typeof daemonSet;
      other.status.numberAvailable = 3;
      other.metadata.resourceVersion = "42";
      other.metadata.managedFields = [];
      other.metadata.annotations["deprecated.daemonset.template.generation"] = "4";
      const { apiVersion: _apiVersion, kind: _kind, ...listItem } = other;
      expect(contentFingerprint(listItem)).to.equal(contentFingerprint(daemonSet));
      const reordered = {
        spec: daemonSet.spec,
        metadata: { labels: daemonSet.metadata.labels, name: "calico-node" },
      };
      expect(contentFingerprint(reordered)).to.equal(contentFingerprint(daemonSet));
    });

    it("changes with the spec, the labels and the annotations a user sets", () => {
      const base = contentFingerprint(daemonSet);
      const image = structuredClone(daemonSet);
      image.spec.template.spec.containers[0]!.image = "example.invalid/evil:1";
      expect(contentFingerprint(image)).to.not.equal(base);
      const labelled = structuredClone(daemonSet) as typeof daemonSet & {
        metadata: { labels: Record<string, string> };
      };
      labelled.metadata.labels["kubelab.dev/addon-mode"] = "Disabled";
      expect(contentFingerprint(labelled)).to.not.equal(base);
      const annotated = structuredClone(daemonSet) as typeof daemonSet & {
        metadata: { annotations: Record<string, string> };
      };
      annotated.metadata.annotations.note = "mine";
      expect(contentFingerprint(annotated)).to.not.equal(base);
    });
  });

  it("caches a DaemonSet's availability, mode label and deletion", () => {
    const cached = toLiveObject({
      ...daemonSet,
      metadata: {
        ...daemonSet.metadata,
        labels: { "kubelab.dev/addon-mode": "EnsureExists" },
        deletionTimestamp: "x",
      },
    });
    expect(cached.metadata).to.deep.equal({ name: "calico-node", namespace: "kube-system", uid: "u1" });
    expect(cached.modeLabel).to.equal("EnsureExists");
    expect(cached.deleting).to.equal(true);
    expect(cached.workload).to.deep.equal({ observed: true, desired: 3, available: 2 });
    expect(isAvailable(cached.workload!)).to.equal(false);
  });

  it("reads a Deployment's availability from its replicas, and a stale observedGeneration as not observed", () => {
    const deployment = (status: Record<string, number>) =>
      toLiveObject({
        kind: "Deployment",
        metadata: { name: "coredns", generation: 2 },
        spec: { replicas: 2 },
        status,
      }).workload!;
    expect(deployment({ observedGeneration: 2, availableReplicas: 2 })).to.deep.equal({
      observed: true,
      desired: 2,
      available: 2,
    });
    expect(isAvailable(deployment({ observedGeneration: 2, availableReplicas: 2 }))).to.equal(true);
    expect(isAvailable(deployment({ observedGeneration: 1, availableReplicas: 2 }))).to.equal(false);
    expect(toLiveObject({ kind: "ConfigMap", metadata: { name: "x" } }).workload).to.equal(undefined);
  });

  it("applies bundle objects without server-set metadata or status", () => {
    const body = applyBody(daemonSet);
    expect(body.metadata).to.deep.equal({
      name: "calico-node",
      namespace: "kube-system",
      labels: daemonSet.metadata.labels,
      annotations: daemonSet.metadata.annotations,
    });
    expect(body).to.not.have.property("status");
    expect(body.spec).to.deep.equal(daemonSet.spec);
  });

  it("keys the work queue by addon and object identity, and reads the keys back", () => {
    const ref = refOf(daemonSet);
    expect(ref).to.deep.equal({
      group: "apps",
      version: "v1",
      kind: "DaemonSet",
      namespace: "kube-system",
      name: "calico-node",
    });
    expect(parseQueueKey(objectQueueKey("calico", ref))).to.deep.equal({
      kind: "object",
      addon: "calico",
      identity: "apps/DaemonSet/kube-system/calico-node",
    });
    expect(parseQueueKey(bundleQueueKey("coredns"))).to.deep.equal({ kind: "bundle", addon: "coredns" });
    expect(describeRef(ref)).to.equal("DaemonSet/kube-system/calico-node");
    expect(describeRef(refOf({ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } }))).to.equal(
      "Namespace/x",
    );
  });

  it("sees a namespace with a deletionTimestamp or phase Terminating as terminating", () => {
    expect(toSlimNamespace({ metadata: { name: "a" }, status: { phase: "Active" } }).terminating).to.equal(
      false,
    );
    expect(toSlimNamespace({ metadata: { name: "a", deletionTimestamp: "t" } }).terminating).to.equal(true);
    expect(
      toSlimNamespace({ metadata: { name: "a" }, status: { phase: "Terminating" } }).terminating,
    ).to.equal(true);
  });
});
