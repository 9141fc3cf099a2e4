// `bootstrap up --provider sim` end to end through the real CLI: a lab without VMs, its operator, then down with no process left.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1ConfigMap, V1Deployment, V1Node, V1Service } from "@kubernetes/client-node";
import { expect } from "chai";
import { execa } from "execa";
import { parse } from "yaml";

import { isRunning } from "../../bootstrap/controlplane/process.ts";
import { nthAddress, parseCidr } from "../../bootstrap/lab/ipv4.ts";
import { simSupervisorState } from "../../bootstrap/providers/sim/provider.ts";
import { simOperatorPaths, simOperatorStatus } from "../../bootstrap/providers/sim/operator.ts";
import { controlPlane, waitFor } from "../envtest/index.ts";
import { CALICO_FIXTURE, runBootstrap } from "../unit/helpers.ts";

const LAB_YAML = "apiVersion: kubelab.dev/v1alpha1\nkind: Lab\nname: simlab\nworkers:\n  count: 2\n";

describe("bootstrap up --provider sim", function () {
  // A first start builds nothing (the suite found the binaries) and takes ~15 s on 2 cores.
  this.timeout(300_000);
  let lab: string;
  let workDir: string;

  const bootstrap = (...args: string[]) => runBootstrap(args, { cwd: lab, timeoutMs: 240_000 });

  /** Our kubectl on the lab's kubeconfig (the one a user gets). */
  const kubectlRun = (...args: string[]) =>
    execa(controlPlane().binaries.path("kubectl"), ["--kubeconfig", join(workDir, "kubeconfig"), ...args], {
      timeout: 60_000,
    });

  /** kubectl with JSON output, parsed. */
  const kubectl = async <T>(...args: string[]): Promise<T> =>
    JSON.parse((await kubectlRun(...args, "-o", "json")).stdout) as T;

  /** The LabCluster's conditions as `type=status`. */
  const labClusterConditions = async (): Promise<string[]> => {
    const labCluster = await kubectl<{ status?: { conditions?: { type: string; status: string }[] } }>(
      "get",
      "labcluster",
      "simlab",
    );
    return (labCluster.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`);
  };

  /** The operator's pid as the supervisor reports it (undefined when not running). */
  const operatorPid = async (): Promise<number | undefined> => (await simOperatorStatus(workDir))?.pid;

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
    expect(up.output).to.contain("LabCluster simlab: Ready=True");
    expect(up.output).to.match(/Wait until the LabCluster simlab is Ready .*\(.*Ready, 3\/3 nodes healthy\)/);
    expect(up.output).to.contain(`export KUBECONFIG=${join(workDir, "kubeconfig")}`);

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

  it("ends with the LabCluster Ready, reconciled by the operator running locally as its ServiceAccount", async () => {
    // `up` waited for Ready itself; the summary it printed says so.
    expect(await labClusterConditions()).to.include.members([
      "Ready=True",
      "NodesHealthy=True",
      "CalicoHealthy=True",
      "CoreDNSHealthy=True",
      "BackupsHealthy=True",
    ]);
    const labCluster = await kubectl<{
      spec: { nodes: { expected: { name: string; role: string }[] }; etcdBackup: { schedule: string } };
      status: { readyNodes: number; expectedNodes: number };
    }>("get", "labcluster", "simlab");
    expect(labCluster.spec.nodes.expected).to.deep.equal([
      { name: "m-k8s", role: "control-plane" },
      { name: "w1-k8s", role: "worker" },
      { name: "w2-k8s", role: "worker" },
    ]);
    expect(labCluster.spec.etcdBackup.schedule).to.equal("0 */6 * * *");
    expect(labCluster.status).to.include({ readyNodes: 3, expectedNodes: 3 });

    // The operator is a local process (kwok would only pretend to run the Deployment, which is not applied).
    const pid = await operatorPid();
    expect(pid).to.be.a("number");
    expect(isRunning(pid!)).to.equal(true);
    const paths = simOperatorPaths(workDir);
    const commandLine = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    expect(commandLine.some((arg) => arg.endsWith("bin/kubelab-operator.js"))).to.equal(true);
    expect(commandLine).to.include(paths.kubeconfig);
    const operatorKubeconfig = parse(await readFile(paths.kubeconfig, "utf8")) as {
      users: { user: { as: string; "as-groups": string[] } }[];
    };
    expect(operatorKubeconfig.users[0]?.user.as).to.equal(
      "system:serviceaccount:kubelab-system:kubelab-operator",
    );
    expect(operatorKubeconfig.users[0]?.user["as-groups"]).to.deep.equal([
      "system:serviceaccounts",
      "system:serviceaccounts:kubelab-system",
    ]);
    const deployments = await kubectl<{ items: unknown[] }>("-n", "kubelab-system", "get", "deployments");
    expect(deployments.items).to.deep.equal([]);
    // It leads (its Lease) and restores what the bundles hold.
    const lease = await kubectl<{ spec: { holderIdentity?: string } }>(
      "-n",
      "kubelab-system",
      "get",
      "lease",
      "kubelab-operator",
    );
    expect(lease.spec.holderIdentity).to.be.a("string").and.not.equal("");
    await kubectlRun("-n", "kube-system", "delete", "daemonset", "calico-node");
    await waitFor(
      "calico-node to be restored by the operator",
      async () =>
        (await kubectl<{ metadata: { uid: string } }>("-n", "kube-system", "get", "daemonset", "calico-node"))
          .metadata.uid,
      { timeoutMs: 60_000 },
    );
    expect(await readFile(paths.log, "utf8")).to.not.match(/forbidden/i);
  });

  it("restarts the operator process when it dies", async () => {
    const pid = await operatorPid();
    process.kill(pid!, "SIGKILL");
    const restarted = await waitFor(
      "the supervisor to restart the operator",
      async () => {
        const next = await operatorPid();
        return next !== undefined && next !== pid && isRunning(next) ? next : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(restarted).to.not.equal(pid);
    // The supervisor writes supervisor.json after the operator's own state file: wait for it to catch up.
    await waitFor(
      "supervisor.json to name the restarted operator",
      async () => (await simSupervisorState(workDir))?.components.operator === restarted,
      { timeoutMs: 10_000 },
    );
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
    // The operator killed above leads again once its predecessor's Lease expired.
    await waitFor(
      "the LabCluster to be Ready",
      async () => (await labClusterConditions()).includes("Ready=True"),
      {
        timeoutMs: 90_000,
      },
    );
    const status = await bootstrap("status");
    expect(status.exitCode, status.output).to.equal(0);
    expect(status.output).to.match(
      /w2-k8s\s+worker\s+192\.168\.56\.102\s+kwok \(supervisor pid \d+\)\s+Ready/,
    );

    expect(status.output).to.contain("LabCluster simlab: Ready=True");
    expect(status.output).to.match(/Operator: local process pid \d+ as the kubelab-operator ServiceAccount/);

    const before = await simSupervisorState(workDir);
    const operatorBefore = await operatorPid();
    const again = await bootstrap("up", "--provider", "sim", "--calico-manifest", CALICO_FIXTURE);
    expect(again.exitCode, again.output).to.equal(0);
    expect(again.output).to.contain("Lab simlab is up to date: nothing to do.");
    expect(again.output).to.contain("  nodes:   3/3 ready");
    expect(await operatorPid()).to.equal(operatorBefore);
    expect(again.output).to.contain("Create the nodes (already done)");
    expect(again.output).to.not.match(/\] run {3}(Create the nodes|Apply Calico|Wait until)/);
    expect((await simSupervisorState(workDir))?.pid).to.equal(before?.pid);
  });

  it("says that sim nodes have no shell (exit 2)", async () => {
    const ssh = await bootstrap("ssh", "m-k8s");
    expect(ssh.exitCode).to.equal(2);
    expect(ssh.output).to.contain("the sim provider has no node shell");
  });

  it("traces a new pod through the CLI to Ready (trace --new --rm), and stops an unschedulable one at the scheduler", async () => {
    const traced = await bootstrap("trace", "--new", "registry.k8s.io/pause:3.10", "--rm");
    expect(traced.exitCode, traced.output).to.equal(0);
    expect(traced.stdout).to.match(
      /kube-apiserver\s+accepted Deployment kubelab-trace\/trace-\w+, sent by kubelab-bootstrap/,
    );
    expect(traced.stdout).to.match(/kube-scheduler\s+default-scheduler assigned the pod to w\d-k8s/);
    expect(traced.stdout).to.contain("[Event Started from kwok_controller]");
    expect(traced.stdout).to.match(/Outcome: Ready at \+\d+s: 1\/1 containers running on w\d-k8s/);
    expect(traced.stdout).to.match(/Deleted Deployment kubelab-trace\/trace-\w+ \(--rm\)/);
    const left = await kubectl<{ items: unknown[] }>("-n", "kubelab-trace", "get", "deployments");
    expect(left.items).to.deep.equal([]);

    await kubectlRun("create", "deployment", "too-big", "--image=registry.k8s.io/pause:3.10");
    await kubectlRun("set", "resources", "deployment", "too-big", "--requests=cpu=500");
    const refused = await waitFor(
      "the scheduler to refuse too-big",
      async () => {
        const result = await bootstrap("trace", "deployment", "too-big", "-o", "json");
        const trace = JSON.parse(result.stdout) as { outcome: { state: string; reason?: string } };
        return trace.outcome.state === "Failed" && { result, trace };
      },
      { timeoutMs: 60_000 },
    );
    expect(refused.result.exitCode).to.equal(1);
    expect(refused.trace.outcome.reason).to.equal("FailedScheduling");
    const diagram = await bootstrap("trace", "deploy/too-big", "-o", "mermaid");
    expect(diagram.stdout.startsWith("```mermaid\nsequenceDiagram\n")).to.equal(true);
    expect(diagram.stdout).to.match(/Note over scheduler: Failed \(FailedScheduling\)/);
    const missing = await bootstrap("trace", "pod", "no-such-pod");
    expect(missing.exitCode).to.equal(2);
    expect(missing.stderr).to.contain("Pod default/no-such-pod not found");
    await kubectlRun("delete", "deployment", "too-big");
  });

  it("maps the components with `bootstrap status --components`: KWOK nodes, host processes, etcd, guards", async () => {
    const status = await bootstrap("status", "--components");
    expect(status.exitCode, status.output).to.equal(0);
    expect(status.stdout).to.match(
      /w1-k8s\s+worker\s+Ready\s+v1\.36\.\d+\s+kwok:\/\/\S+\s+192\.168\.56\.101/,
    );
    expect(status.stdout).to.contain(
      "Control plane: no static pods. On this lab it runs as processes on the host",
    );
    expect(status.stdout).to.match(/kube-apiserver\s+\d+\s+yes/);
    expect(status.stdout).to.match(/CNI\s+DaemonSet kube-system\/calico-node: 3\/3 ready/);
    expect(status.stdout).to.match(/db [\d.]+ (KiB|MiB) \(apiserver_storage_size_bytes/);
    expect(status.stdout).to.match(/revision \d+ \(resourceVersion of a fresh list/);
    expect(status.stdout).to.match(/Operator guards \(LabCluster simlab\): calico \(\d+ objects/);
  });

  it("restarts a killed supervisor from its data, on the same API server address", async () => {
    await kubectlRun("create", "configmap", "survivor", "--from-literal=kept=yes");
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
    // The restarted supervisor runs the operator again, from the lab's operator.json.
    const operator = await waitFor("the operator to run again", async () => {
      const pid = await operatorPid();
      return pid !== undefined && isRunning(pid) ? pid : undefined;
    });
    expect(pids).to.not.include(operator);
    expect(up.output).to.match(/LabCluster simlab: Ready=/);
    // Once it leads (the killed one's Lease expires first), it reports the lab Ready again.
    await waitFor(
      "the LabCluster to be Ready again",
      async () => (await labClusterConditions()).includes("Ready=True"),
      {
        timeoutMs: 90_000,
      },
    );
  });

  it("stops every process on `down` and removes the lab's data", async () => {
    const pids = await labPids();
    // The supervisor, etcd, kube-apiserver, controller-manager, scheduler, kwok and the operator.
    expect(pids).to.have.length(7);
    expect(pids).to.include(await operatorPid());
    expect(pids.every(isRunning)).to.equal(true);
    const down = await bootstrap("down", "--yes");
    expect(down.exitCode, down.output).to.equal(0);
    expect(pids.filter(isRunning), "processes left after down").to.deep.equal([]);
    expect(await readdir(workDir)).to.not.include.members(["sim", "kubeconfig", "state.json"]);
  });
});
