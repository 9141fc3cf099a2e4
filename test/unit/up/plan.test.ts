// The plan: its steps in order, what each provider skips and why, the text --dry-run prints, and extension.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { buildPlan, formatPlan, PHASES } from "../../../bootstrap/up/plan.ts";
import type { PlanStep, RunContext } from "../../../bootstrap/up/step.ts";
import { PlainReporter } from "../../../bootstrap/up/progress.ts";
import type { PlanCapabilities } from "../../../bootstrap/providers/provider.ts";
import { VagrantProvider } from "../../../bootstrap/providers/vagrant/provider.ts";
import { runPlan } from "../../../bootstrap/up/runner.ts";
import { expectGolden } from "../golden.ts";
import { CTR_IMPORT } from "../../../bootstrap/image/load.ts";
import { operatorArchive } from "../image/archive.ts";
import {
  FIXED_TOKEN,
  labOf,
  tempDir,
  testRunContext,
  useFakeVagrantOnPath,
  type FakeVagrant,
} from "../helpers.ts";

const VMS: PlanCapabilities = { shell: true, installsKubernetes: true, localOperator: false };
const SIMULATED: PlanCapabilities = { shell: false, installsKubernetes: false, localOperator: true };
/** The steps after the nodes are Ready: the operator and its LabCluster. */
const OPERATOR_STEPS = [
  "crds",
  "operator-image",
  "operator",
  "operator-process",
  "addon-bundles",
  "labcluster",
  "labcluster-ready",
] as const;
const nothingDone = { isDone: () => false };

