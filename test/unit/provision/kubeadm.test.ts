// kubeadm v1beta4 configs: what init and join are told, checked field by field on the parsed YAML.
import { expect } from "chai";
import { parseAllDocuments, parse } from "yaml";

import {
  BOOTSTRAP_TOKEN_TTL,
  CRI_SOCKET,
  INSTALLED_KUBEADM_VERSION,
  renderInitConfiguration,
  renderJoinConfiguration,
} from "../../../bootstrap/provision/kubeadm.ts";
import { FIXED_TOKEN, labOf } from "../helpers.ts";

const HASH = `sha256:${"ab".repeat(32)}`;

interface InitDocument {
  localAPIEndpoint: unknown;
  nodeRegistration: unknown;
  bootstrapTokens: { token: string; ttl: string }[];
}
interface ClusterDocument {
  clusterName: string;
  kubernetesVersion: string;
  controlPlaneEndpoint: string;
  networking: unknown;
}
interface JoinDocument {
  apiVersion: string;
  kind: string;
  discovery: unknown;
  nodeRegistration: { name: string; kubeletExtraArgs: unknown };
}

/** The documents of a multi-document YAML, typed by the test's expectation of them. */
function documents<T>(text: string): T[] {
  return parseAllDocuments(text).map((document) => document.toJS() as T);
}

describe("provision/kubeadm", () => {
  it("init: one v1beta4 InitConfiguration, ClusterConfiguration and a systemd KubeletConfiguration", () => {
    const all = documents<Record<string, unknown>>(renderInitConfiguration(labOf(), FIXED_TOKEN));
    expect(all.map((d) => `${String(d.apiVersion)}/${String(d.kind)}`)).to.deep.equal([
      "kubeadm.k8s.io/v1beta4/InitConfiguration",
      "kubeadm.k8s.io/v1beta4/ClusterConfiguration",
      "kubelet.config.k8s.io/v1beta1/KubeletConfiguration",
    ]);
    expect(all[2]?.cgroupDriver).to.equal("systemd");
  });

  it("init: advertises the host-only address, pins node-ip, and registers the lab's token with a TTL", () => {
    const [init] = documents<InitDocument>(renderInitConfiguration(labOf(), FIXED_TOKEN));
    if (init === undefined) throw new Error("no InitConfiguration");
    expect(init.localAPIEndpoint).to.deep.equal({ advertiseAddress: "192.168.56.10", bindPort: 6443 });
    expect(init.nodeRegistration).to.deep.equal({
      name: "m-k8s",
      criSocket: CRI_SOCKET,
      kubeletExtraArgs: [{ name: "node-ip", value: "192.168.56.10" }],
    });
    expect(init.bootstrapTokens).to.have.length(1);
    expect(init.bootstrapTokens[0]?.token).to.equal(FIXED_TOKEN);
    expect(init.bootstrapTokens[0]?.ttl).to.equal(BOOTSTRAP_TOKEN_TTL);
    expect(init.bootstrapTokens[0]?.ttl).not.to.equal("0s");
  });

  it("cluster: the lab's subnets, DNS domain and name", () => {
    const lab = labOf({
      name: "lab2",
      network: { podCidr: "10.244.0.0/16", serviceCidr: "10.112.0.0/12", dnsDomain: "lab.internal" },
    });
    const cluster = documents<ClusterDocument>(renderInitConfiguration(lab, FIXED_TOKEN))[1];
    expect(cluster?.clusterName).to.equal("lab2");
    expect(cluster?.networking).to.deep.equal({
      podSubnet: "10.244.0.0/16",
      serviceSubnet: "10.112.0.0/12",
      dnsDomain: "lab.internal",
    });
    expect(cluster?.controlPlaneEndpoint).to.equal("192.168.56.10:6443");
  });

  it("cluster: an exact patch is pinned; a minor leaves the installed kubeadm's version to the init script", () => {
    const pinnedLab = labOf({ kubernetes: { version: "1.36.5" } });
    const pinned = documents<ClusterDocument>(renderInitConfiguration(pinnedLab, FIXED_TOKEN))[1];
    expect(pinned?.kubernetesVersion).to.equal("v1.36.5");
    const minor = documents<ClusterDocument>(renderInitConfiguration(labOf(), FIXED_TOKEN))[1];
    expect(minor?.kubernetesVersion).to.equal(INSTALLED_KUBEADM_VERSION);
  });

  it("join: token discovery with the CA pinned by caCertHashes, never unsafe skip", () => {
    const lab = labOf();
    const text = renderJoinConfiguration(lab, lab.workers[1]!, FIXED_TOKEN, HASH);
    expect(text).not.to.match(/unsafe/i);
    const join = parse(text) as JoinDocument;
    expect(join.apiVersion).to.equal("kubeadm.k8s.io/v1beta4");
    expect(join.kind).to.equal("JoinConfiguration");
    expect(join.discovery).to.deep.equal({
      bootstrapToken: { apiServerEndpoint: "192.168.56.10:6443", token: FIXED_TOKEN, caCertHashes: [HASH] },
    });
    expect(join.nodeRegistration.name).to.equal("w2-k8s");
    expect(join.nodeRegistration.kubeletExtraArgs).to.deep.equal([
      { name: "node-ip", value: "192.168.56.102" },
    ]);
  });
});
