// manifests/ RBAC against what the operator calls: its scenarios run as the ServiceAccount on the real API server.
//
// The operator runs in-process with the client main.ts gives it, acting as
// system:serviceaccount:kubelab-system:kubelab-operator through impersonation, after `kubectl apply -k
// manifests/`: a rule the manifests miss is a 403 the server sends. Every request is recorded (verb, group,
// resource, namespace, name) and, once the scenarios ran, compared with the manifests' grants: a grant that
// nothing used fails too. When a part of the operator is added, its scenario is added here.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PassThrough } from "node:stream";
import { createWriteStream } from "node:fs";
import { expect } from "chai";

import {
  BUNDLE_LABEL,
  decodeBundle,
  OPERATOR_NAMESPACE,
  type AddonName,
  type BundleObject,
  type StoredConfigMap,
} from "../../operator/api/addons/bundle.ts";
import type { Cni, LabClusterSpecInput } from "../../operator/api/labcluster.ts";
import { REMEDIATION_ANNOTATION } from "../../operator/labcluster/nodes/cache.ts";
import { createOperator } from "../../operator/operator.ts";
import { ContentType, resourcePath } from "../../operator/runtime/client.ts";
import { impersonate } from "../../operator/runtime/kubeconfig.ts";
import { createOperatorLogger } from "../../operator/runtime/log.ts";
import { RuntimeMetrics } from "../../operator/runtime/metrics.ts";
import { writeAddonBundles } from "../../bootstrap/kube/addon-bundles.ts";
import { renderKubeRouter } from "../../bootstrap/kube/kube-router.ts";
import { labOf } from "../unit/helpers.ts";
import { controlPlane, createNamespace, deleteNamespace, ENVTEST_NODES, waitFor } from "../envtest/index.ts";
import { compareWithGrants, grantsFromManifests } from "../rbac/grants.ts";
import { RecordingKubeClient } from "../rbac/recorder.ts";
import { describeAttributes, requestAttributes } from "../rbac/requests.ts";
import {
  applyAsBootstrap,
  calicoObjects,
  coreDnsObjects,
  deleteAndWaitRestored,
  kubeadmConfigObject,
  pathOf,
  readObject,
  waitWorkloadsAvailable,
} from "./addons-fixtures.ts";
import {
  adminClient,
  adminConnection,
  applyLabCluster,
  deleteLabCluster,
  labClusterStatus,
} from "./operator/helpers.ts";

const MANIFESTS = fileURLToPath(new URL("../../manifests/", import.meta.url));
const SERVICE_ACCOUNT = { namespace: OPERATOR_NAMESPACE, name: "kubelab-operator" };
const USER = `system:serviceaccount:${SERVICE_ACCOUNT.namespace}:${SERVICE_ACCOUNT.name}`;
const LAB = "rbac";
const ADDON_RULES = "ClusterRole kubelab-operator-addon-rules";
const RBAC_GROUP = "rbac.authorization.k8s.io";
const [W1] = ENVTEST_NODES.workers;

const nodePath = (name: string) => resourcePath({ group: "", version: "v1", plural: "nodes", name });

/** A client of the operator's own kind acting as its ServiceAccount, recording every request. */
function operatorClient(): RecordingKubeClient {
  return new RecordingKubeClient(impersonate(adminConnection(), USER));
}

function spec(addonMode: "Reconcile" | "EnsureExists" | undefined, cni: Cni = "calico"): LabClusterSpecInput {
  const mode = addonMode === undefined ? {} : { mode: addonMode };
  return {
    cni,
    nodes: {
      expected: [
        { name: ENVTEST_NODES.controlPlane, role: "control-plane" },
        ...ENVTEST_NODES.workers.map((name) => ({ name, role: "worker" as const })),
      ],
    },
    nodeHealth: { leaseStaleSeconds: 10, remediation: "Drain", maxUnhealthy: 1, drainTimeoutSeconds: 10 },
    addons: { calico: mode, kubeRouter: mode, coredns: mode },
  };
}