describe("up/plan", () => {
  it("orders the steps: files, VMs, nodes, kubeadm init, kubeconfig, Calico, joins, readiness, then the operator and its LabCluster", () => {
    const plan = buildPlan({ lab: labOf(), capabilities: VMS, providerName: "vagrant" });
    expect(plan.map((step) => step.id)).to.deep.equal([
      "render-files",
      "create-nodes",
      "prepare-nodes",
      "install-packages",
      "kubeadm-init",
      "fetch-kubeconfig",
      "calico",
      "kube-router",
      "join-workers",
      "revoke-join-token",
      "nodes-ready",
      ...OPERATOR_STEPS,
    ]);
    // One CNI (Calico by default); a provider whose nodes run pods runs the operator's Deployment.
    expect(
      plan.filter((step) => step.skipReason !== undefined).map((step) => [step.id, step.skipReason]),
    ).to.deep.equal([
      ["kube-router", "the lab's CNI is calico (network.cni)"],
      ["operator-process", "the vagrant provider runs the operator's Deployment"],
    ]);
    // A podman lab on the offline kit runs kube-router (Calico's images are not in the kit).
    const podman = buildPlan({
      lab: labOf({ provider: "podman" }),
      capabilities: VMS,
      providerName: "podman",
    });
    expect(podman.find((step) => step.id === "calico")?.skipReason).to.equal(
      "the lab's CNI is kube-router (network.cni)",
    );
    expect(podman.find((step) => step.id === "kube-router")?.skipReason).to.equal(undefined);
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
      "install-packages": "the sim provider sets Kubernetes up itself",
      "kubeadm-init": "the sim provider sets Kubernetes up itself",
      "kube-router": "the lab's CNI is calico (network.cni)",
      "join-workers": "the sim provider sets Kubernetes up itself",
      "revoke-join-token": "the sim provider sets Kubernetes up itself",
      "operator-image": "the sim provider runs the operator on the host",
    });
    const kept = plan.filter((s) => !s.skipReason).map((s) => s.id);
    expect(kept).to.deep.equal([
      "render-files",
      "create-nodes",
      "fetch-kubeconfig",
      "calico",
      "nodes-ready",
      ...OPERATOR_STEPS.filter((id) => id !== "operator-image"),
    ]);
  });

  it("a provider with a shell that sets Kubernetes up itself skips the node preparation and the kubeadm steps", () => {
    // kind's node containers are privileged: prepare.sh there (swapoff, modprobe, sysctl) would change the host.
    const plan = buildPlan({
      lab: labOf(),
      capabilities: { shell: true, installsKubernetes: false, localOperator: false },
      providerName: "kind",
    });
    expect(plan.filter((s) => s.skipReason).map((s) => s.id)).to.deep.equal([
      "prepare-nodes",
      "install-packages",
      "kubeadm-init",
      "kube-router",
      "join-workers",
      "revoke-join-token",
      "operator-process",
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

  describe("step actions, run against the fake vagrant", () => {
    const lab = labOf({ workers: { count: 2 } });
    const HASH = `sha256:${"9a".repeat(32)}`;
    const currentFake = useFakeVagrantOnPath();
    let fake: FakeVagrant;
    beforeEach(() => {
      fake = currentFake();
    });

    function steps(...ids: string[]): PlanStep[] {
      const plan = buildPlan({ lab, capabilities: VMS, providerName: "vagrant" });
      return plan.filter((step) => ids.includes(step.id));
    }

    async function run(context: RunContext, ids: string[]): Promise<void> {
      await runPlan(steps(...ids), context, new PlainReporter(() => undefined));
    }

    async function upload(node: string, name: string): Promise<string> {
      return readFile(join(fake.dir, "uploads", node, name), "utf8");
    }

    it("joins every worker with the current token and the real CA hash while the token is valid", async () => {
      const context = await testRunContext({
        lab,
        provider: new VagrantProvider(),
        now: () => new Date("2030-01-01T00:00:00Z"),
      });
      await run(context, ["create-nodes"]);
      await context.state.setCluster({ caCertHash: HASH, joinTokenExpiresAt: "2030-01-01T01:00:00Z" });
      await run(context, ["join-workers"]);
      for (const worker of ["w1-k8s", "w2-k8s"]) {
        const script = await upload(worker, "join.sh");
        expect(script).to.contain(`token: ${FIXED_TOKEN}`).and.to.contain(`- ${HASH}`);
        expect(context.state.isDone(`join-workers:${worker}`)).to.equal(true);
      }
      const tokenScripts = (await fake.calls()).filter(
        (call) => call.argv?.[0] === "upload" && call.argv[2]?.endsWith("token.sh"),
      );
      expect(tokenScripts).to.deep.equal([]);
    });

    it("operator-image streams the image to every node once: a second up does not, a changed image does", async () => {
      const root = await tempDir();
      const first = await operatorArchive(await tempDir(), "a");
      const second = await operatorArchive(await tempDir(), "b");
      await writeFile(
        join(fake.dir, "machines.json"),
        JSON.stringify(Object.fromEntries(lab.nodes.map((node) => [node.name, "running"]))),
      );
      const imports = async () =>
        (await fake.calls()).filter((call) => call.argv?.[0] === "ssh" && call.argv[3]?.includes("ctr"));
      const up = async (image: typeof first) =>
        run(
          await testRunContext({
            lab,
            root,
            provider: new VagrantProvider(),
            operatorImage: () => Promise.resolve(image),
          }),
          ["operator-image"],
        );

      await up(first);
      const streamed = (await imports()).map((call) => call.argv);
      expect(streamed).to.deep.equal(
        lab.nodes.map((node) => ["ssh", node.name, "-c", `sudo ${CTR_IMPORT.join(" ")}`]),
      );
      const sent = await readFile(first.archivePath);
      for (const node of lab.nodes) {
        const received = await readFile(join(fake.dir, "imports", `${node.name}-1.tar`));
        expect(received.equals(sent), node.name).to.equal(true);
      }

      await up(first);
      expect(await imports(), "the same image is not streamed again").to.have.length(lab.nodes.length);

      await up(second);
      expect(await imports(), "a changed image is streamed to every node").to.have.length(
        2 * lab.nodes.length,
      );
      const record = JSON.parse(await readFile(join(root, "cache", "operator-image.json"), "utf8")) as {
        digest: string;
      };
      expect(record.digest).to.equal(second.descriptor.digest);
    });

    it("a worker joining after the token expired gets a fresh token minted on the control plane first", async () => {
      const fresh = "zyxwvu.9876543210zyxwvu";
      const tokens = [FIXED_TOKEN, fresh];
      const context = await testRunContext({
        lab,
        provider: new VagrantProvider(),
        now: () => new Date("2030-01-02T00:00:00Z"),
        tokenSource: () => tokens.shift() ?? "unexpected.extratokencall00",
      });
      await run(context, ["render-files", "create-nodes"]);
      await context.state.setCluster({ caCertHash: HASH, joinTokenExpiresAt: "2030-01-01T02:00:00Z" });
      await run(context, ["join-workers"]);
      const uploads = (await fake.calls())
        .filter((call) => call.argv?.[0] === "upload")
        .map((call) => `${call.argv?.[3]}:${call.argv?.[2]}`);
      expect(uploads[0]).to.equal("m-k8s:/home/vagrant/.kubelab/token.sh");
      expect(await upload("m-k8s", "token.sh")).to.contain(`TOKEN='${fresh}'`);
      for (const worker of ["w1-k8s", "w2-k8s"])
        expect(await upload(worker, "join.sh")).to.contain(`token: ${fresh}`);
      expect((await readFile(context.workDir.bootstrapTokenFile, "utf8")).trim()).to.equal(fresh);
      expect(context.state.cluster.joinTokenExpiresAt).to.equal("2030-01-02T02:00:00.000Z");
    });

    it("after the last join the token is deleted on the control plane (its id only), and a later worker gets a fresh one", async () => {
      const fresh = "zyxwvu.9876543210zyxwvu";
      const tokens = [FIXED_TOKEN, fresh];
      let now = new Date("2030-01-01T00:00:00Z");
      const context = await testRunContext({
        lab,
        provider: new VagrantProvider(),
        now: () => now,
        tokenSource: () => tokens.shift() ?? "unexpected.extratokencall00",
      });
      await run(context, ["render-files", "create-nodes"]);
      await context.state.setCluster({ caCertHash: HASH, joinTokenExpiresAt: "2030-01-01T01:00:00Z" });
      await run(context, ["join-workers", "revoke-join-token"]);
      const revoke = await upload("m-k8s", "revoke-token.sh");
      expect(revoke)
        .to.contain(`TOKEN_ID='${FIXED_TOKEN.split(".")[0]}'`)
        .and.not.to.contain(FIXED_TOKEN);
      expect(context.state.cluster.joinTokenExpiresAt).to.equal("2030-01-01T00:00:00.000Z");
      expect(context.state.isDone("revoke-join-token")).to.equal(true);

      // A third worker, ten minutes later: the revoked token is not used again.
      now = new Date("2030-01-01T00:10:00Z");
      const grown = labOf({ workers: { count: 3 } });
      const later = await testRunContext({
        lab: grown,
        provider: new VagrantProvider(),
        root: context.workDir.root,
        now: () => now,
        tokenSource: () => tokens.shift() ?? "unexpected.extratokencall00",
      });
      const plan = buildPlan({ lab: grown, capabilities: VMS, providerName: "vagrant" });
      const ids = ["create-nodes", "join-workers", "revoke-join-token"];
      await runPlan(
        plan.filter((step) => ids.includes(step.id)),
        later,
        new PlainReporter(() => undefined),
      );
      expect(await upload("m-k8s", "token.sh")).to.contain(`TOKEN='${fresh}'`);
      expect(await upload("w3-k8s", "join.sh")).to.contain(`token: ${fresh}`);
      expect(await upload("m-k8s", "revoke-token.sh")).to.contain(`TOKEN_ID='${fresh.split(".")[0]}'`);
    });

    it("render-files runs only when a rendered file would change: a second run counts nothing as run", async () => {
      const context = await testRunContext({ lab, provider: new VagrantProvider() });
      const render = steps("render-files");
      const first = await runPlan(render, context, new PlainReporter(() => undefined));
      expect(first.ran).to.equal(1);
      const second = await runPlan(render, context, new PlainReporter(() => undefined));
      expect(second).to.include({ ran: 0, upToDate: 1 });
      await writeFile(join(context.workDir.root, "nodes.json"), "{}\n");
      const third = await runPlan(render, context, new PlainReporter(() => undefined));
      expect(third.ran, "a file edited by hand is rendered again").to.equal(1);
    });

    it("a machine that has to be created again loses its recorded work; a new control plane loses the cluster's", async () => {
      const context = await testRunContext({ lab, provider: new VagrantProvider() });
      await run(context, ["create-nodes"]);
      await context.state.markDone("prepare-nodes:w1-k8s");
      await context.state.markDone("prepare-nodes:w2-k8s");
      await context.state.markDone("kubeadm-init");
      await context.state.setCluster({ caCertHash: HASH });

      const machines = await fake.machines();
      delete machines["w1-k8s"];
      await writeFile(join(fake.dir, "machines.json"), JSON.stringify(machines));
      context.forgetNodeStatuses();
      await run(context, ["create-nodes"]);
      expect(context.state.isDone("prepare-nodes:w1-k8s")).to.equal(false);
      expect(context.state.isDone("prepare-nodes:w2-k8s")).to.equal(true);
      expect(context.state.isDone("kubeadm-init")).to.equal(true);

      await writeFile(
        join(fake.dir, "machines.json"),
        JSON.stringify({ "w1-k8s": "running", "w2-k8s": "running" }),
      );
      context.forgetNodeStatuses();
      await run(context, ["create-nodes"]);
      expect(context.state.isDone("kubeadm-init")).to.equal(false);
      expect(context.state.isDone("prepare-nodes:w2-k8s")).to.equal(false);
      expect(context.state.cluster.caCertHash).to.equal(undefined);
      expect(context.state.isDone("create-nodes:w2-k8s")).to.equal(true);
    });
  });
});
