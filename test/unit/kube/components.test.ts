// The component map of `status --components`: golden for a recorded sim lab, static pods on kubeadm nodes, etcd facts.
import { readFile } from "node:fs/promises";
import { expect } from "chai";

import { metricValue } from "../../../bootstrap/kube/components-read.ts";
import {
  formatAge,
  formatBytes,
  renderComponentMap,
  type ComponentsInput,
  type MapPod,
} from "../../../bootstrap/kube/components.ts";
import { expectGolden } from "../golden.ts";
import { FIXTURES } from "../helpers.ts";

/** What `status --components` read from a sim lab (test/unit/fixtures/components/record.ts). */
async function simInput(): Promise<ComponentsInput> {
  const recorded = JSON.parse(await readFile(`${FIXTURES}components/sim.json`, "utf8")) as ComponentsInput & {
    now: string;
  };
  return {
    ...recorded,
    now: new Date(recorded.now),
    // As the sim provider reports them (pids are the recording's).
    hostProcesses: [
      { component: "etcd", pid: 23820, running: true },
      { component: "kube-apiserver", pid: 23836, running: true },
      { component: "kube-controller-manager", pid: 23950, running: true },
      { component: "kube-scheduler", pid: 23959, running: true },
      { component: "kwok", pid: 23948, running: true },
    ],
  };
}

/** A kubeadm mirror pod as the kubelet makes it: owned by the Node, marked config.mirror. */
function mirrorPod(
  component: string,
  image: string,
  startedAt: string,
  restarts: number,
  ready: boolean,
): MapPod {
  return {
    metadata: {
      name: `${component}-m-k8s`,
      namespace: "kube-system",
      labels: { component, tier: "control-plane" },
      annotations: { "kubernetes.io/config.mirror": "0123abcd" },
      ownerReferences: [{ kind: "Node", name: "m-k8s" }],
    },
    spec: { nodeName: "m-k8s", containers: [{ image }] },
    status: {
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [{ restartCount: restarts, state: { running: { startedAt } } }],
    },
  };
}

describe("kube/components", () => {
  it("maps a sim lab as the golden: KWOK nodes, host processes instead of static pods, no kube-proxy", async () => {
    const lines = renderComponentMap(await simInput());
    await expectGolden("components", new Map([["sim.txt", `${lines.join("\n")}\n`]]));
    const text = lines.join("\n");
    expect(text).to.contain("Control plane: no static pods. On this lab it runs as processes on the host");
    expect(text).to.contain("kube-proxy  not installed: sim has no kube-proxy");
    expect(text).to.match(/last snapshot: etcd-\d{8}-\d{6}-\w+ at revision \d+/);
  });

  it("lists a kubeadm control plane's static pods in kubeadm's order with image, age, restarts and Ready", async () => {
    const sim = await simInput();
    const now = new Date("2026-12-02T03:00:00Z");
    const lines = renderComponentMap({
      ...sim,
      now,
      hostProcesses: undefined,
      pods: [
        mirrorPod(
          "kube-scheduler",
          "registry.k8s.io/kube-scheduler:v1.36.5",
          "2026-12-02T02:59:00Z",
          2,
          true,
        ),
        mirrorPod("etcd", "registry.k8s.io/etcd:3.6.8-0", "2026-12-02T01:00:00Z", 0, true),
        mirrorPod(
          "kube-apiserver",
          "registry.k8s.io/kube-apiserver:v1.36.5",
          "2026-12-02T02:00:00Z",
          1,
          false,
        ),
      ],
    });
    const start = lines.findIndex((line) => line.startsWith("Control plane (static pods"));
    expect(lines.slice(start + 1, start + 5)).to.deep.equal([
      "  COMPONENT       NODE   IMAGE                                   AGE  RESTARTS  READY",
      "  etcd            m-k8s  registry.k8s.io/etcd:3.6.8-0            2h   0         True",
      "  kube-apiserver  m-k8s  registry.k8s.io/kube-apiserver:v1.36.5  60m  1         False",
      "  kube-scheduler  m-k8s  registry.k8s.io/kube-scheduler:v1.36.5  60s  2         True",
    ]);
  });

  it("says where no static pods are found on a lab that should have them, instead of showing nothing", async () => {
    const lines = renderComponentMap({ ...(await simInput()), hostProcesses: undefined, pods: [] });
    expect(lines.join("\n")).to.contain("Control plane: no static pods found in kube-system");
  });

  it("reads etcd's size from the API server's metrics, summed over its etcd clusters", () => {
    const metrics = [
      "# HELP apiserver_storage_size_bytes [STABLE] Size of the storage database file physically allocated in bytes.",
      "# TYPE apiserver_storage_size_bytes gauge",
      'apiserver_storage_size_bytes{storage_cluster_id="etcd-0"} 966656',
      'apiserver_storage_size_bytes_other{x="y"} 5',
    ].join("\n");
    expect(metricValue(metrics, "apiserver_storage_size_bytes")).to.equal(966656);
    expect(metricValue(metrics, "etcd_db_total_size_in_bytes")).to.equal(undefined);
    expect(formatBytes(966656)).to.equal("944 KiB");
    expect(formatBytes(1_468_006)).to.equal("1.4 MiB");
    expect(formatAge("2026-12-02T02:59:15Z", new Date("2026-12-02T03:00:00Z"))).to.equal("45s");
  });
});