describe("RBAC of manifests/ against the calls the operator makes", function () {
  this.timeout(10 * 60_000);
  const calico = calicoObjects();
  const kubeRouter = renderKubeRouter(labOf({ network: { cni: "kube-router" } })) as BundleObject[];
  let coredns: BundleObject[] = [];
  let client: RecordingKubeClient;
  let stopOperator: (() => Promise<void>) | undefined;
  let workloads: string | undefined;
  let hadKubeadmConfig = true;
  let kubeadmConfig: BundleObject;

  before(async () => {
    const plane = controlPlane();
    await plane.kubectl(["apply", "--server-side", "--force-conflicts", "-k", MANIFESTS]);
    await plane.kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      "crd/labclusters.kubelab.dev",
    ]);
    coredns = coreDnsObjects();
    kubeadmConfig = kubeadmConfigObject();
    hadKubeadmConfig = (await readObject(kubeadmConfig)) !== undefined;
  });

  after(async () => {
    await stopOperator?.();
    await deleteLabCluster(LAB).catch(() => undefined);
    if (workloads !== undefined) await deleteNamespace(workloads);
    if (!hadKubeadmConfig) await adminClient().delete(await pathOf(kubeadmConfig));
    const plane = controlPlane();
    await plane.startHeartbeats(W1);
    await adminClient()
      .mergePatch(nodePath(W1), {
        metadata: { annotations: { [REMEDIATION_ANNOTATION]: null } },
        spec: { unschedulable: null },
      })
      .catch(() => undefined);
  });

  it("the Deployment's pods pass the namespace's restricted Pod Security admission; a privileged pod does not", async () => {
    const admin = adminClient();
    const pods = resourcePath({ group: "", version: "v1", plural: "pods", namespace: OPERATOR_NAMESPACE });
    await waitFor(
      "the operator Deployment's 2 pods",
      async () => {
        const list = await admin.get<{ items: unknown[] }>(pods, {
          query: { labelSelector: "app.kubernetes.io/name=kubelab-operator" },
        });
        return list.items.length === 2;
      },
      { timeoutMs: 60_000 },
    );
    try {
      await admin.create(
        pods,
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "privileged" },
          spec: {
            hostNetwork: true,
            containers: [{ name: "c", image: "busybox", securityContext: { privileged: true } }],
          },
        },
        { query: { dryRun: "All" } },
      );
      expect.fail("a privileged pod must be refused in kubelab-system");
    } catch (error) {
      expect((error as { statusCode?: number }).statusCode).to.equal(403);
      expect((error as Error).message).to.contain('violates PodSecurity "restricted:latest"');
    }
    // The Deployment's pods are kwok's stand-ins: out of the way of the node drains below.
    await controlPlane().kubectl([
      "-n",
      OPERATOR_NAMESPACE,
      "delete",
      "deployment,poddisruptionbudget",
      "kubelab-operator",
      "--wait=true",
    ]);
  });

  it("acts as the ServiceAccount: a call the manifests do not grant is refused (403) and recorded", async () => {
    const probe = operatorClient();
    try {
      await probe.delete(nodePath(W1));
      expect.fail("deleting a node must be forbidden");
    } catch (error) {
      expect((error as { statusCode?: number }).statusCode).to.equal(403);
    }
    expect(probe.forbidden().map((call) => describeAttributes(call.attributes))).to.deep.equal([
      `delete nodes ${W1} (cluster-wide)`,
    ]);
    const grants = await grantsFromManifests([join(MANIFESTS, "rbac.yaml")], SERVICE_ACCOUNT);
    expect(
      compareWithGrants([requestAttributes("DELETE", nodePath(W1))], [], grants).ungranted,
    ).to.deep.equal([`delete nodes ${W1} (cluster-wide)`]);
  });

  it("runs every part's scenarios with nothing forbidden, and uses every rule the manifests grant", async () => {
    const plane = controlPlane();
    const admin = adminClient();
    // What bootstrap does after Calico and CoreDNS exist: the addons applied, their bundles written.
    await applyAsBootstrap([...calico, ...coredns]);
    await writeAddonBundles(
      plane.kubeConfig,
      [
        { addon: "calico", objects: calico },
        { addon: "coredns", objects: coredns },
      ],
      { namespace: OPERATOR_NAMESPACE, signal: AbortSignal.timeout(60_000), timeoutMs: 60_000 },
    );
    await waitWorkloadsAvailable([...calico, ...coredns]);

    client = operatorClient();
    const logStream = new PassThrough();
    logStream.pipe(createWriteStream(join(plane.logsDir, "operator-rbac.log"), { flags: "a" }));
    const operator = createOperator({
      client,
      log: createOperatorLogger({ level: "debug", stream: logStream, defaultMeta: { operator: "rbac" } }),
      metrics: new RuntimeMetrics(),
      namespace: OPERATOR_NAMESPACE,
      identity: "rbac-test",
      leaderElection: {
        namespace: OPERATOR_NAMESPACE,
        name: "kubelab-operator",
        identity: "rbac-test",
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
      },
    });
    const abort = new AbortController();
    const running = operator.run(abort.signal);
    stopOperator = async () => {
      stopOperator = undefined;
      abort.abort();
      await running;
    };

    try {
      // LabCluster: status written, every part healthy.
      await applyLabCluster(LAB, spec(undefined));
      await waitFor(
        "the LabCluster Ready",
        async () =>
          (await labClusterStatus(LAB)).conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        { timeoutMs: 120_000 },
      );

      // Node health with Drain: a silent worker with a pod of a Deployment on it is cordoned and drained
      // (Eviction API), then uncordoned when it recovers.
      workloads = await createNamespace("rbac-workload");
      await admin.create(
        resourcePath({ group: "apps", version: "v1", plural: "deployments", namespace: workloads }),
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web" },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: "web" } },
            template: {
              metadata: { labels: { app: "web" } },
              spec: {
                nodeSelector: { "kubernetes.io/hostname": W1 },
                containers: [{ name: "web", image: "nginx" }],
              },
            },
          },
        },
      );
      const podsOfWeb = async () =>
        (
          await admin.get<{
            items: { metadata: { name: string; deletionTimestamp?: string }; status?: { phase?: string } }[];
          }>(resourcePath({ group: "", version: "v1", plural: "pods", namespace: workloads }))
        ).items;
      await waitFor(
        "the web pod running on w1",
        async () => (await podsOfWeb()).some((pod) => pod.status?.phase === "Running"),
        {
          timeoutMs: 60_000,
        },
      );
      await plane.stopHeartbeats(W1);
      await waitFor(
        "w1 drained",
        async () => {
          const entry = (await labClusterStatus(LAB)).nodes?.find((node) => node.name === W1);
          return entry?.remediated === "Drained" || entry?.remediated === "Draining";
        },
        { timeoutMs: 60_000 },
      );
      await waitFor(
        "the web pod evicted",
        async () =>
          (await podsOfWeb()).every(
            (pod) => pod.metadata.deletionTimestamp !== undefined || pod.status?.phase !== "Running",
          ),
        {
          timeoutMs: 60_000,
        },
      );
      await plane.startHeartbeats(W1);
      await waitFor(
        "w1 uncordoned",
        async () =>
          (await admin.get<{ spec?: { unschedulable?: boolean } }>(nodePath(W1))).spec?.unschedulable !==
          true,
        { timeoutMs: 60_000 },
      );

      // Addons, in both modes: Reconcile re-creates and re-applies with server-side apply (forced),
      // EnsureExists re-creates with a server-side apply that is not forced. Every kind of bundled object,
      // and every ClusterRole and binding (the escalation check compares each with the operator's rights).
      const oneOfEachKind = (objects: readonly BundleObject[]) => {
        const seen = new Set<string>();
        return objects.filter((object) => {
          const always = object.kind === "ClusterRole" || object.kind === "ClusterRoleBinding";
          if (!always && seen.has(object.kind)) return false;
          seen.add(object.kind);
          return true;
        });
      };
      const targets = [...oneOfEachKind(calico), ...oneOfEachKind(coredns)];
      for (const mode of ["Reconcile", "EnsureExists"] as const) {
        await applyLabCluster(LAB, spec(mode));
        for (const object of targets) await deleteAndWaitRestored(object, 60_000);
      }
      // Drift in Reconcile mode: a changed DaemonSet and Deployment are re-applied.
      await applyLabCluster(LAB, spec("Reconcile"));
      for (const object of targets.filter((o) => o.kind === "DaemonSet" || o.kind === "Deployment")) {
        const path = await pathOf(object);
        const drifted = "registry.invalid/drift:1";
        await admin.request("PATCH", path, {
          body: [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: drifted }],
          contentType: ContentType.jsonPatch,
        });
        await waitFor(`${object.kind} ${object.metadata.name} re-applied`, async () => {
          const live = (await readObject(object)) as {
            spec?: { template?: { spec?: { containers?: { image?: string }[] } } };
          };
          const image = live.spec?.template?.spec?.containers?.[0]?.image;
          return image !== undefined && image !== drifted;
        });
      }
      // Capture: a cluster whose bundles are gone (one bootstrap did not make) gets them captured from its
      // live, healthy objects, CoreDNS's parameters read from kubeadm-config.
      await admin.apply(await pathOf(kubeadmConfig), kubeadmConfig, "kubelab-tests");
      const bundles = resourcePath({
        group: "",
        version: "v1",
        plural: "configmaps",
        namespace: OPERATOR_NAMESPACE,
      });
      const stored = async () =>
        (await admin.get<{ items: StoredConfigMap[] }>(bundles, { query: { labelSelector: BUNDLE_LABEL } }))
          .items;
      const captured = (addons: readonly AddonName[]) =>
        waitFor(
          `${addons.join(" and ")} captured`,
          async () => {
            const items = await stored();
            return addons.every((addon) => {
              const decoded = decodeBundle(addon, items);
              return decoded.kind === "ok" && decoded.bundle.source === "capture";
            });
          },
          { timeoutMs: 90_000 },
        );
      for (const item of await stored()) await admin.delete(`${bundles}/${item.metadata.name}`);
      await captured(["calico", "coredns"]);

      // A kube-router lab: the same restores and capture on kube-router's objects (Calico's are left alone).
      await applyLabCluster(LAB, spec(undefined, "kube-router"));
      await applyAsBootstrap(kubeRouter);
      await writeAddonBundles(plane.kubeConfig, [{ addon: "kube-router", objects: kubeRouter }], {
        namespace: OPERATOR_NAMESPACE,
        signal: AbortSignal.timeout(60_000),
        timeoutMs: 60_000,
      });
      await waitWorkloadsAvailable(kubeRouter);
      for (const mode of ["Reconcile", "EnsureExists"] as const) {
        await applyLabCluster(LAB, spec(mode, "kube-router"));
        for (const object of kubeRouter) await deleteAndWaitRestored(object, 60_000);
      }
      await applyLabCluster(LAB, spec(undefined, "kube-router"));
      const kubeRouterHead = (await stored()).find(
        (item) => item.metadata.labels?.[BUNDLE_LABEL] === "kube-router",
      );
      if (kubeRouterHead !== undefined) await admin.delete(`${bundles}/${kubeRouterHead.metadata.name}`);
      await captured(["kube-router"]);
    } catch (error) {
      // A scenario that stalls is most often a call the server refused: say which.
      const refused = client.forbidden().map((call) => describeAttributes(call.attributes));
      if (refused.length === 0) throw error;
      throw new Error(
        `${(error as Error).message}; refused as ${USER}: ${[...new Set(refused)].join("; ")}`,
        {
          cause: error,
        },
      );
    }
    await stopOperator();

    const forbidden = client.forbidden().map((call) => describeAttributes(call.attributes));
    expect(forbidden, "calls the server refused: rules manifests/rbac.yaml misses").to.deep.equal([]);
    // The addon rules are held for the escalation check, never used by a call of the operator's own.
    const grants = (await grantsFromManifests([join(MANIFESTS, "rbac.yaml")], SERVICE_ACCOUNT)).filter(
      (grant) => grant.source !== ADDON_RULES,
    );
    const ok = client.calls.filter((call) => call.status !== 403);
    const { ungranted, unused } = compareWithGrants(
      ok.map((call) => call.attributes),
      ok.flatMap((call) => call.implied),
      grants,
    );
    expect(ungranted, "calls no rule grants").to.deep.equal([]);
    expect(unused, "rules no call used: remove them, or add the scenario that needs them").to.deep.equal([]);
  });

  it("the operator's own token can neither widen calico-node to everything nor bind cluster-admin", async () => {
    const admin = adminClient();
    const probe = operatorClient();
    const refusal = async (what: string, write: () => Promise<unknown>): Promise<string> => {
      try {
        await write();
      } catch (error) {
        expect((error as { statusCode?: number }).statusCode, what).to.equal(403);
        return (error as Error).message;
      }
      return expect.fail(`${what}: the API server allowed it`);
    };
    const calicoNode = calico.find(
      (object) => object.kind === "ClusterRole" && object.metadata.name === "calico-node",
    )!;
    const everything = [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }];
    expect(
      await refusal("calico-node patched to *", async () =>
        probe.apply(await pathOf(calicoNode), { ...calicoNode, rules: everything }, "kubelab-operator", {
          force: true,
        }),
      ),
    ).to.match(/attempting to grant RBAC permissions not currently held/);
    // Under a name it may write (deleted first, so the write is a create), and under any other name.
    const binding = calico.find(
      (object) => object.kind === "ClusterRoleBinding" && object.metadata.name === "calico-tier-getter",
    )!;
    const toClusterAdmin = {
      ...binding,
      roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: "cluster-admin" },
    };
    await admin.delete(await pathOf(binding));
    try {
      expect(
        await refusal("a catalog binding to cluster-admin", async () =>
          probe.apply(await pathOf(binding), toClusterAdmin, "kubelab-operator", { force: false }),
        ),
      ).to.match(/attempting to grant RBAC permissions not currently held/);
    } finally {
      await applyAsBootstrap([binding]);
    }
    await refusal("a new binding to cluster-admin", async () =>
      probe.create(resourcePath({ group: RBAC_GROUP, version: "v1", plural: "clusterrolebindings" }), {
        ...toClusterAdmin,
        metadata: { name: "kubelab-backdoor" },
      }),
    );
    expect(await readObject({ ...toClusterAdmin, metadata: { name: "kubelab-backdoor" } })).to.equal(
      undefined,
    );
  });

  it("no aggregated default role (admin, edit) lets anyone write LabClusters or EtcdSnapshots", async () => {
    const admin = adminClient();
    const user = "kubelab-test-editor";
    const bindings = resourcePath({ group: RBAC_GROUP, version: "v1", plural: "clusterrolebindings" });
    for (const role of ["admin", "edit"]) {
      await admin.create(bindings, {
        apiVersion: `${RBAC_GROUP}/v1`,
        kind: "ClusterRoleBinding",
        metadata: { name: `${user}-${role}` },
        roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: role },
        subjects: [{ apiGroup: RBAC_GROUP, kind: "User", name: user }],
      });
    }
    const allowed = async (group: string, resource: string, verb: string, subresource?: string) => {
      const review = await admin.create<{ status?: { allowed?: boolean } }>(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user,
            resourceAttributes: {
              group,
              resource,
              verb,
              ...(subresource === undefined ? {} : { subresource }),
            },
          },
        },
      );
      return review.status?.allowed === true;
    };
    try {
      // The bindings work: the aggregated roles let the user write a ConfigMap.
      expect(await allowed("", "configmaps", "create"), "edit's own rights").to.equal(true);
      const writes: string[] = [];
      for (const resource of ["labclusters", "etcdsnapshots"]) {
        for (const verb of ["create", "update", "patch", "delete", "deletecollection"]) {
          if (await allowed("kubelab.dev", resource, verb)) writes.push(`${verb} ${resource}`);
        }
        if (await allowed("kubelab.dev", resource, "patch", "status"))
          writes.push(`patch ${resource}/status`);
      }
      expect(writes).to.deep.equal([]);
    } finally {
      for (const role of ["admin", "edit"]) await admin.delete(`${bindings}/${user}-${role}`);
    }
  });
});
