// The LabCluster bootstrap applies (from lab.yaml), and how bootstrap reads one back: readiness, summary, next backup.
import { expect } from "chai";

import { labClusterSpecSchema, type LabClusterStatus } from "../../../operator/api/labcluster.ts";
import {
  describeLabCluster,
  labClusterFor,
  nextBackupTime,
  readinessOf,
  waitingLine,
  type LiveLabCluster,
} from "../../../bootstrap/kube/labcluster.ts";
import { labOf } from "../helpers.ts";

const NOW = new Date("2026-11-26T23:10:00Z");

function condition(type: string, status: "True" | "False" | "Unknown", reason = "Reason", message = "m") {
  return { type, status, reason, message, lastTransitionTime: "2026-11-26T23:00:00Z" };
}

function live(status: LabClusterStatus | undefined, generation = 1): LiveLabCluster {
  return {
    metadata: { name: "kubelab", generation },
    spec: { etcdBackup: { schedule: "0 */6 * * *" } },
    ...(status === undefined ? {} : { status }),
  };
}

describe("kube/labcluster", () => {
  describe("labClusterFor", () => {
    it("names it after the lab and expects every node of lab.yaml with its role", () => {
      const object = labClusterFor(labOf({ name: "lab2", workers: { count: 2 } }));
      expect(object.apiVersion).to.equal("kubelab.dev/v1alpha1");
      expect(object.kind).to.equal("LabCluster");
      expect(object.metadata.name).to.equal("lab2");
      expect(object.spec.nodes?.expected).to.deep.equal([
        { name: "m-k8s", role: "control-plane" },
        { name: "w1-k8s", role: "worker" },
        { name: "w2-k8s", role: "worker" },
      ]);
    });

    it("takes the backup schedule and retention from lab.yaml's backup section", () => {
      const object = labClusterFor(labOf({ backup: { schedule: "15 3 * * *", retain: 3 } }));
      expect(object.spec.etcdBackup).to.deep.equal({ schedule: "15 3 * * *", retain: 3 });
    });

    it("is a valid LabCluster spec whose other fields are the CRD's defaults (not owned by bootstrap)", () => {
      const object = labClusterFor(labOf());
      const parsed = labClusterSpecSchema.safeParse(object.spec);
      expect(parsed.success, parsed.success ? "" : parsed.error.message).to.equal(true);
      expect(parsed.data?.addons.calico).to.deep.equal({ unavailableSeconds: 180 });
      expect(parsed.data?.nodeHealth.remediation).to.equal("None");
      expect(parsed.data?.etcdBackup.hostPath).to.equal("/var/lib/kubelab/etcd-backups");
      expect(Object.keys(object.spec).sort()).to.deep.equal(["cni", "etcdBackup", "nodes"]);
    });

    it("names the CNI the lab runs, the default one included, so the operator guards that one", () => {
      expect(labClusterFor(labOf()).spec.cni).to.equal("calico");
      expect(labClusterFor(labOf({ network: { cni: "kube-router" } })).spec.cni).to.equal("kube-router");
      // lab.yaml without network.cni on a kit-fed podman lab runs kube-router (labCni): so does the LabCluster.
      expect(labClusterFor(labOf({ provider: "podman", podman: { kit: true } })).spec.cni).to.equal(
        "kube-router",
      );
    });
  });

  describe("readinessOf", () => {
    it("is Ready only with Ready=True for the current generation", () => {
      const ready = { observedGeneration: 2, conditions: [condition("Ready", "True")] };
      expect(readinessOf(live(ready, 2)).ready).to.equal(true);
      expect(readinessOf(live(ready, 3))).to.include({ ready: false, stale: true });
      expect(readinessOf(live(undefined)).ready).to.equal(false);
    });

    it("names the conditions that are not True, not the informational ones", () => {
      const readiness = readinessOf(
        live({
          observedGeneration: 1,
          conditions: [
            condition("Ready", "False", "PartsUnhealthy"),
            condition("NodesHealthy", "True"),
            condition("CalicoHealthy", "False", "DaemonSetUnavailable", "calico-node 2/4 available"),
            condition("RemediationAllowed", "False", "Disabled"),
          ],
        }),
      );
      expect(readiness.ready).to.equal(false);
      expect(readiness.notTrue).to.deep.equal([
        "CalicoHealthy=False (DaemonSetUnavailable: calico-node 2/4 available)",
      ]);
      expect(waitingLine(readiness)).to.equal(
        "not Ready yet: CalicoHealthy=False (DaemonSetUnavailable: calico-node 2/4 available)",
      );
    });

    it("says when the operator has not reported yet", () => {
      expect(waitingLine(readinessOf(live(undefined)))).to.equal(
        "waiting for the operator to report on the LabCluster",
      );
    });
  });

  it("computes the next backup from the cron schedule, in UTC", () => {
    expect(nextBackupTime("0 */6 * * *", NOW)?.toISOString()).to.equal("2026-11-27T00:00:00.000Z");
    expect(nextBackupTime("15 3 * * *", NOW)?.toISOString()).to.equal("2026-11-27T03:15:00.000Z");
    expect(nextBackupTime("not a schedule", NOW)).to.equal(undefined);
  });

  it("describes a LabCluster in four lines: Ready, nodes, addons, backups", () => {
    const lines = describeLabCluster(
      live({
        observedGeneration: 1,
        conditions: [
          condition("Ready", "True"),
          condition("CalicoHealthy", "True"),
          condition("CoreDNSHealthy", "False", "DeploymentUnavailable"),
        ],
        readyNodes: 3,
        expectedNodes: 4,
        addons: { calico: { objects: 39 }, coredns: { objects: 6 } },
        backups: { lastSuccessfulTime: "2026-11-26T18:00:03Z", lastSnapshot: "kubelab-m-k8s-1", count: 2 },
      }),
      NOW,
    );
    expect(lines).to.deep.equal([
      "LabCluster kubelab: Ready=True",
      "  nodes:   3/4 ready",
      "  addons:  calico healthy (39 objects), coredns DeploymentUnavailable (6 objects)",
      "  backups: last 2026-11-26 18:00 UTC (kubelab-m-k8s-1), next 2026-11-27 00:00 UTC (0 */6 * * *), 2 kept",
    ]);
  });

  it("describes the addons of a kube-router lab by kube-router's condition, not Calico's", () => {
    const lines = describeLabCluster(
      {
        ...live({
          observedGeneration: 1,
          conditions: [
            condition("Ready", "True"),
            condition("KubeRouterHealthy", "True"),
            condition("CoreDNSHealthy", "True"),
          ],
          addons: { kubeRouter: { objects: 5 }, coredns: { objects: 6 } },
        }),
        spec: { cni: "kube-router", etcdBackup: { schedule: "0 */6 * * *" } },
      },
      NOW,
    );
    expect(lines[2]).to.equal("  addons:  kube-router healthy (5 objects), coredns healthy (6 objects)");
  });
});
