// Two real operator processes share one Lease: one acts, the other takes over within 20 s, never both at once.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { killGroup } from "../../../bootstrap/controlplane/process.ts";
import { ADDON_CATALOGS } from "../../../operator/api/addons/catalog.ts";
import { RUN_FLAG_DEFAULTS } from "../../../operator/flags.ts";
import { resourcePath } from "../../../operator/runtime/client.ts";
import { LAST_CHANCE_MS, LeaderElector } from "../../../operator/runtime/leader.ts";
import { silentOperatorLogger } from "../../../operator/runtime/log.ts";
import { writeAddonBundles } from "../../../bootstrap/kube/addon-bundles.ts";
import { isNotFound } from "../../../operator/errors.ts";
import { controlPlane, ENVTEST_NODES, waitFor } from "../../envtest/index.ts";
import {
  adminClient,
  applyLabCluster,
  deleteLabCluster,
  impersonating,
  installCrds,
  labClusterStatus,
  OperatorProcess,
} from "./helpers.ts";

/** The operator processes' lease timing (their flag defaults), in ms: every bound below is derived from it. */
const LEASE_MS = RUN_FLAG_DEFAULTS.leaseDuration * 1000;
const RETRY_MS = RUN_FLAG_DEFAULTS.retryPeriod * 1000;
const RENEW_DEADLINE_MS = RUN_FLAG_DEFAULTS.renewDeadline * 1000;
/** A candidate's Lease requests time out after two retry periods (operator/runtime/leader.ts). */
const REQUEST_MS = 2 * RETRY_MS;
/** How long the pause lasts: past the lease, so the Lease has expired when the process resumes. */
const PAUSE_MS = 2 * LEASE_MS;

