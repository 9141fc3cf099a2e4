// The plan: its steps in order, what each provider skips and why, the text --dry-run prints, and extension.
import { expect } from "chai";

import { buildPlan, formatPlan, PHASES, type PlanStep } from "../../bootstrap/plan.ts";
import type { ProviderCapabilities } from "../../bootstrap/providers/provider.ts";
import { expectGolden } from "./golden.ts";
import { labOf } from "./helpers.ts";

const VMS: ProviderCapabilities = { shell: true, installsKubernetes: true };
const SIMULATED: ProviderCapabilities = { shell: false, installsKubernetes: false };
const nothingDone = { isDone: () => false };

describe("plan", () => {
  it("orders the steps: files, VMs, nodes, kubeadm init, kubeconfig, Calico, joins, readiness", () => {
    const plan = buildPlan({ lab: labOf(), capabilities: VMS, providerName: "vagrant" });
    expect(plan.map((step) => step.id)).to.deep.equal([
      "render-files",
      "create-nodes",
      "prepare-nodes",
      "install-packages",
      "kubeadm-init",
      "fetch-kubeconfig",
      "calico",
      "join-workers",
      "nodes-ready",
    ]);
    expect(plan.filter((step) => step.skipReason !== undefined)).to.deep.equal([]);
  });

  it("runs node steps on the right nodes: every node, joins on workers only, bounded concurrency", () => {
    const plan = buildPlan({
      lab: labOf({ workers: { count: 5 } }),
      capabilities: VMS,
      providerName: "vagrant",
    });
    const byId = new Map(plan.map((step) => [step.id, step]));
    const nodes = (id: string) => {
      const step = byId.get(id);
      return step?.scope === "node" ? step.nodes.map((node) => node.name) : [];
    };
    expect(nodes("prepare-nodes")).to.have.length(6);
    expect(nodes("join-workers")).to.deep.equal(["w1-k8s", "w2-k8s", "w3-k8s", "w4-k8s", "w5-k8s"]);
    const join = byId.get("join-workers");
    expect(join?.scope === "node" && join.concurrency).to.be.within(2, 4);
    const create = byId.get("create-nodes");
    expect(create?.scope === "node" && create.concurrency).to.equal(1);
  });

  it("shows the steps a shell-less provider cannot do as skipped, with the reason", () => {
    const plan = buildPlan({ lab: labOf(), capabilities: SIMULATED, providerName: "sim" });
    const skipped = Object.fromEntries(plan.filter((s) => s.skipReason).map((s) => [s.id, s.skipReason]));
    expect(skipped).to.deep.equal({
      "prepare-nodes": "the sim provider has no node shell",
      "install-packages": "the sim provider runs Kubernetes itself (no kubeadm)",
      "kubeadm-init": "the sim provider runs Kubernetes itself (no kubeadm)",
      "join-workers": "the sim provider runs Kubernetes itself (no kubeadm)",
    });
    const kept = plan.filter((s) => !s.skipReason).map((s) => s.id);
    expect(kept).to.deep.equal(["render-files", "create-nodes", "fetch-kubeconfig", "calico", "nodes-ready"]);
  });

  it("a provider with a shell that does not install Kubernetes skips only the kubeadm steps", () => {
    const plan = buildPlan({
      lab: labOf(),
      capabilities: { shell: true, installsKubernetes: false },
      providerName: "kind",
    });
    expect(plan.filter((s) => s.skipReason).map((s) => s.id)).to.deep.equal([
      "install-packages",
      "kubeadm-init",
      "join-workers",
    ]);
  });

  it("prints the plan --dry-run shows (golden), marking done steps from state", async () => {
    const one = buildPlan({
      lab: labOf({ workers: { count: 1 } }),
      capabilities: VMS,
      providerName: "vagrant",
    });
    const sim = buildPlan({ lab: labOf({ provider: "sim" }), capabilities: SIMULATED, providerName: "sim" });
    const someDone = {
      isDone: (key: string) => ["create-nodes:m-k8s", "create-nodes:w1-k8s", "kubeadm-init"].includes(key),
    };
    await expectGolden(
      "plan",
      new Map([
        [
          "default.txt",
          `${formatPlan(buildPlan({ lab: labOf(), capabilities: VMS, providerName: "vagrant" }), nothingDone).join("\n")}\n`,
        ],
        ["one-worker-partly-done.txt", `${formatPlan(one, someDone).join("\n")}\n`],
        ["sim.txt", `${formatPlan(sim, nothingDone).join("\n")}\n`],
      ]),
    );
  });

  it("is extended by appending a phase: later issues add their steps at the end", () => {
    const extra = (): PlanStep => ({
      id: "operator",
      title: "Install the operator",
      scope: "lab",
      run: () => Promise.resolve(),
    });
    const plan = buildPlan({ lab: labOf(), capabilities: VMS, providerName: "vagrant" }, [...PHASES, extra]);
    expect(plan.at(-1)?.id).to.equal("operator");
    expect(plan).to.have.length(PHASES.length + 1);
  });

  it("is pure: building it twice gives the same steps and touches nothing", () => {
    const a = buildPlan({ lab: labOf(), capabilities: VMS, providerName: "vagrant" });
    const b = buildPlan({ lab: labOf(), capabilities: VMS, providerName: "vagrant" });
    expect(formatPlan(a, nothingDone)).to.deep.equal(formatPlan(b, nothingDone));
  });
});
