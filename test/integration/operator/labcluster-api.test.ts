// The LabCluster CRD on a real API server: invalid objects rejected naming the field, defaults, printer columns.
import { expect } from "chai";

import { ApiError } from "../../../operator/errors.ts";
import { labClusterPath, LABCLUSTERS_PATH } from "../../../operator/labcluster/cache.ts";
import { controlPlane } from "../../envtest/index.ts";
import { adminClient, deleteLabCluster, installCrds } from "./helpers.ts";

/** Creates a LabCluster with `spec` and returns the API server's error message (or undefined if accepted). */
async function createError(name: string, spec: unknown): Promise<string | undefined> {
  try {
    await adminClient().create(LABCLUSTERS_PATH, {
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "LabCluster",
      metadata: { name },
      spec,
    });
    await deleteLabCluster(name);
    return undefined;
  } catch (error) {
    if (error instanceof ApiError && error.statusCode === 422) return error.message;
    throw error;
  }
}

describe("LabCluster API on the API server", () => {
  before(async () => {
    await installCrds();
  });

  const invalid: [string, unknown, string, RegExp][] = [
    [
      "an unknown remediation",
      { nodeHealth: { remediation: "Reboot" } },
      "spec.nodeHealth.remediation",
      /supported values: "None", "Cordon", "Drain"/,
    ],
    [
      "a bad enum (node role)",
      { nodes: { expected: [{ name: "w1-k8s", role: "master" }] } },
      "spec.nodes.expected[0].role",
      /Unsupported value: "master"/,
    ],
    [
      "a negative number",
      { nodeHealth: { leaseStaleSeconds: -3 } },
      "spec.nodeHealth.leaseStaleSeconds",
      /greater than or equal to 5/,
    ],
    [
      "a negative drain timeout",
      { nodeHealth: { drainTimeoutSeconds: -1 } },
      "spec.nodeHealth.drainTimeoutSeconds",
      /greater than or equal to 10/,
    ],
    [
      "a bad percent",
      { nodeHealth: { maxUnhealthy: "140%" } },
      "spec.nodeHealth.maxUnhealthy",
      /percentage from 0% to 100%/,
    ],
    [
      "a negative maxUnhealthy",
      { nodeHealth: { maxUnhealthy: -1 } },
      "spec.nodeHealth.maxUnhealthy",
      /count >= 0/,
    ],
    [
      "a percent without %",
      { nodeHealth: { maxUnhealthy: "40" } },
      "spec.nodeHealth.maxUnhealthy",
      /percentage/,
    ],
    [
      "an unknown addon mode",
      { addons: { coredns: { mode: "Sometimes" } } },
      "spec.addons.coredns.mode",
      /Unsupported value/,
    ],
    [
      "a schedule that is not cron",
      { etcdBackup: { schedule: "every day" } },
      "spec.etcdBackup.schedule",
      /should match/,
    ],
    [
      "a duplicate expected node",
      {
        nodes: {
          expected: [
            { name: "a", role: "worker" },
            { name: "a", role: "worker" },
          ],
        },
      },
      "spec.nodes.expected[1]",
      /Duplicate value/,
    ],
  ];
  for (const [what, spec, field, detail] of invalid) {
    it(`rejects ${what} with a message naming ${field}`, async () => {
      const message = await createError("invalid", spec);
      expect(message, "the API server accepted it").to.be.a("string");
      expect(message).to.contain(`${field}: `);
      expect(message).to.match(detail);
    });
  }

  it("fills every default of an empty spec on the server", async () => {
    const client = adminClient();
    await client.create(LABCLUSTERS_PATH, {
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "LabCluster",
      metadata: { name: "defaults" },
    });
    try {
      const object = await client.get<{ spec: Record<string, Record<string, unknown>> }>(
        labClusterPath("defaults"),
      );
      expect(object.spec.nodeHealth).to.deep.equal({
        leaseStaleSeconds: 20,
        notReadySeconds: 0,
        remediation: "None",
        maxUnhealthy: 1,
        drainTimeoutSeconds: 300,
      });
      expect(object.spec.etcdBackup).to.include({ schedule: "0 */6 * * *", retain: 7, verify: true });
    } finally {
      await deleteLabCluster("defaults");
    }
  });

  it("accepts a percentage and a count for maxUnhealthy", async () => {
    expect(await createError("percent", { nodeHealth: { maxUnhealthy: "40%" } })).to.equal(undefined);
    expect(await createError("count", { nodeHealth: { maxUnhealthy: 3 } })).to.equal(undefined);
  });

  it("serves the status subresource: the main resource ignores status writes", async () => {
    const client = adminClient();
    await client.create(LABCLUSTERS_PATH, {
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "LabCluster",
      metadata: { name: "subresource" },
      status: { readyNodes: 9 },
    });
    try {
      const object = await client.get<{ status?: unknown }>(labClusterPath("subresource"));
      expect(object.status).to.equal(undefined);
    } finally {
      await deleteLabCluster("subresource");
    }
  });

  it("shows the printer columns in kubectl get labclusters", async () => {
    const client = adminClient();
    await client.create(LABCLUSTERS_PATH, {
      apiVersion: "kubelab.dev/v1alpha1",
      kind: "LabCluster",
      metadata: { name: "columns" },
    });
    try {
      await client.apply(
        labClusterPath("columns", "status"),
        {
          apiVersion: "kubelab.dev/v1alpha1",
          kind: "LabCluster",
          metadata: { name: "columns" },
          status: {
            nodeSummary: "2/3",
            conditions: [
              {
                type: "Ready",
                status: "False",
                reason: "NodesUnhealthy",
                message: "",
                lastTransitionTime: "2026-01-01T00:00:00Z",
              },
              {
                type: "CalicoHealthy",
                status: "True",
                reason: "Healthy",
                message: "",
                lastTransitionTime: "2026-01-01T00:00:00Z",
              },
            ],
          },
        },
        "kubelab-tests",
      );
      const table = await controlPlane().kubectl(["get", "labclusters", "columns"]);
      const [header, row] = table.trim().split("\n");
      expect(header?.split(/\s{2,}/)).to.deep.equal([
        "NAME",
        "READY",
        "NODES",
        "CALICO",
        "COREDNS",
        "LAST BACKUP",
        "AGE",
      ]);
      expect(row).to.match(/^columns\s+False\s+2\/3\s+True\s+/);
    } finally {
      await deleteLabCluster("columns");
    }
  });
});
