// Captured objects: live objects cleaned into bundle objects that apply back unchanged (pure part of capture).
import { expect } from "chai";

import { cleanLiveObject } from "../../../../operator/labcluster/addons/capture.ts";

describe("addon capture", () => {
  it("drops status, server-set metadata and bookkeeping annotations, and keeps everything else", () => {
    const cleaned = cleanLiveObject({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: "coredns",
        namespace: "kube-system",
        uid: "u",
        resourceVersion: "7",
        generation: 2,
        creationTimestamp: "2026-01-01T00:00:00Z",
        managedFields: [{}],
        labels: { "k8s-app": "kube-dns" },
        annotations: {
          "deployment.kubernetes.io/revision": "2",
          "kubectl.kubernetes.io/last-applied-configuration": "{}",
          "team.example/owner": "dns",
        },
      },
      spec: {
        replicas: 2,
        template: {
          metadata: { creationTimestamp: null, labels: { "k8s-app": "kube-dns" } },
          spec: { dnsPolicy: "Default" },
        },
      },
      status: { availableReplicas: 2 },
    });
    expect(cleaned).to.deep.equal({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: "coredns",
        namespace: "kube-system",
        labels: { "k8s-app": "kube-dns" },
        annotations: { "team.example/owner": "dns" },
      },
      spec: {
        replicas: 2,
        template: { metadata: { labels: { "k8s-app": "kube-dns" } }, spec: { dnsPolicy: "Default" } },
      },
    });
  });

  it("keeps a Service's clusterIP, so kube-dns comes back at the address pods resolve with", () => {
    const cleaned = cleanLiveObject({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "kube-dns", namespace: "kube-system" },
      spec: { clusterIP: "10.96.0.10", clusterIPs: ["10.96.0.10"], ports: [{ port: 53 }] },
    });
    expect(cleaned.spec).to.deep.equal({
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      ports: [{ port: 53 }],
    });
  });

  it("drops a ServiceAccount's token secret references and leaves empty metadata maps out", () => {
    const cleaned = cleanLiveObject({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "coredns", namespace: "kube-system", labels: {}, annotations: {} },
      secrets: [{ name: "coredns-token-abc" }],
    });
    expect(cleaned).to.deep.equal({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "coredns", namespace: "kube-system" },
    });
  });

  it("does not modify the object it was given", () => {
    const live = {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "a" },
      secrets: [{ name: "t" }],
    };
    cleanLiveObject(live);
    expect(live.secrets).to.deep.equal([{ name: "t" }]);
  });
});
