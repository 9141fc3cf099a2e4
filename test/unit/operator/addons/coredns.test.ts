// kubeadm's CoreDNS objects as the renderer makes them: kube-dns at the 10th address, kubeadm's Corefile and image.
import { expect } from "chai";

import {
  COREDNS_IMAGE,
  coreDnsParametersFromKubeadmConfig,
  dnsServiceIp,
  kubeadmCorefile,
  renderCoreDns,
} from "../../../../operator/api/addons/coredns.ts";

describe("kubeadm's CoreDNS objects", () => {
  it("are the six objects kubeadm creates, in kube-system", () => {
    const objects = renderCoreDns({ serviceSubnet: "10.96.0.0/12", dnsDomain: "cluster.local" });
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`)).to.deep.equal([
      "Deployment/coredns",
      "ConfigMap/coredns",
      "Service/kube-dns",
      "ClusterRole/system:coredns",
      "ClusterRoleBinding/system:coredns",
      "ServiceAccount/coredns",
    ]);
    for (const object of objects) {
      if (!object.kind.startsWith("Cluster")) expect(object.metadata.namespace).to.equal("kube-system");
    }
  });

  it("put kube-dns at the 10th address of the service subnet", () => {
    const service = renderCoreDns({ serviceSubnet: "10.96.0.0/12", dnsDomain: "cluster.local" }).find(
      (object) => object.kind === "Service",
    );
    expect((service?.spec as { clusterIP: string }).clusterIP).to.equal("10.96.0.10");
    expect(dnsServiceIp("172.20.8.0/21")).to.equal("172.20.8.10");
    expect(dnsServiceIp("10.100.0.0/16,fd00::/108")).to.equal("10.100.0.10");
    expect(dnsServiceIp("fd00:10:96::/112")).to.equal("fd00:10:96::a");
    expect(dnsServiceIp("2001:db8::/64")).to.equal("2001:db8::a");
  });

  it("refuse a subnet without a 10th address or that is not a CIDR", () => {
    expect(() => dnsServiceIp("10.0.0.0/29")).to.throw(/10th/);
    expect(() => dnsServiceIp("10.0.0.0")).to.throw(/CIDR/);
    expect(() => dnsServiceIp("300.0.0.0/8")).to.throw(/IPv4/);
  });

  it("run kubeadm's image with two replicas by default, and what is given otherwise", () => {
    const deployment = (image?: string) =>
      renderCoreDns({
        serviceSubnet: "10.96.0.0/12",
        dnsDomain: "cluster.local",
        ...(image ? { image } : {}),
      })[0]!.spec as { replicas: number; template: { spec: { containers: { image: string }[] } } };
    expect(COREDNS_IMAGE).to.equal("registry.k8s.io/coredns/coredns:v1.14.2");
    expect(deployment().template.spec.containers[0]!.image).to.equal(COREDNS_IMAGE);
    expect(deployment().replicas).to.equal(2);
    expect(deployment("mirror.example/coredns:v9").template.spec.containers[0]!.image).to.equal(
      "mirror.example/coredns:v9",
    );
  });

  it("write kubeadm's Corefile for the DNS domain, byte for byte", () => {
    expect(kubeadmCorefile("lab.internal")).to.equal(
      [
        ".:53 {",
        "    errors",
        "    health {",
        "       lameduck 5s",
        "    }",
        "    ready",
        "    kubernetes lab.internal in-addr.arpa ip6.arpa {",
        "       pods insecure",
        "       fallthrough in-addr.arpa ip6.arpa",
        "       ttl 30",
        "    }",
        "    prometheus :9153",
        "    forward . /etc/resolv.conf {",
        "       max_concurrent 1000",
        "    }",
        "    cache 30 {",
        "       disable success lab.internal",
        "       disable denial lab.internal",
        "    }",
        "    loop",
        "    reload",
        "    loadbalance",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("read their parameters from kubeadm-config's ClusterConfiguration, with kubeadm's image rules", () => {
    const config = (extra: string) =>
      `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.112.0.0/12\n  dnsDomain: lab.local\n${extra}`;
    expect(coreDnsParametersFromKubeadmConfig(config("imageRepository: registry.k8s.io\n"))).to.deep.equal({
      serviceSubnet: "10.112.0.0/12",
      dnsDomain: "lab.local",
      image: "registry.k8s.io/coredns/coredns:v1.14.2",
    });
    expect(coreDnsParametersFromKubeadmConfig(config("imageRepository: mirror.example\n")).image).to.equal(
      "mirror.example/coredns:v1.14.2",
    );
    expect(
      coreDnsParametersFromKubeadmConfig(
        config("dns:\n  imageRepository: dns.example\n  imageTag: v1.12.0\n"),
      ).image,
    ).to.equal("dns.example/coredns:v1.12.0");
    expect(() => coreDnsParametersFromKubeadmConfig("kind: InitConfiguration\n")).to.throw(
      /ClusterConfiguration/,
    );
  });
});