async function leaderMetric(replica: OperatorProcess): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`)).text();
    const match = /^kubelab_leader (\d+)/m.exec(text);
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined; // not serving (killed, or stopping)
  }
}

async function readConfigMap(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return await adminClient().get(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

describe("leader election between two operator processes", function () {
  this.timeout(180_000);
  const leaseName = `kubelab-operator-${randomBytes(3).toString("hex")}`;
  const replicas: OperatorProcess[] = [];
  const samples: { at: number; leaders: string[] }[] = [];
  let sampling: NodeJS.Timeout | undefined;

  async function startReplica(identity: string): Promise<OperatorProcess> {
    const replica = await OperatorProcess.start(controlPlane(), identity, [
      "--leader-election-id",
      leaseName,
      "--identity",
      identity,
      "--log-level",
      "debug",
    ]);
    replicas.push(replica);
    return replica;
  }

  async function lease(name = leaseName) {
    return adminClient().get<{
      spec?: { holderIdentity?: string; renewTime?: string; leaseTransitions?: number };
    }>(
      resourcePath({
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        namespace: "default",
        name,
      }),
    );
  }

  async function holder(): Promise<string | undefined> {
    return (await lease()).spec?.holderIdentity ?? undefined;
  }

  before(async () => {
    await installCrds();
    await applyLabCluster("failover", {
      nodes: { expected: [{ name: ENVTEST_NODES.controlPlane, role: "control-plane" }] },
    });
    // Every 100 ms: which replicas say they lead. Two at once would be the failure this suite exists for.
    sampling = setInterval(() => {
      void Promise.all(
        replicas.filter((r) => r.process.running).map(async (r) => [r.name, await leaderMetric(r)] as const),
      ).then((values) =>
        samples.push({
          at: Date.now(),
          leaders: values.filter(([, value]) => value === 1).map(([id]) => id),
        }),
      );
    }, 100);
  });

  after(async () => {
    clearInterval(sampling);
    await Promise.all(replicas.map((replica) => replica.process.stop()));
    await deleteLabCluster("failover");
  });

  it("elects one leader, keeps the other standing by and ready", async () => {
    const a = await startReplica("replica-a");
    await waitFor(
      "replica-a to lead",
      async () => (await holder()) === "replica-a" && (await leaderMetric(a)) === 1,
    );
    await waitFor(
      "the leader to reconcile",
      async () => (await labClusterStatus("failover")).nodeSummary === "1/1",
    );
    const b = await startReplica("replica-b");
    await waitFor("replica-b ready as a standby", async () => {
      const ready = await fetch(`http://127.0.0.1:${b.healthPort}/readyz`);
      return ready.status === 200;
    });
    expect(await leaderMetric(b)).to.equal(0);
    expect(await holder()).to.equal("replica-a");
  });

  it("fails over within the lease and two retries when the leader is killed, without overlap", async () => {
    const [a, b] = replicas as [OperatorProcess, OperatorProcess];
    const killedAt = Date.now();
    killGroup(a.process.pid, "SIGKILL");
    await a.process.exited;
    await waitFor(
      "replica-b to lead",
      async () => (await holder()) === "replica-b" && (await leaderMetric(b)) === 1,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    const tookOverAfterMs = Date.now() - killedAt;
    const acquiredAt = b.loggedAt("leader election: acquired the lease; starting to act")!;
    process.stderr.write(`      failover after SIGKILL: ${(tookOverAfterMs / 1000).toFixed(1)} s\n`);
    // The standby saw the last renewal at most a retry after it was made, waited out the lease from then,
    // and took the Lease at its next retry (one request).
    expect(tookOverAfterMs).to.be.at.most(LEASE_MS + 2 * RETRY_MS + REQUEST_MS);
    expect(acquiredAt, "the new leader started only after the old one died").to.be.greaterThan(killedAt);
    // The standby waited out the lease from its sight of the last renewal, made at most a retry before the kill.
    expect(acquiredAt - killedAt).to.be.at.least(LEASE_MS - RETRY_MS);

    // The new leader acts: a spec change is reconciled by it.
    await applyLabCluster("failover", {
      nodes: {
        expected: [
          { name: ENVTEST_NODES.controlPlane, role: "control-plane" },
          { name: ENVTEST_NODES.workers[0], role: "worker" },
        ],
      },
    });
    await waitFor(
      "replica-b to reconcile",
      async () => (await labClusterStatus("failover")).nodeSummary === "2/2",
    );
  });

  it("hands over at once on SIGTERM: in-flight work finishes, the Lease is released, the standby takes it", async () => {
    const b = replicas[1]!;
    const c = await startReplica("replica-c");
    await waitFor(
      "replica-c ready as a standby",
      async () => (await fetch(`http://127.0.0.1:${c.healthPort}/readyz`)).status === 200,
    );
    const stoppedAt = Date.now();
    const exit = await b.process.stop();
    expect(exit.code, "a clean exit").to.equal(0);
    await waitFor("replica-c to lead", async () => (await holder()) === "replica-c", {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    const handedOverAfterMs = Date.now() - stoppedAt;
    process.stderr.write(`      hand-over after SIGTERM: ${(handedOverAfterMs / 1000).toFixed(1)} s\n`);
    // No waiting out the lease: the standby's next retry, and its request.
    expect(handedOverAfterMs, "no waiting out the lease").to.be.at.most(RETRY_MS + REQUEST_MS);
    // The Lease shows the new holder before its process has written its log line: wait for the line.
    const controllersStopped = b.loggedAt("controller stopped")!;
    const released = b.loggedAt("leader election: released the lease")!;
    const acquired = await waitFor("replica-c to log that it leads", () =>
      c.loggedAt("leader election: acquired the lease; starting to act"),
    );
    expect(controllersStopped).to.be.at.most(released);
    expect(released).to.be.at.most(acquired);
  });

  it("leads again at once when resumed after a pause past its lease with no other candidate: restores within 2 s", async function () {
    this.timeout(PAUSE_MS + 60_000);
    const c = replicas[2]!;
    expect(await holder()).to.equal("replica-c");
    // A bundled object of Calico's the operator restores (and a bundle of nothing else).
    const config = ADDON_CATALOGS.calico.find((entry) => entry.kind === "ConfigMap")!;
    const object = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: config.name, namespace: config.namespace! },
      data: { veth_mtu: "0" },
    };
    const objectPath = resourcePath({
      group: "",
      version: "v1",
      plural: "configmaps",
      namespace: config.namespace,
      name: config.name,
    });
    await adminClient().apply(objectPath, object, "kubelab-tests");
    await writeAddonBundles(controlPlane().kubeConfig, [{ addon: "calico", objects: [object] }], {
      namespace: "default",
      signal: AbortSignal.timeout(60_000),
      timeoutMs: 60_000,
    });
    await waitFor("CalicoHealthy=True", async () =>
      (await labClusterStatus("failover")).conditions?.some(
        (cond) => cond.type === "CalicoHealthy" && cond.status === "True",
      ),
    );
    const transitions = (await lease()).spec?.leaseTransitions;
    process.kill(c.process.pid, "SIGSTOP");
    let resumedAt: number;
    try {
      await adminClient().delete(objectPath);
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    } finally {
      process.kill(c.process.pid, "SIGCONT");
      resumedAt = Date.now();
    }
    await waitFor("calico-config restored", async () => (await readConfigMap(objectPath)) !== undefined, {
      timeoutMs: LEASE_MS + 2 * RETRY_MS,
      intervalMs: 50,
    });
    const restoredAfterMs = Date.now() - resumedAt;
    process.stderr.write(
      `      resume -> first restore after a ${PAUSE_MS / 1000} s pause: ${(restoredAfterMs / 1000).toFixed(2)} s\n`,
    );
    expect(restoredAfterMs, "resume -> first restore").to.be.at.most(2000);
    expect(c.process.running, "the process went on, it did not exit and restart").to.equal(true);
    expect((await lease()).spec).to.include({ holderIdentity: "replica-c", leaseTransitions: transitions });
    // It renewed at its deadline, on resuming (the line may reach the log file after the restore is seen).
    const renewedAt = await waitFor("the renewal at the deadline in replica-c's log", () =>
      c.loggedAt("leader election: renewed at the deadline; still leading"),
    );
    expect(renewedAt).to.be.greaterThan(resumedAt - 1000);
  });

  it("never had two replicas claiming to lead at the same moment", () => {
    expect(samples.length).to.be.greaterThan(100);
    const overlaps = samples.filter((sample) => sample.leaders.length > 1);
    expect(overlaps).to.deep.equal([]);
  });

  it("a leader that cannot renew stops acting before anyone may take the Lease", async () => {
    const user = "kubelab-test-elector";
    const name = `${leaseName}-deadline`;
    const rbac = (plural: string, objectName?: string) =>
      resourcePath({
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural,
        namespace: "default",
        ...(objectName === undefined ? {} : { name: objectName }),
      });
    const client = adminClient();
    await client.create(rbac("roles"), {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: user },
      rules: [
        { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
      ],
    });
    await client.create(rbac("rolebindings"), {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: user },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: user },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    });
    const elector = (identity: string, kube = client) =>
      new LeaderElector({ client: kube, namespace: "default", name, identity, log: silentOperatorLogger() });
    const stopAll = new AbortController();
    let stoppedActingAt = 0;
    let otherStartedAt = 0;
    try {
      const doomed = elector("doomed", impersonating(controlPlane(), user));
      let leading = false;
      const doomedRun = doomed.run(stopAll.signal, (leadership) => {
        leading = true;
        leadership.addEventListener("abort", () => (stoppedActingAt = Date.now()), { once: true });
      });
      await waitFor("the first elector to lead", () => leading);
      const other = elector("other");
      const otherRun = other.run(stopAll.signal, () => (otherStartedAt = Date.now()));
      // Proof the other campaigned against a renewing leader: the leader renewed twice since (a retry
      // apart, so the other has tried in between at least once).
      const renewals = new Set<string>();
      await waitFor(
        "two renewals while the other campaigns",
        async () => {
          renewals.add((await lease(name)).spec?.renewTime ?? "");
          return renewals.size >= 3;
        },
        { timeoutMs: 4 * RETRY_MS, intervalMs: 100 },
      );
      expect(otherStartedAt, "no take-over while the leader renews").to.equal(0);

      const revokedAt = Date.now();
      await client.delete(rbac("rolebindings", user));
      expect(await doomedRun).to.equal("lost");
      await waitFor("the other elector to lead", () => otherStartedAt > 0, {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      process.stderr.write(
        `      renewals refused: stopped acting after ${((stoppedActingAt - revokedAt) / 1000).toFixed(1)} s, ` +
          `the other took over after ${((otherStartedAt - revokedAt) / 1000).toFixed(1)} s\n`,
      );
      // The last renewal was before the revocation: renewDeadline from it, and the last attempt at the deadline.
      expect(stoppedActingAt - revokedAt, "within the renew deadline of the last renewal").to.be.at.most(
        RENEW_DEADLINE_MS + LAST_CHANCE_MS,
      );
      expect(otherStartedAt, "the other started only after the leader stopped").to.be.greaterThan(
        stoppedActingAt,
      );
      stopAll.abort();
      await otherRun;
    } finally {
      stopAll.abort();
      await client.delete(rbac("roles", user));
      await client.delete(rbac("rolebindings", user));
    }
  });
});
