// End to end through the real CLI: a lab comes up with the operator, heals its addons, reports a silent node, and is backed up, restored and torn down.
import { readdir, readFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { expect } from "chai";
import { execa } from "execa";
import { parseDocument } from "yaml";

import { buildKit } from "../../bootstrap/kit/kit.ts";
import { OPERATOR_IMAGE_ANNOTATION } from "../../bootstrap/kube/operator-install.ts";
import { KWOK_MANAGED, KWOK_NODE_LABEL, KWOK_SILENCED } from "../../bootstrap/controlplane/kwok.ts";
import { API_GROUP as GROUP, API_VERSION as VERSION } from "../../operator/api/common.ts";
import { ETCDSNAPSHOT_PLURAL, type EtcdSnapshot } from "../../operator/api/etcdsnapshot.ts";
import { LABCLUSTER_PLURAL, type LabCluster } from "../../operator/api/labcluster.ts";
import { waitFor } from "../envtest/index.ts";
import { REPO, runBootstrap } from "../unit/helpers.ts";

/**
 * Which provider makes the lab: `sim` (default; runs anywhere with the envtest binaries), `podman` (real
 * kubeadm nodes in systemd containers, fed by the offline kit: root, podman and the kit's build inputs),
 * `kind` (needs Docker and the kind CLI) or `vagrant` (needs VirtualBox). The suite talks to the lab through
 * the CLI and the lab's kubeconfig, so it is the same scenario on each; what only real nodes can show
 * (workloads across nodes, the operator's Deployment) is added on the providers that have them.
 */
const PROVIDER = process.env.KUBELAB_E2E_PROVIDER ?? "sim";
/** Real nodes: a kubelet, containerd and a pod network on every node. */
const REAL_NODES = PROVIDER !== "sim";
/** The podman lab: 1 control plane + 2 workers, kube-router from the kit, a lab name of its own. */
const PODMAN_LAB = { name: "e2e-podman", workers: 2 };
/** Nodes the lab has: the defaults (1 + 3 workers), or the podman lab's. */
const NODES = PROVIDER === "podman" ? 1 + PODMAN_LAB.workers : 4;
/** The CNI the lab runs, its DaemonSet, its LabCluster addon and condition. */
/** The operator's namespace. */
const OPERATOR_NS = "kubelab-system";
/** An HTTP server answering every request with the pod's name (its hostname). */
const ECHO_SERVER = `require("node:http").createServer((_, res) => res.end(require("node:os").hostname())).listen(8080)`;
/** Fetches each of $TARGETS (retrying for a while), printing "URL ANSWER" per line; exits 1 if one fails. */
const PROBE = `
(async () => {
  for (const url of process.env.TARGETS.split(" ")) {
    let answer;
    for (let attempt = 0; attempt < 60 && answer === undefined; attempt++) {
      try { answer = await (await fetch(url, { signal: AbortSignal.timeout(3000) })).text(); }
      catch (error) { console.error(url, String(error)); await new Promise((r) => setTimeout(r, 1000)); }
    }
    if (answer === undefined) process.exit(1);
    console.log(url, answer);
  }
})();`;
const CNI =
  PROVIDER === "podman"
    ? { daemonSet: "kube-router", addon: "kubeRouter", condition: "KubeRouterHealthy" }
    : { daemonSet: "calico-node", addon: "calico", condition: "CalicoHealthy" };
/** The Calico manifest for labs without internet; the sim lab uses our fixture of the real manifest's size. */
const CALICO_MANIFEST =
  process.env.KUBELAB_E2E_CALICO_MANIFEST ??
  (PROVIDER === "sim" ? join(REPO, "test", "fixtures", "calico", "calico-v3.31.7.yaml") : undefined);
/** How long the lab may take to come up: seconds on sim, many minutes on VMs. */
const UP_TIMEOUT_MS = PROVIDER === "sim" ? 600_000 : 3_600_000;
/** The worker the suite silences. */
const SILENCED_NODE = "w1-k8s";

interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
}

