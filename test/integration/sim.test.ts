// `bootstrap up --provider sim` end to end through the real CLI: a lab without VMs, then down with no process left.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1ConfigMap, V1Deployment, V1Node, V1Service } from "@kubernetes/client-node";
import { expect } from "chai";
import { execa } from "execa";
import { parse } from "yaml";

import { isRunning } from "../../bootstrap/controlplane/process.ts";
import { nthAddress, parseCidr } from "../../bootstrap/ipv4.ts";
import { simSupervisorState } from "../../bootstrap/providers/sim.ts";
import { controlPlane, waitFor } from "../envtest/index.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const NODE = join(REPO, "node_modules", ".bin", "node");
const BIN = join(REPO, "bin", "bootstrap.js");
const CALICO_FIXTURE = join(REPO, "test", "unit", "fixtures", "calico", "calico.yaml");
const LAB_YAML = "apiVersion: kubelab.dev/v1alpha1\nkind: Lab\nname: simlab\nworkers:\n  count: 2\n";

interface Result {
  readonly exitCode: number;
  readonly output: string;
}

describe("bootstrap up --provider sim", function () {
  // A first start builds nothing (the suite found the binaries) and takes ~15 s on 2 cores.
  this.timeout(300_000);
  let lab: string;
  let workDir: string;

  const bootstrap = async (...args: string[]): Promise<Result> => {
    const result = await execa(NODE, [BIN, ...args], {
      cwd: lab,
      env: { CI: "1" },
      reject: false,
      all: true,
      stdin: "ignore",
      timeout: 240_000,
    });
    return { exitCode: result.exitCode ?? -1, output: String(result.all) };
  };

  /** Our kubectl on the lab's kubeconfig (the one a user gets), JSON output parsed. */
  const kubectl = async <T>(...args: string[]): Promise<T> => {
    const result = await execa(
      controlPlane().binaries.path("kubectl"),
      ["--kubeconfig", join(workDir, "kubeconfig"), ...args, "-o", "json"],
      { timeout: 60_000 },
    );
    return JSON.parse(result.stdout) as T;
  };

  /** Pids of the supervisor and of every component it runs. */
  const labPids = async (): Promise<number[]> => {
    const state = await simSupervisorState(workDir);
    return state === undefined ? [] : [state.pid, ...Object.values(state.components)];
  };

  before(async () => {
    lab = await mkdtemp(join(tmpdir(), "kubelab-sim-test-"));
    workDir = join(lab, ".kubelab");
    await writeFile(join(lab, "lab.yaml"), LAB_YAML);
  });

  after(async () => {
    // Whatever happened above, leave no lab running.
    await bootstrap("down", "--yes");
    await rm(lab, { recursive: true, force: true });
  });

  it("brings up m-k8s and the workers Ready, as kubectl sees them through .kubelab/kubeconfig", async () => {
    const up = await bootstrap("up", "--provider", "sim", "--calico-manifest", CALICO_FIXTURE);
    expect(up.exitCode, up.output).to.equal(0);
    expect(up.output).to.contain("Lab simlab is up");

    const nodes = await kubectl<{ items: V1Node[] }>("get", "nodes");
    const ready = nodes.items
      .filter((node) => node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
      .map((node) => node.metadata?.name)
      .sort();
    expect(ready).to.deep.equal(["m-k8s", "w1-k8s", "w2-k8s"]);
    const controlPlaneNode = nodes.items.find((node) => node.metadata?.name === "m-k8s");
    expect(controlPlaneNode?.metadata?.labels).to.have.property("node-role.kubernetes.io/control-plane");
    expect(controlPlaneNode?.spec?.taints).to.deep.include({
      key: "node-role.kubernetes.io/control-plane",
      effect: "NoSchedule",
    });
    const addresses = nodes.items.map(
      (node) => node.status?.addresses?.find((a) => a.type === "InternalIP")?.address,
    );
    expect(addresses.sort()).to.deep.equal(["192.168.56.10", "192.168.56.101", "192.168.56.102"]);
  });

  it("holds what kubeadm init would have installed, with the lab's networks", async () => {
    const kubeadmConfig = await kubectl<V1ConfigMap>(
      "-n",
      "kube-system",
      "get",
      "configmap",
      "kubeadm-config",
    );
    const cluster = parse(kubeadmConfig.data?.ClusterConfiguration ?? "") as {
      kind: string;
      kubernetesVersion: string;
      networking: { podSubnet: string; serviceSubnet: string; dnsDomain: string };
    };
    expect(cluster.kind).to.equal("ClusterConfiguration");
    expect(cluster.kubernetesVersion).to.equal(controlPlane().binaries.versions.kubernetes);
    expect(cluster.networking).to.deep.equal({
      podSubnet: "172.16.0.0/16",
      serviceSubnet: "10.96.0.0/12",
      dnsDomain: "cluster.local",
    });
    const kubeletConfig = await kubectl<V1ConfigMap>(
      "-n",
      "kube-system",
      "get",
      "configmap",
      "kubelet-config",
    );
    expect(kubeletConfig.data?.kubelet).to.contain("cgroupDriver: systemd");

    const corefile = await kubectl<V1ConfigMap>("-n", "kube-system", "get", "configmap", "coredns");
    expect(corefile.data?.Corefile).to.contain("kubernetes cluster.local in-addr.arpa ip6.arpa");
    const service = await kubectl<V1Service>("-n", "kube-system", "get", "service", "kube-dns");
    expect(service.spec?.clusterIP).to.equal(nthAddress(parseCidr("10.96.0.0/12"), 10));
    await kubectl("-n", "kube-system", "get", "serviceaccount", "coredns");
    await kubectl("get", "clusterrole", "system:coredns");
    await kubectl("get", "clusterrolebinding", "system:coredns");
    const coredns = await waitFor("CoreDNS to be available", async () => {
      const deployment = await kubectl<V1Deployment>("-n", "kube-system", "get", "deployment", "coredns");
      return (deployment.status?.availableReplicas ?? 0) >= 1 ? deployment : undefined;
    });
    expect(coredns.spec?.template.spec?.containers[0]?.image).to.equal(
      "registry.k8s.io/coredns/coredns:v1.14.2",
    );
    // Calico came through the CLI's normal manifest step.
    await kubectl("-n", "kube-system", "get", "daemonset", "calico-node");
  });

  it("shows the nodes in `bootstrap status` and does nothing on a second `up`", async () => {
    const status = await bootstrap("status");
    expect(status.exitCode, status.output).to.equal(0);
    expect(status.output).to.match(
      /w2-k8s\s+worker\s+192\.168\.56\.102\s+kwok \(supervisor pid \d+\)\s+Ready/,
    );

    const before = await simSupervisorState(workDir);
    const again = await bootstrap("up", "--provider", "sim", "--calico-manifest", CALICO_FIXTURE);
    expect(again.exitCode, again.output).to.equal(0);
    expect(again.output).to.contain("Create the nodes (already done)");
    expect(again.output).to.not.match(/\] run {3}(Create the nodes|Apply Calico|Wait until)/);
    expect((await simSupervisorState(workDir))?.pid).to.equal(before?.pid);
  });

  it("says that sim nodes have no shell (exit 2)", async () => {
    const ssh = await bootstrap("ssh", "m-k8s");
    expect(ssh.exitCode).to.equal(2);
    expect(ssh.output).to.contain("the sim provider has no node shell");
  });

  it("restarts a killed supervisor from its data, on the same API server address", async () => {
    await execa(
      controlPlane().binaries.path("kubectl"),
      [
        "--kubeconfig",
        join(workDir, "kubeconfig"),
        "create",
        "configmap",
        "survivor",
        "--from-literal=kept=yes",
      ],
      { timeout: 60_000 },
    );
    const kubeconfig = await readFile(join(workDir, "kubeconfig"), "utf8");
    const pids = await labPids();
    for (const pid of pids) process.kill(pid, "SIGKILL");
    await waitFor("the lab's processes to die", () => !pids.some(isRunning));
    expect((await bootstrap("status")).output).to.contain("supervisor not running");

    const up = await bootstrap("up", "--provider", "sim", "--calico-manifest", CALICO_FIXTURE);
    expect(up.exitCode, up.output).to.equal(0);
    expect(await readFile(join(workDir, "kubeconfig"), "utf8")).to.equal(kubeconfig);
    const survivor = await kubectl<V1ConfigMap>("get", "configmap", "survivor");
    expect(survivor.data).to.deep.equal({ kept: "yes" });
    const nodes = await kubectl<{ items: V1Node[] }>("get", "nodes");
    expect(nodes.items.map((node) => node.metadata?.name).sort()).to.deep.equal([
      "m-k8s",
      "w1-k8s",
      "w2-k8s",
    ]);
  });

  it("stops every process on `down` and removes the lab's data", async () => {
    const pids = await labPids();
    expect(pids).to.have.length(6); // the supervisor, etcd, kube-apiserver, controller-manager, scheduler, kwok
    expect(pids.every(isRunning)).to.equal(true);
    const down = await bootstrap("down", "--yes");
    expect(down.exitCode, down.output).to.equal(0);
    expect(pids.filter(isRunning), "processes left after down").to.deep.equal([]);
    expect(await readdir(workDir)).to.not.include.members(["sim", "kubeconfig", "state.json"]);
  });
});
