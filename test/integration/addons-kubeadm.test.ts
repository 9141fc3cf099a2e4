// kubeadm's CoreDNS, two ways: our renderer (bundles, capture) must produce what the pinned kubeadm itself prints.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";

import { runProcess } from "../../bootstrap/process.ts";
import { renderCoreDns, type CoreDnsParameters } from "../../operator/api/addons/coredns.ts";
import { controlPlane } from "../envtest/index.ts";

/** `kubeadm init phase addon coredns --print-manifest` for a ClusterConfiguration: kubeadm's objects. */
async function kubeadmCoreDns(clusterConfiguration: string): Promise<Record<string, unknown>[]> {
  const dir = await mkdtemp(join(tmpdir(), "kubelab-kubeadm-coredns-"));
  try {
    const config = join(dir, "kubeadm.yaml");
    await writeFile(config, clusterConfiguration);
    const plane = controlPlane();
    const { stdout } = await runProcess(
      plane.binaries.path("kubeadm"),
      ["init", "phase", "addon", "coredns", "--print-manifest", "--config", config],
      {
        timeoutMs: 60_000,
        signal: AbortSignal.timeout(60_000),
        logFile: join(plane.logsDir, "kubeadm-coredns.log"),
      },
    );
    return parseAllDocuments(stdout)
      .map((document) => document.toJS() as Record<string, unknown> | null)
      .filter((object): object is Record<string, unknown> => object !== null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** kubeadm's Service carries resourceVersion "0" for its own create-or-update; an apply must not send one. */
function withoutResourceVersion(object: Record<string, unknown>): Record<string, unknown> {
  const { resourceVersion: _resourceVersion, ...metadata } = object.metadata as Record<string, unknown>;
  return { ...object, metadata };
}

const cases: { title: string; parameters: CoreDnsParameters; config: string }[] = [
  {
    title: "kubeadm's defaults",
    parameters: { serviceSubnet: "10.96.0.0/12", dnsDomain: "cluster.local" },
    config: "networking:\n  serviceSubnet: 10.96.0.0/12\n  dnsDomain: cluster.local\n",
  },
  {
    title: "another service subnet, DNS domain and image repository",
    parameters: {
      serviceSubnet: "172.20.0.0/16",
      dnsDomain: "lab.internal",
      image: "mirror.example/coredns:v1.14.2",
    },
    config:
      "imageRepository: mirror.example\nnetworking:\n  serviceSubnet: 172.20.0.0/16\n  dnsDomain: lab.internal\n",
  },
];

describe("kubeadm's CoreDNS objects", () => {
  for (const { title, parameters, config } of cases) {
    it(`are rendered exactly as the pinned kubeadm prints them (${title})`, async () => {
      const printed = await kubeadmCoreDns(
        `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.36.5\n${config}`,
      );
      const key = (object: { kind?: unknown; metadata?: unknown }) =>
        `${String(object.kind)}/${String((object.metadata as { name: string }).name)}`;
      const ours = renderCoreDns(parameters);
      expect(ours.map(key)).to.deep.equal(printed.map(key));
      for (const [index, object] of ours.entries()) {
        expect(object, key(object)).to.deep.equal(withoutResourceVersion(printed[index]!));
      }
    });
  }
});
