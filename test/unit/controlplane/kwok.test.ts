// Simulated nodes: the Node objects the engine registers, kwok's stages and kwok's least-privilege role.
import { expect } from "chai";
import { parseAllDocuments } from "yaml";

import {
  KWOK_MANAGED,
  KWOK_NODE_LABEL,
  KWOK_USER,
  kwokRbac,
  kwokStages,
  nodeObject,
} from "../../../bootstrap/controlplane/kwok.ts";
import { COMPONENT_VERSIONS } from "../../../bootstrap/controlplane/versions.ts";

describe("controlplane/kwok", () => {
  it("registers a node as a kubelet would: hostname, os and arch labels, capacity, version, addresses", () => {
    const node = nodeObject(
      {
        name: "m-k8s",
        labels: { "node-role.kubernetes.io/control-plane": "" },
        taints: [{ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" }],
        internalIp: "192.168.56.10",
        cpu: "2",
        memory: "3072Mi",
      },
      0,
      COMPONENT_VERSIONS,
    );
    expect(node.metadata?.labels).to.include({
      "kubernetes.io/hostname": "m-k8s",
      "kubernetes.io/os": "linux",
      "kubernetes.io/arch": "amd64",
      "node-role.kubernetes.io/control-plane": "",
      [KWOK_NODE_LABEL]: KWOK_MANAGED,
    });
    expect(node.spec?.taints).to.deep.equal([
      { key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" },
    ]);
    expect(node.status?.capacity).to.include({ cpu: "2", memory: "3072Mi", pods: "110" });
    expect(node.status?.nodeInfo?.kubeletVersion).to.equal(COMPONENT_VERSIONS.kubernetes);
    expect(node.status?.addresses).to.deep.include({ type: "InternalIP", address: "192.168.56.10" });
  });

  it("always marks a node as kwok-managed, whatever labels the spec brings", () => {
    const node = nodeObject({ name: "w1", labels: { [KWOK_NODE_LABEL]: "other" } }, 3, COMPONENT_VERSIONS);
    expect(node.metadata?.labels?.[KWOK_NODE_LABEL]).to.equal(KWOK_MANAGED);
    expect(node.status?.addresses).to.deep.include({ type: "InternalIP", address: "192.0.2.5" });
  });

  it("ships stages for node readiness, running pods, completing Job pods, deletion and never-ready pods", async () => {
    const documents = parseAllDocuments(await kwokStages()).map(
      (document) => document.toJS() as { kind: string; metadata: { name: string } },
    );
    expect(documents.every((document) => document.kind === "Stage")).to.equal(true);
    expect(documents.map((document) => document.metadata.name)).to.deep.equal([
      "node-ready",
      "pod-running",
      "job-pod-succeeded",
      "pod-deleted",
      "pod-not-ready",
    ]);
  });

  it("grants kwok no write access to nodes' specs and nothing outside nodes, pods, leases and events", () => {
    const { role, binding } = kwokRbac();
    const resources = role.rules?.flatMap((rule) => rule.resources ?? []) ?? [];
    expect([...new Set(resources)].sort()).to.deep.equal(
      ["events", "leases", "nodes", "nodes/status", "pods", "pods/status"].sort(),
    );
    const nodeRule = role.rules?.find((rule) => rule.resources?.includes("nodes"));
    expect(nodeRule?.verbs).to.deep.equal(["get", "list", "watch"]);
    expect(binding.subjects).to.deep.equal([
      { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: KWOK_USER },
    ]);
  });
});
