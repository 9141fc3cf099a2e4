// The kind cluster config rendered from lab.yaml: names, sizes, networks, node image and the secure join.
import { expect } from "chai";
import { parse } from "yaml";

import { UsageError } from "../../../../bootstrap/errors.ts";
import {
  kindContainerName,
  kindNodeImage,
  renderKindConfig,
} from "../../../../bootstrap/providers/kind/config.ts";
import { labOf } from "../../helpers.ts";

interface KindConfig {
  kind: string;
  apiVersion: string;
  name: string;
  networking: { podSubnet: string; serviceSubnet: string; disableDefaultCNI: boolean };
  kubeadmConfigPatches: string[];
  nodes: {
    role: string;
    image: string;
    labels: Record<string, string>;
    extraMounts?: { hostPath: string; containerPath: string; readOnly?: boolean }[];
    kubeadmConfigPatches: string[];
  }[];
}

const HASH = `sha256:${"a".repeat(64)}`;

describe("providers/kind/config", () => {
  const lab = labOf({
    name: "demo",
    workers: { count: 3 },
    network: { podCidr: "10.244.0.0/16", serviceCidr: "10.100.0.0/16", dnsDomain: "lab.local" },
  });

  describe("kindNodeImage", () => {
    it("uses the tested patch for the default minor and the given patch otherwise", () => {
      expect(kindNodeImage(labOf())).to.equal("kindest/node:v1.36.5");
      expect(kindNodeImage(labOf({ kubernetes: { version: "1.35.2" } }))).to.equal("kindest/node:v1.35.2");
      expect(kindNodeImage(labOf({ kubernetes: { version: "v1.36.1" } }))).to.equal("kindest/node:v1.36.1");
    });

    it("takes KUBELAB_KIND_NODE_IMAGE over the version", () => {
      expect(kindNodeImage(labOf(), " registry.local/node:v1.36.5@sha256:abc ")).to.equal(
        "registry.local/node:v1.36.5@sha256:abc",
      );
    });

    it("refuses a bare minor it cannot map to a node image, naming kubernetes.version and the fix", () => {
      try {
        kindNodeImage(labOf({ kubernetes: { version: "1.34" } }));
        expect.fail("must throw");
      } catch (error) {
        expect(error).to.be.instanceOf(UsageError);
        expect((error as Error).message).to.match(/^kubernetes\.version 1\.34: kind node images are tagged/);
        expect((error as UsageError).hint)
          .to.contain("1.34.0")
          .and.contain("KUBELAB_KIND_NODE_IMAGE");
      }
    });
  });

  it("maps lab nodes to the containers kind names by role and position", () => {
    expect(lab.nodes.map((node) => kindContainerName(lab, node))).to.deep.equal([
      "demo-control-plane",
      "demo-worker",
      "demo-worker2",
      "demo-worker3",
    ]);
  });

  it("describes every lab node in order, registered under its lab name, with the lab's networks and no kind CNI", () => {
    const config = parse(renderKindConfig(lab, { nodeImage: "kindest/node:v1.36.5" })) as KindConfig;
    expect(config).to.include({ kind: "Cluster", apiVersion: "kind.x-k8s.io/v1alpha4", name: "demo" });
    expect(config.networking).to.deep.equal({
      podSubnet: "10.244.0.0/16",
      serviceSubnet: "10.100.0.0/16",
      disableDefaultCNI: true,
    });
    expect(config.nodes.map((node) => node.role)).to.deep.equal([
      "control-plane",
      "worker",
      "worker",
      "worker",
    ]);
    expect(config.nodes.every((node) => node.image === "kindest/node:v1.36.5")).to.equal(true);
    const registrations = config.nodes.map((node) => {
      expect(node.kubeadmConfigPatches).to.have.length(1);
      return parse(node.kubeadmConfigPatches[0]!) as { kind: string; nodeRegistration: { name: string } };
    });
    expect(registrations.map((patch) => [patch.kind, patch.nodeRegistration.name])).to.deep.equal([
      ["InitConfiguration", "m-k8s"],
      ["JoinConfiguration", "w1-k8s"],
      ["JoinConfiguration", "w2-k8s"],
      ["JoinConfiguration", "w3-k8s"],
    ]);
    expect(config.nodes.map((node) => node.labels["kubelab.dev/node"])).to.deep.equal(
      lab.nodes.map((node) => node.name),
    );
    const cluster = config.kubeadmConfigPatches.map((patch) => parse(patch) as Record<string, unknown>);
    expect(cluster).to.deep.equal([{ kind: "ClusterConfiguration", networking: { dnsDomain: "lab.local" } }]);
  });

  it("mounts the lab CA read-only and .kubelab/backups into the control plane only", () => {
    const config = parse(renderKindConfig(lab, { nodeImage: "x" })) as KindConfig;
    expect(config.nodes[0]!.extraMounts).to.deep.equal([
      { hostPath: "pki/ca.crt", containerPath: "/etc/kubernetes/pki/ca.crt", readOnly: true },
      { hostPath: "pki/ca.key", containerPath: "/etc/kubernetes/pki/ca.key", readOnly: true },
      // Relative to .kubelab/, where kind runs: the backup Jobs' directory is on the host, as on vagrant.
      { hostPath: "backups", containerPath: "/var/lib/kubelab/etcd-backups" },
    ]);
    expect(config.nodes.slice(1).every((node) => node.extraMounts === undefined)).to.equal(true);
  });

  it("with the secure join: the lab's own token for init and join, and workers pinning the CA", () => {
    const text = renderKindConfig(lab, {
      nodeImage: "x",
      join: { token: "q1w2e3.r4t5y6u7i8o9p0a1", caCertHash: HASH },
    });
    const config = parse(text) as KindConfig;
    const patches = config.kubeadmConfigPatches.map((patch) => parse(patch) as Record<string, unknown>);
    expect(patches.find((patch) => patch.kind === "InitConfiguration")).to.deep.include({
      bootstrapTokens: [
        {
          token: "q1w2e3.r4t5y6u7i8o9p0a1",
          ttl: "2h0m0s",
          usages: ["signing", "authentication"],
          groups: ["system:bootstrappers:kubeadm:default-node-token"],
          description: "kubelab join token for lab demo",
        },
      ],
    });
    expect(patches.find((patch) => patch.kind === "JoinConfiguration")).to.deep.equal({
      kind: "JoinConfiguration",
      discovery: {
        bootstrapToken: {
          token: "q1w2e3.r4t5y6u7i8o9p0a1",
          caCertHashes: [HASH],
          unsafeSkipCAVerification: false,
        },
      },
    });
    expect(text).to.contain("# Secret: holds the lab's bootstrap token.");
  });

  it("the readable version holds no token and says where the real one is", () => {
    const text = renderKindConfig(lab, { nodeImage: "x" });
    expect(text).not.to.match(/bootstrapTokens|caCertHashes/);
    expect(text).to.contain("kind/cluster.yaml (0600)");
    expect(text.split("\n")[0]).to.equal(
      "# kind cluster of lab demo, rendered by bootstrap from lab.yaml. Node containers: m-k8s=demo-control-plane, w1-k8s=demo-worker, w2-k8s=demo-worker2, w3-k8s=demo-worker3.",
    );
  });
});
