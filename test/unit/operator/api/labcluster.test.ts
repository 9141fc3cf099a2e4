// The LabCluster zod schema: defaults, accepted and rejected values, the same rules the CRD carries.
import { expect } from "chai";

import {
  labClusterSchema,
  labClusterSpecSchema,
  labClusterStatusSchema,
} from "../../../../operator/api/labcluster.ts";

describe("LabCluster schema", () => {
  it("fills every default from an empty spec, as the API server does", () => {
    const spec = labClusterSpecSchema.parse({});
    expect(spec.nodes.expected).to.deep.equal([]);
    expect(spec.nodeHealth).to.deep.equal({
      leaseStaleSeconds: 20,
      notReadySeconds: 0,
      remediation: "None",
      maxUnhealthy: 1,
      drainTimeoutSeconds: 300,
    });
    expect(spec.addons.calico).to.deep.equal({ unavailableSeconds: 180 });
    expect(spec.addons.coredns.mode).to.equal(undefined);
    expect(spec.etcdBackup).to.deep.equal({
      schedule: "0 */6 * * *",
      retain: 7,
      hostPath: "/var/lib/kubelab/etcd-backups",
      verify: true,
      suspend: false,
    });
  });

  it("keeps given values over defaults", () => {
    const spec = labClusterSpecSchema.parse({
      nodes: { expected: [{ name: "w1-k8s", role: "worker" }] },
      nodeHealth: { leaseStaleSeconds: 17, remediation: "Drain", maxUnhealthy: "40%" },
      addons: { coredns: { mode: "EnsureExists" } },
    });
    expect(spec.nodes.expected).to.deep.equal([{ name: "w1-k8s", role: "worker" }]);
    expect(spec.nodeHealth.leaseStaleSeconds).to.equal(17);
    expect(spec.nodeHealth.remediation).to.equal("Drain");
    expect(spec.nodeHealth.maxUnhealthy).to.equal("40%");
    expect(spec.addons.coredns.mode).to.equal("EnsureExists");
  });

  const rejected: [string, unknown][] = [
    ["an unknown remediation", { nodeHealth: { remediation: "Reboot" } }],
    ["a negative lease staleness", { nodeHealth: { leaseStaleSeconds: -1 } }],
    ["a lease staleness of one kubelet renewal or less (5 s)", { nodeHealth: { leaseStaleSeconds: 5 } }],
    ["a fractional lease staleness", { nodeHealth: { leaseStaleSeconds: 17.5 } }],
    ["a percentage above 100", { nodeHealth: { maxUnhealthy: "140%" } }],
    ["a percentage without %", { nodeHealth: { maxUnhealthy: "40" } }],
    ["a negative maxUnhealthy", { nodeHealth: { maxUnhealthy: -1 } }],
    ["an unknown node role", { nodes: { expected: [{ name: "a", role: "master" }] } }],
    ["an invalid node name", { nodes: { expected: [{ name: "Bad_Name", role: "worker" }] } }],
    ["an unknown addon mode", { addons: { calico: { mode: "Sometimes" } } }],
    ["a schedule that is not cron", { etcdBackup: { schedule: "every day" } }],
    ["a minute out of range", { etcdBackup: { schedule: "60 * * * *" } }],
    ["a relative backup path", { etcdBackup: { hostPath: "backups" } }],
    ["a backup path outside /var/lib/kubelab/", { etcdBackup: { hostPath: "/var/lib/kubelet/pods" } }],
    ["a backup path two levels below", { etcdBackup: { hostPath: "/var/lib/kubelab/a/b" } }],
    ["a backup path climbing out", { etcdBackup: { hostPath: "/var/lib/kubelab/.." } }],
    ["zero snapshots retained", { etcdBackup: { retain: 0 } }],
  ];
  for (const [what, spec] of rejected) {
    it(`rejects ${what}`, () => {
      expect(labClusterSpecSchema.safeParse(spec).success).to.equal(false);
    });
  }

  it("accepts every maxUnhealthy form: a count, 0%, 100%", () => {
    for (const maxUnhealthy of [0, 3, "0%", "5%", "100%"]) {
      expect(
        labClusterSpecSchema.safeParse({ nodeHealth: { maxUnhealthy } }).success,
        String(maxUnhealthy),
      ).to.equal(true);
    }
  });

  it("reads a LabCluster as the API server returns it, status included", () => {
    const labCluster = labClusterSchema.parse({
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "LabCluster",
      metadata: { name: "lab", generation: 3, uid: "u", managedFields: [] },
      spec: {},
      status: {
        observedGeneration: 3,
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "AllHealthy",
            message: "",
            lastTransitionTime: "2026-01-01T00:00:00Z",
          },
        ],
        nodes: [
          { name: "w1-k8s", role: "worker", ready: true, reason: "Healthy", since: "2026-01-01T00:00:00Z" },
        ],
      },
    });
    expect(labCluster.metadata.generation).to.equal(3);
    expect(labCluster.status?.nodes?.[0]?.name).to.equal("w1-k8s");
  });

  it("rejects a condition status other than True, False, Unknown", () => {
    const status = {
      conditions: [
        {
          type: "Ready",
          status: "Yes",
          reason: "X",
          message: "",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
    };
    expect(labClusterStatusSchema.safeParse(status).success).to.equal(false);
  });
});