describe(`a lab on the ${PROVIDER} provider, end to end`, function () {
  this.timeout(UP_TIMEOUT_MS);
  let lab: string;
  let workDir: string;
  let config: KubeConfig;

  const bootstrap = (args: readonly string[], timeoutMs = 600_000) =>
    runBootstrap(args, { cwd: lab, timeoutMs });

  const labClusters = async (): Promise<LabCluster[]> => {
    const list = (await config
      .makeApiClient(CustomObjectsApi)
      .listClusterCustomObject({ group: GROUP, version: VERSION, plural: LABCLUSTER_PLURAL })) as {
      items: LabCluster[];
    };
    return list.items;
  };

  const theLabCluster = async (): Promise<LabCluster> => {
    const items = await labClusters();
    expect(items, "bootstrap makes exactly one LabCluster").to.have.length(1);
    return items[0]!;
  };

  const condition = (cluster: LabCluster, type: string): Condition | undefined =>
    (cluster.status?.conditions as readonly Condition[] | undefined)?.find((c) => c.type === type);

  const waitReady = async (what: string, timeoutMs: number): Promise<LabCluster> => {
    let last = "";
    try {
      return await waitFor(
        what,
        async () => {
          const cluster = await theLabCluster();
          const ready = condition(cluster, "Ready");
          last = `${ready?.status ?? "no Ready condition"} ${ready?.reason ?? ""}: ${ready?.message ?? ""}`;
          return ready?.status === "True" &&
            cluster.status?.observedGeneration === cluster.metadata.generation
            ? cluster
            : undefined;
        },
        { timeoutMs, intervalMs: 1000 },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; last Ready: ${last}`, { cause: error });
    }
  };

  /** Deletes a workload and waits for a new object (another uid) and the operator's Event naming it. */
  const deleteAndExpectRestore = async (
    kind: "Deployment" | "DaemonSet",
    name: string,
    labCluster: string,
  ): Promise<void> => {
    const apps = config.makeApiClient(AppsV1Api);
    const namespace = "kube-system";
    const read =
      kind === "Deployment"
        ? () => apps.readNamespacedDeployment({ name, namespace })
        : () => apps.readNamespacedDaemonSet({ name, namespace });
    const before = await read();
    const deletedAt = Date.now();
    if (kind === "Deployment") await apps.deleteNamespacedDeployment({ name, namespace });
    else await apps.deleteNamespacedDaemonSet({ name, namespace });
    const restored = await waitFor(
      `${kind} ${name} to be re-created`,
      async () => {
        const object = await read().catch(() => undefined);
        return object !== undefined && object.metadata?.uid !== before.metadata?.uid ? object : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(restored.spec?.template.spec?.containers.map((c) => c.image)).to.deep.equal(
      before.spec?.template.spec?.containers.map((c) => c.image),
    );
    await waitFor(
      `an AddonObjectRestored Event on LabCluster ${labCluster} for ${kind} ${name}`,
      async () => {
        const events = await config.makeApiClient(EventsV1Api).listEventForAllNamespaces();
        return events.items.some(
          (event) =>
            event.reason === "AddonObjectRestored" &&
            event.regarding?.kind === "LabCluster" &&
            event.regarding.name === labCluster &&
            event.related?.kind === kind &&
            event.related.name === name &&
            new Date(event.eventTime ?? 0).getTime() >= deletedAt - 1000,
        );
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  };

  /** Stops a node's heartbeats: kwok lets go of it on sim; the kubelet is stopped on nodes with a shell. */
  const setHeartbeats = async (node: string, on: boolean): Promise<void> => {
    if (PROVIDER === "sim") {
      await config.makeApiClient(CoreV1Api).patchNode(
        {
          name: node,
          body: { metadata: { labels: { [KWOK_NODE_LABEL]: on ? KWOK_MANAGED : KWOK_SILENCED } } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      return;
    }
    // vagrant ssh logs in as the box's user; kind and podman nodes are exec'd as root, and kind's node image
    // has no sudo.
    const asRoot = PROVIDER === "vagrant" ? ["sudo"] : [];
    const result = await bootstrap([
      "ssh",
      node,
      "--",
      ...asRoot,
      "systemctl",
      on ? "start" : "stop",
      "kubelet",
    ]);
    expect(result.exitCode, result.output).to.equal(0);
  };

  /** The operator Deployment's image: on real nodes, the one bootstrap built and loaded into each. */
  const operatorImage = async (): Promise<string> => {
    const deployment = await config
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ namespace: OPERATOR_NS, name: "kubelab-operator" });
    return deployment.spec?.template.spec?.containers[0]?.image ?? "";
  };

  /** The podman objects labelled with the lab (containers, volumes, networks), as "kind name". */
  const podmanObjectsOfLab = async (): Promise<string[]> => {
    const objects: string[] = [];
    for (const kind of ["container", "volume", "network"]) {
      const list = kind === "container" ? ["ps", "-a"] : [kind, "ls"];
      const format = kind === "container" ? "{{.Names}}" : "{{.Name}}";
      const { stdout } = await execa("podman", [
        ...list,
        "--filter",
        `label=kubelab.dev/lab=${PODMAN_LAB.name}`,
        "--format",
        format,
      ]);
      objects.push(
        ...stdout
          .split("\n")
          .filter(Boolean)
          .map((name) => `${kind} ${name}`),
      );
    }
    return objects;
  };

  /** The host's cgroup mount points: podman's host prep adds v1 hierarchies and `down` removes them. */
  const cgroupMounts = async (): Promise<string[]> =>
    (await readFile("/proc/self/mountinfo", "utf8"))
      .split("\n")
      .map((line) => line.split(" ")[4] ?? "")
      .filter((mountPoint) => mountPoint.startsWith("/sys/fs/cgroup/"))
      .sort();
  let cgroupMountsBefore: string[] = [];

  /**
   * Drain remediation on, and a Deployment with a pod on each worker (preferred anti-affinity, so an evicted
   * pod may run beside the other). expectDrained: the silenced worker cordoned and every pod of the Deployment
   * running elsewhere; expectUncordonedAndReset: the worker schedulable again, remediation back to None.
   */
  const startDrainScenario = async () => {
    const custom = config.makeApiClient(CustomObjectsApi);
    const core = config.makeApiClient(CoreV1Api);
    const apps = config.makeApiClient(AppsV1Api);
    const name = (await theLabCluster()).metadata.name;
    const setRemediation = (remediation: string) =>
      custom.patchClusterCustomObject(
        {
          group: GROUP,
          version: VERSION,
          plural: LABCLUSTER_PLURAL,
          name,
          body: { spec: { nodeHealth: { remediation } } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    await setRemediation("Drain");
    const namespace = "e2e-drain";
    const labels = { app: "drained" };
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "drained" },
        spec: {
          replicas: NODES - 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              affinity: {
                podAntiAffinity: {
                  preferredDuringSchedulingIgnoredDuringExecution: [
                    {
                      weight: 100,
                      podAffinityTerm: {
                        labelSelector: { matchLabels: labels },
                        topologyKey: "kubernetes.io/hostname",
                      },
                    },
                  ],
                },
              },
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: "idle",
                  image: await operatorImage(),
                  command: ["/nodejs/bin/node", "-e", "setInterval(() => {}, 1e9)"],
                },
              ],
            },
          },
        },
      },
    });
    const running = async () =>
      (await core.listNamespacedPod({ namespace, labelSelector: "app=drained" })).items.filter(
        (pod) => pod.status?.phase === "Running" && pod.metadata?.deletionTimestamp === undefined,
      );
    await waitFor(
      `a drained pod running on ${SILENCED_NODE}`,
      async () => {
        const pods = await running();
        return pods.length === NODES - 1 && pods.some((pod) => pod.spec?.nodeName === SILENCED_NODE)
          ? pods
          : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    return {
      async expectDrained() {
        await waitFor(
          `${SILENCED_NODE} cordoned and its pods running on other nodes`,
          async () => {
            const node = await core.readNode({ name: SILENCED_NODE });
            const pods = await running();
            return node.spec?.unschedulable === true &&
              pods.length === NODES - 1 &&
              pods.every((pod) => pod.spec?.nodeName !== SILENCED_NODE)
              ? true
              : undefined;
          },
          { timeoutMs: 180_000, intervalMs: 1000 },
        );
      },
      async expectUncordonedAndReset() {
        await waitFor(
          `${SILENCED_NODE} uncordoned`,
          async () => ((await core.readNode({ name: SILENCED_NODE })).spec?.unschedulable ? undefined : true),
          { timeoutMs: 120_000, intervalMs: 1000 },
        );
        await setRemediation("None");
        await core.deleteNamespace({ name: namespace });
      },
    };
  };

  /** Pids of the processes whose command line names the lab's directory (the sim lab runs them locally). */
  const processesOfLab = async (): Promise<number[]> => {
    const pids: number[] = [];
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
      if (cmdline.includes(lab)) pids.push(Number(entry));
    }
    return pids;
  };

  before(async () => {
    lab = await mkdtemp(join(tmpdir(), "kubelab-e2e-"));
    workDir = join(lab, ".kubelab");
    const init = await bootstrap(["init"]);
    expect(init.exitCode, init.output).to.equal(0);
    if (PROVIDER === "podman") {
      // The kit feeds the nodes (cached after its first build: the podman integration suites build it too).
      await buildKit({});
      cgroupMountsBefore = await cgroupMounts();
      const file = join(lab, "lab.yaml");
      const document = parseDocument(await readFile(file, "utf8"));
      document.set("name", PODMAN_LAB.name);
      document.setIn(["workers", "count"], PODMAN_LAB.workers);
      await writeFile(file, document.toString());
    }
  });

  after(async () => {
    // Whatever failed above, leave nothing running.
    if (lab === undefined) return;
    await bootstrap(["down", "--yes"]);
    if (process.env.KUBELAB_E2E_KEEP === undefined) await rm(lab, { recursive: true, force: true });
  });

  it("`bootstrap up` ends with the operator running and the LabCluster Ready, all nodes healthy", async () => {
    const args = ["up", "--provider", PROVIDER];
    if (CALICO_MANIFEST !== undefined) args.push("--calico-manifest", CALICO_MANIFEST);
    const up = await bootstrap(args, UP_TIMEOUT_MS);
    expect(up.exitCode, up.output).to.equal(0);

    config = new KubeConfig();
    config.loadFromFile(join(workDir, "kubeconfig"));
    const cluster = await waitReady("the LabCluster to be Ready", 120_000);
    expect(cluster.status?.readyNodes).to.equal(NODES);
    expect(cluster.status?.expectedNodes).to.equal(NODES);
    for (const type of ["NodesHealthy", CNI.condition, "CoreDNSHealthy"]) {
      expect(condition(cluster, type)?.status, type).to.equal("True");
    }
    expect(up.output, "the summary names the kubeconfig").to.contain(join(workDir, "kubeconfig"));

    const again = await bootstrap(args, UP_TIMEOUT_MS);
    expect(again.exitCode, again.output).to.equal(0);
    expect(again.output.toLowerCase()).to.contain("nothing to do");
  });

  if (REAL_NODES) {
    it("runs pods on every worker: pod to pod across nodes, a ClusterIP Service, CoreDNS resolving its name", async () => {
      const core = config.makeApiClient(CoreV1Api);
      const apps = config.makeApiClient(AppsV1Api);
      const namespace = "e2e-net";
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      const image = await operatorImage();
      const labels = { app: "echo" };
      // The operator's image is on every node (bootstrap loaded it): its Node answers HTTP with the pod's name.
      await apps.createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name: "echo" },
          spec: {
            replicas: NODES - 1,
            selector: { matchLabels: labels },
            template: {
              metadata: { labels },
              spec: {
                affinity: {
                  podAntiAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: [
                      { labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" },
                    ],
                  },
                },
                containers: [
                  {
                    name: "echo",
                    image,
                    command: ["/nodejs/bin/node", "-e", ECHO_SERVER],
                    ports: [{ containerPort: 8080 }],
                    readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
                  },
                ],
              },
            },
          },
        },
      });
      await core.createNamespacedService({
        namespace,
        body: {
          metadata: { name: "echo" },
          spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
        },
      });
      const pods = await waitFor(
        "an echo pod Ready on each worker",
        async () => {
          const list = (await core.listNamespacedPod({ namespace, labelSelector: "app=echo" })).items;
          const ready = list.filter((pod) =>
            pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
          );
          return ready.length === NODES - 1 ? ready : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 1000 },
      );
      const nodes = pods.map((pod) => pod.spec?.nodeName).sort();
      expect(nodes).to.deep.equal(
        Array.from({ length: NODES - 1 }, (_, index) => `w${index + 1}-k8s`),
        "one pod per worker",
      );
      // The probe runs on w1: the pod on w2 is across nodes, the Service name goes through CoreDNS.
      const remote = pods.find((pod) => pod.spec?.nodeName !== "w1-k8s")!;
      const targets = [`http://${remote.status?.podIP}:8080/`, `http://echo.${namespace}.svc.cluster.local/`];
      await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: "probe" },
          spec: {
            nodeName: "w1-k8s",
            restartPolicy: "Never",
            containers: [
              {
                name: "probe",
                image,
                command: ["/nodejs/bin/node", "-e", PROBE],
                env: [{ name: "TARGETS", value: targets.join(" ") }],
              },
            ],
          },
        },
      });
      const phase = await waitFor(
        "the probe pod to finish",
        async () => {
          const pod = await core.readNamespacedPod({ namespace, name: "probe" });
          return ["Succeeded", "Failed"].includes(pod.status?.phase ?? "") ? pod.status?.phase : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 1000 },
      );
      const log = await core.readNamespacedPodLog({ namespace, name: "probe" });
      expect(phase, log).to.equal("Succeeded");
      const answers = new Map(
        log
          .trim()
          .split("\n")
          .map((line) => line.split(" ") as [string, string]),
      );
      expect(answers.get(targets[0]!), log).to.equal(remote.metadata?.name);
      expect(
        pods.map((pod) => pod.metadata?.name),
        log,
      ).to.include(answers.get(targets[1]!));
      await core.deleteNamespace({ name: namespace });
    });

    it("runs the operator's Deployment 2/2 from the image bootstrap built and loaded, with one leader", async () => {
      const apps = config.makeApiClient(AppsV1Api);
      const deployment = await waitFor(
        "the operator Deployment 2/2 available",
        async () => {
          const current = await apps.readNamespacedDeployment({
            namespace: OPERATOR_NS,
            name: "kubelab-operator",
          });
          return current.status?.availableReplicas === 2 ? current : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 1000 },
      );
      const loaded = JSON.parse(await readFile(join(workDir, "cache", "operator-image.json"), "utf8")) as {
        digest: string;
        nodes: string[];
      };
      expect(deployment.spec?.template.metadata?.annotations?.[OPERATOR_IMAGE_ANNOTATION]).to.equal(
        loaded.digest,
      );
      expect(loaded.nodes.length).to.equal(NODES);
      const pods = (
        await config.makeApiClient(CoreV1Api).listNamespacedPod({
          namespace: OPERATOR_NS,
          labelSelector: "app.kubernetes.io/name=kubelab-operator",
        })
      ).items.filter((pod) => pod.status?.phase === "Running");
      expect(pods).to.have.length(2);
      const lease = await config
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace: OPERATOR_NS, name: "kubelab-operator" });
      expect(pods.map((pod) => pod.metadata?.name)).to.include(lease.spec?.holderIdentity?.split("_")[0]);
    });
  }

  it(`re-creates the coredns Deployment and the ${CNI.daemonSet} DaemonSet after they are deleted, with an Event each`, async () => {
    const name = (await theLabCluster()).metadata.name;
    await deleteAndExpectRestore("Deployment", "coredns", name);
    await deleteAndExpectRestore("DaemonSet", CNI.daemonSet, name);
    // The status counts each restore; Ready may still be the one from before the deletes, so wait for both.
    await waitFor(
      "status to count the restores of both addons",
      async () => {
        const addons = (await theLabCluster()).status?.addons;
        const cni = (addons as Record<string, { restores?: number } | undefined> | undefined)?.[CNI.addon];
        return (addons?.coredns?.restores ?? 0) > 0 && (cni?.restores ?? 0) > 0;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await waitReady("the LabCluster to be Ready after the restores", 120_000);
  });

  it("reports a silenced node as unhealthy, and healthy again once it is back", async () => {
    // On real nodes the LabCluster drains the silent worker: its pods are evicted and run elsewhere, and the
    // node is uncordoned when it is back. (KWOK pods on sim have no kubelet to stop them.)
    const drain = REAL_NODES ? await startDrainScenario() : undefined;
    await setHeartbeats(SILENCED_NODE, false);
    // The kubelet's last renewal was before its stop returned.
    const silencedAt = Date.now();
    try {
      const cluster = await waitFor(
        `${SILENCED_NODE} to be reported unhealthy`,
        async () => {
          const current = await theLabCluster();
          const node = current.status?.nodes?.find((n) => n.name === SILENCED_NODE);
          return node?.ready === false && condition(current, "NodesHealthy")?.status === "False"
            ? current
            : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 1000 },
      );
      const reportedAfterMs = Date.now() - silencedAt;
      const node = cluster.status?.nodes?.find((n) => n.name === SILENCED_NODE);
      expect(["LeaseStale", "NotReady", "ReadyUnknown"]).to.include(node?.reason);
      expect(condition(cluster, "Ready")?.status).to.equal("False");
      if (REAL_NODES) {
        // The Lease is stale leaseStaleSeconds after the kubelet's last renewal; + 1 s for the operator, + 2 s
        // for this test's poll (1 s) and its read of the LabCluster.
        const staleSeconds = cluster.spec.nodeHealth.leaseStaleSeconds;
        console.log(
          `      ${SILENCED_NODE} reported unhealthy ${reportedAfterMs} ms after its kubelet stopped`,
        );
        expect(reportedAfterMs).to.be.at.most((staleSeconds + 1) * 1000 + 2000);
        await drain!.expectDrained();
      }
    } finally {
      await setHeartbeats(SILENCED_NODE, true);
    }
    const back = await waitReady(`the LabCluster to be Ready with ${SILENCED_NODE} back`, 180_000);
    expect(back.status?.readyNodes).to.equal(NODES);
    await drain?.expectUncordonedAndReset();
  });

  it("`bootstrap backup` records a verified EtcdSnapshot, and `bootstrap restore --snapshot latest --yes` brings back a namespace deleted after it", async () => {
    const core = config.makeApiClient(CoreV1Api);
    const namespace = "e2e-restored";
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "proof" }, data: { saved: "before the backup" } },
    });

    const backup = await bootstrap(["backup"]);
    expect(backup.exitCode, backup.output).to.equal(0);
    const snapshots = (
      (await config
        .makeApiClient(CustomObjectsApi)
        .listClusterCustomObject({ group: GROUP, version: VERSION, plural: ETCDSNAPSHOT_PLURAL })) as {
        items: EtcdSnapshot[];
      }
    ).items;
    expect(snapshots, "one snapshot after one backup").to.have.length(1);
    const snapshot = snapshots[0]!;
    expect(snapshot.status?.verification?.verified, JSON.stringify(snapshot.status)).to.equal(true);
    expect(backup.output).to.contain(snapshot.metadata.name);
    if (REAL_NODES) {
      // The CronJob's Job ran the operator's image on the control plane (etcd's client certificates are there).
      const image = await operatorImage();
      const jobPods = (await core.listNamespacedPod({ namespace: "kube-system", labelSelector: "job-name" }))
        .items;
      expect(
        jobPods.some(
          (pod) =>
            pod.spec?.nodeName === "m-k8s" &&
            pod.status?.phase === "Succeeded" &&
            pod.spec.containers.every((container) => container.image === image),
        ),
        JSON.stringify(jobPods.map((pod) => [pod.metadata?.name, pod.spec?.nodeName, pod.status?.phase])),
      ).to.equal(true);
    }
    const list = await bootstrap(["backups"]);
    expect(list.exitCode, list.output).to.equal(0);
    expect(list.output).to.contain(snapshot.metadata.name);

    await core.deleteNamespace({ name: namespace });
    await waitFor(
      `namespace ${namespace} to be gone`,
      async () =>
        (await core.readNamespace({ name: namespace }).then(
          () => false,
          () => true,
        )) || undefined,
      { timeoutMs: 120_000, intervalMs: 500 },
    );

    const restore = await bootstrap(["restore", "--snapshot", "latest", "--yes"], UP_TIMEOUT_MS);
    expect(restore.exitCode, restore.output).to.equal(0);
    config = new KubeConfig();
    config.loadFromFile(join(workDir, "kubeconfig"));
    const proof = await waitFor(
      "the ConfigMap of the deleted namespace to be back",
      () => config.makeApiClient(CoreV1Api).readNamespacedConfigMap({ namespace, name: "proof" }),
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    expect(proof.data).to.deep.equal({ saved: "before the backup" });
    await waitReady("the LabCluster to be Ready after the restore", 300_000);
    if (REAL_NODES) {
      // The restored cluster works: a new pod schedules and runs, and the operator still restores an addon.
      const restoredCore = config.makeApiClient(CoreV1Api);
      await restoredCore.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: "after-restore" },
          spec: {
            restartPolicy: "Never",
            containers: [
              { name: "once", image: await operatorImage(), command: ["/nodejs/bin/node", "-e", "0"] },
            ],
          },
        },
      });
      await waitFor(
        "a pod created after the restore to run to completion",
        async () =>
          (await restoredCore.readNamespacedPod({ namespace, name: "after-restore" })).status?.phase ===
            "Succeeded" || undefined,
        { timeoutMs: 180_000, intervalMs: 1000 },
      );
      await deleteAndExpectRestore("Deployment", "coredns", (await theLabCluster()).metadata.name);
    }
  });

  it("`bootstrap down` leaves nothing running and keeps the backups", async () => {
    const labProcesses = await processesOfLab();
    if (PROVIDER === "sim") {
      // The supervisor, etcd, kube-apiserver, controller-manager, scheduler, kwok and the operator.
      expect(labProcesses.length, "the sim lab's local processes").to.be.at.least(7);
    }
    if (PROVIDER === "podman") expect(await podmanObjectsOfLab()).to.not.deep.equal([]);
    const down = await bootstrap(["down", "--yes"]);
    expect(down.exitCode, down.output).to.equal(0);
    expect(await processesOfLab(), "processes of the lab still running").to.deep.equal([]);
    if (PROVIDER === "podman") {
      expect(await podmanObjectsOfLab(), "podman objects of the lab").to.deep.equal([]);
      expect(
        await cgroupMounts(),
        "the host's cgroup mounts, as before the lab (host prep undone)",
      ).to.deep.equal(cgroupMountsBefore);
    }

    const status = await bootstrap(["status"]);
    expect(status.output).to.not.match(/\bkwok \(supervisor|\brunning\b/);
    const backups = await readdir(join(workDir, "backups")).catch(() => []);
    expect(
      backups.some((file) => file.endsWith(".db")),
      `backups kept: ${backups.join(", ")}`,
    ).to.equal(true);
  });
});
