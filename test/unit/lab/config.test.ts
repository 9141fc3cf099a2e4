// lab.yaml: defaults, every validation rule (failing and passing), YAML paths in errors, all errors at once.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { stringify } from "yaml";

import { LAB_API_VERSION, LAB_KIND, loadLab, parseLab } from "../../../bootstrap/lab/config.ts";
import { ConfigError, ExitCode } from "../../../bootstrap/errors.ts";
import { labOf, tempDir } from "../helpers.ts";

function problemsOf(settings: Record<string, unknown>, overrides = {}): { path: string; message: string }[] {
  try {
    parseLab(stringify({ apiVersion: LAB_API_VERSION, kind: LAB_KIND, ...settings }), "lab.yaml", overrides);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  return [];
}

describe("lab/config", () => {
  describe("defaults", () => {
    it("an empty lab is the classic lab: m-k8s and three workers on 192.168.56.0/24", () => {
      const lab = labOf();
      expect(lab.name).to.equal("kubelab");
      expect(lab.provider).to.equal("vagrant");
      expect(lab.kubernetes.version).to.equal("1.36");
      expect(lab.vagrant).to.deep.equal({ provider: "virtualbox", box: "bento/ubuntu-24.04" });
      expect(lab.controlPlane).to.deep.equal({
        role: "control-plane",
        name: "m-k8s",
        ip: "192.168.56.10",
        cpus: 2,
        memoryMiB: 3072,
      });
      expect(lab.workers.map((w) => [w.name, w.ip, w.cpus, w.memoryMiB])).to.deep.equal([
        ["w1-k8s", "192.168.56.101", 1, 2560],
        ["w2-k8s", "192.168.56.102", 1, 2560],
        ["w3-k8s", "192.168.56.103", 1, 2560],
      ]);
      expect(lab.network).to.deep.equal({
        hostOnlyCidr: "192.168.56.0/24",
        podCidr: "172.16.0.0/16",
        serviceCidr: "10.96.0.0/12",
        dnsDomain: "cluster.local",
      });
      expect(lab.calico.version).to.equal("v3.31.7");
      expect(lab.containerd.package).to.equal("containerd");
      expect(lab.operator.image).to.equal("kubelab-operator:0.1.0");
      expect(lab.nodes.map((node) => node.name)).to.deep.equal(["m-k8s", "w1-k8s", "w2-k8s", "w3-k8s"]);
    });

    it("a missing lab.yaml means the defaults only when allowed", async () => {
      const dir = await tempDir();
      const lab = await loadLab(join(dir, "lab.yaml"));
      expect(lab.workers).to.have.length(3);
      try {
        await loadLab(join(dir, "lab.yaml"), {}, false);
        expect.fail("a missing file must be an error when not allowed");
      } catch (error) {
        expect(error).to.be.instanceOf(ConfigError);
        expect((error as Error).message).to.contain("cannot read the file");
      }
    });

    it("command-line overrides win over lab.yaml", async () => {
      const dir = await tempDir();
      const path = join(dir, "lab.yaml");
      await writeFile(
        path,
        stringify({ apiVersion: LAB_API_VERSION, kind: LAB_KIND, workers: { count: 3 } }),
      );
      const lab = await loadLab(path, {
        workers: 1,
        kubernetesVersion: "1.36.5",
        calicoManifest: "/x/calico.yaml",
      });
      expect(lab.workers.map((w) => w.name)).to.deep.equal(["w1-k8s"]);
      expect(lab.kubernetes.version).to.equal("1.36.5");
      expect(lab.calico.manifest).to.equal("/x/calico.yaml");
    });
  });

  describe("validation rules (each fails with its YAML path, and a nearby value passes)", () => {
    const rules: {
      rule: string;
      bad: Record<string, unknown>;
      path: string;
      good: Record<string, unknown>;
    }[] = [
      {
        rule: "apiVersion",
        bad: { apiVersion: "v1" },
        path: "apiVersion",
        good: { apiVersion: LAB_API_VERSION },
      },
      { rule: "kind", bad: { kind: "Cluster" }, path: "kind", good: { kind: "Lab" } },
      { rule: "lab name is DNS-1123", bad: { name: "My_Lab" }, path: "name", good: { name: "my-lab" } },
      { rule: "provider is known", bad: { provider: "docker" }, path: "provider", good: { provider: "sim" } },
      {
        rule: "version format",
        bad: { kubernetes: { version: "latest" } },
        path: "kubernetes.version",
        good: { kubernetes: { version: "1.36.5" } },
      },
      {
        rule: "version is recent",
        bad: { kubernetes: { version: "1.29" } },
        path: "kubernetes.version",
        good: { kubernetes: { version: "1.30" } },
      },
      {
        rule: "vagrant provider",
        bad: { vagrant: { provider: "hyperv" } },
        path: "vagrant.provider",
        good: { vagrant: { provider: "libvirt" } },
      },
      {
        rule: "node name is DNS-1123",
        bad: { controlPlane: { name: "-m" } },
        path: "controlPlane.name",
        good: { controlPlane: { name: "cp1" } },
      },
      {
        rule: "packages.repository is an http(s) URL of the flat repository's directory",
        bad: { packages: { repository: "http://mirror.lab/core:/stable:/v1.36/deb" } },
        path: "packages.repository",
        good: { packages: { repository: "http://mirror.lab/core:/stable:/v1.36/deb/" } },
      },
      {
        rule: "packages.key goes with packages.repository",
        bad: { packages: { key: "./Release.key" } },
        path: "packages.key",
        good: { packages: { repository: "https://mirror.lab/deb/", key: "./Release.key" } },
      },
      {
        rule: "images.mirrors maps registry hosts to http(s) URLs",
        bad: { images: { mirrors: { "registry.k8s.io": "ftp://mirror.lab" } } },
        path: "images.mirrors.registry.k8s.io",
        good: { images: { mirrors: { "registry.k8s.io": "http://mirror.lab:5000" } } },
      },
      {
        rule: "a podman lab without the kit needs a package repository it can reach",
        bad: {
          provider: "podman",
          podman: { kit: false },
          images: { mirrors: { "docker.io": "http://10.0.0.1:5000" } },
        },
        path: "packages.repository",
        good: {
          provider: "podman",
          podman: { kit: false },
          packages: { repository: "http://192.168.56.1/deb/" },
          images: { mirrors: { "docker.io": "http://192.168.56.1:5000" } },
        },
      },
      {
        rule: "on a podman lab with the kit, no node takes the kit server's address",
        bad: { provider: "podman", workers: { count: 1, firstIp: "192.168.56.254" } },
        path: "workers",
        good: { provider: "podman", workers: { count: 1, firstIp: "192.168.56.253" } },
      },
      {
        rule: "containerd.package is a Debian package name, never an apt option",
        bad: { containerd: { package: "-oDPkg::Pre-Invoke::=touch /pwned" } },
        path: "containerd.package",
        good: { containerd: { package: "containerd.io" } },
      },
      {
        rule: "node IP is IPv4",
        bad: { controlPlane: { ip: "192.168.56" } },
        path: "controlPlane.ip",
        good: { controlPlane: { ip: "192.168.56.11" } },
      },
      {
        rule: "control plane CPU floor",
        bad: { controlPlane: { cpus: 1 } },
        path: "controlPlane.cpus",
        good: { controlPlane: { cpus: 2 } },
      },
      {
        rule: "control plane memory floor",
        bad: { controlPlane: { memoryMiB: 1699 } },
        path: "controlPlane.memoryMiB",
        good: { controlPlane: { memoryMiB: 1700 } },
      },
      {
        rule: "worker CPU floor",
        bad: { workers: { cpus: 0 } },
        path: "workers.cpus",
        good: { workers: { cpus: 1 } },
      },
      {
        rule: "worker memory floor",
        bad: { workers: { memoryMiB: 1023 } },
        path: "workers.memoryMiB",
        good: { workers: { memoryMiB: 1024 } },
      },
      {
        rule: "worker count bound",
        bad: { workers: { count: 51 } },
        path: "workers.count",
        good: { workers: { count: 0 } },
      },
      {
        rule: "worker IP inside host-only",
        bad: { workers: { firstIp: "192.168.57.101" } },
        path: "workers.firstIp",
        good: { workers: { firstIp: "192.168.56.201" } },
      },
      {
        rule: "control plane IP inside host-only",
        bad: { controlPlane: { ip: "10.0.0.10" } },
        path: "controlPlane.ip",
        good: { controlPlane: { ip: "192.168.56.20" } },
      },
      {
        rule: "not the network address",
        bad: { controlPlane: { ip: "192.168.56.0" } },
        path: "controlPlane.ip",
        good: { controlPlane: { ip: "192.168.56.2" } },
      },
      {
        rule: "not the broadcast address",
        bad: { controlPlane: { ip: "192.168.56.255" } },
        path: "controlPlane.ip",
        good: { controlPlane: { ip: "192.168.56.254" } },
      },
      {
        rule: "not the host's .1",
        bad: { controlPlane: { ip: "192.168.56.1" } },
        path: "controlPlane.ip",
        good: { controlPlane: { ip: "192.168.56.3" } },
      },
      {
        rule: "unique names",
        bad: { workers: { nodes: [{ name: "m-k8s", ip: "192.168.56.101" }] } },
        path: "workers.nodes[0].name",
        good: { workers: { nodes: [{ name: "w9", ip: "192.168.56.101" }] } },
      },
      {
        rule: "unique IPs",
        bad: { workers: { nodes: [{ name: "w1-k8s", ip: "192.168.56.10" }] } },
        path: "workers.nodes[0].ip",
        good: { workers: { nodes: [{ name: "w1-k8s", ip: "192.168.56.110" }] } },
      },
      {
        rule: "pod CIDR does not overlap host-only",
        bad: { network: { podCidr: "192.168.0.0/16" } },
        path: "network.podCidr",
        good: { network: { podCidr: "10.244.0.0/16" } },
      },
      {
        rule: "service CIDR does not overlap pod CIDR",
        bad: { network: { serviceCidr: "172.16.128.0/20" } },
        path: "network.serviceCidr",
        good: { network: { serviceCidr: "10.112.0.0/12" } },
      },
      {
        rule: "host-only CIDR is a CIDR",
        bad: { network: { hostOnlyCidr: "192.168.56.0" } },
        path: "network.hostOnlyCidr",
        good: { network: { hostOnlyCidr: "192.168.56.0/25" } },
      },
      {
        rule: "host-only CIDR leaves room",
        bad: {
          network: { hostOnlyCidr: "192.168.56.8/30" },
          controlPlane: { ip: "192.168.56.10" },
          workers: { count: 0 },
        },
        path: "network.hostOnlyCidr",
        good: { network: { hostOnlyCidr: "192.168.56.8/29" }, workers: { count: 0 } },
      },
      {
        rule: "DNS domain",
        bad: { network: { dnsDomain: "Cluster_Local" } },
        path: "network.dnsDomain",
        good: { network: { dnsDomain: "lab.internal" } },
      },
      {
        rule: "Calico version",
        bad: { calico: { version: "3.31" } },
        path: "calico.version",
        good: { calico: { version: "v3.30.2" } },
      },
      {
        rule: "backup schedule is cron",
        bad: { backup: { schedule: "hourly" } },
        path: "backup.schedule",
        good: { backup: { schedule: "15 3 * * *" } },
      },
      {
        rule: "backup retain bound",
        bad: { backup: { retain: 0 } },
        path: "backup.retain",
        good: { backup: { retain: 1 } },
      },
      {
        rule: "operator image is an image reference",
        bad: { operator: { image: "Kubelab Operator" } },
        path: "operator.image",
        good: { operator: { image: "registry.lab:5000/team/kubelab-operator:0.2.0-rc.1" } },
      },
      {
        rule: "operator image may be pinned by digest",
        bad: { operator: { image: "kubelab-operator@sha256:abc" } },
        path: "operator.image",
        good: { operator: { image: `kubelab-operator@sha256:${"0".repeat(64)}` } },
      },
      {
        rule: "no unknown settings",
        bad: { network: { podCIDR: "10.0.0.0/16" } },
        path: "network.podCIDR",
        good: { network: { podCidr: "10.0.0.0/16" } },
      },
    ];
    for (const { rule, bad, path, good } of rules) {
      it(`${rule}: fails at ${path}, passes when fixed`, () => {
        const problems = problemsOf(bad);
        expect(
          problems.map((p) => p.path),
          JSON.stringify(problems),
        ).to.include(path);
        expect(problemsOf(good), `the fixed value must pass: ${JSON.stringify(good)}`).to.deep.equal([]);
      });
    }
  });

  it("reports every problem at once, schema and cross-field alike, each with its path", () => {
    const problems = problemsOf({
      bogus: 1,
      controlPlane: { name: "M_K8S", memoryMiB: 1000 },
      workers: { cpus: 0, firstIp: "10.0.0.5", count: 1 },
      network: { podCidr: "192.168.56.0/20" },
    });
    expect(problems.map((p) => p.path)).to.have.members([
      "bogus",
      "controlPlane.name",
      "controlPlane.memoryMiB",
      "workers.cpus",
      "workers.firstIp",
      "network.podCidr",
    ]);
  });

  it("names the flag when an override is the bad value", () => {
    const problems = problemsOf({}, { kubernetesVersion: "1.2.3.4" });
    expect(problems.map((p) => p.path)).to.deep.equal(["kubernetes.version (--k8s-version)"]);
  });

  it("a config error is bad input (exit 2) and its message lists each path", () => {
    try {
      parseLab(
        "apiVersion: kubelab.dev/v1alpha1\nkind: Lab\nworkers: {cpus: 0}\ncontrolPlane: {cpus: 1}\n",
        "x.yaml",
      );
      expect.fail("must throw");
    } catch (error) {
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).exitCode).to.equal(ExitCode.badInput);
      expect((error as Error).message).to.match(/^x\.yaml is not a valid lab:\n/);
      expect((error as Error).message)
        .to.contain("  - workers.cpus:")
        .and.to.contain("  - controlPlane.cpus:");
    }
  });

  it("YAML syntax errors and non-mappings are config errors too", () => {
    expect(() => parseLab("a: [1,\n", "bad.yaml")).to.throw(ConfigError);
    expect(() => parseLab("- 1\n- 2\n", "list.yaml")).to.throw(ConfigError, /must be a YAML mapping/);
  });
});
