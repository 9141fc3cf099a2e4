// The kind provider through a real process boundary: fake `kind` and `docker` first on PATH record argv and play scripts.
import { readFile, stat, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";
import { parse } from "yaml";

import { customizeCalico } from "../../../../bootstrap/kube/calico.ts";
import { caCertHash } from "../../../../bootstrap/provision/cahash.ts";
import {
  ExitCode,
  InterruptedError,
  MissingToolError,
  StateError,
  StepError,
  UsageError,
} from "../../../../bootstrap/errors.ts";
import { silentLogger } from "../../../../bootstrap/log.ts";
import { planCapabilities } from "../../../../bootstrap/providers/provider.ts";
import { buildPlan } from "../../../../bootstrap/up/plan.ts";
import { engineVersionTemplate, KindProvider } from "../../../../bootstrap/providers/kind/provider.ts";
import type { ProviderContext } from "../../../../bootstrap/providers/provider.ts";
import { BOOTSTRAP_TOKEN_PATTERN } from "../../../../bootstrap/provision/token.ts";
import { requireSystemTool } from "../../../../scripts/system-tools.ts";
import { CALICO_FIXTURE, labOf, REPO, runBootstrap, tempDir, waitFor } from "../../helpers.ts";
import { useFakeKindOnPath, type FakeKind } from "../fake-kind.ts";

const lab = labOf({ name: "demo", workers: { count: 2, cpus: 1, memoryMiB: 2048 } });
const TOKEN = "k1n2d3.a4b5c6d7e8f9g0h1";

describe("providers/kind", () => {
  let fake: FakeKind;
  let workDir: string;
  const currentFake = useFakeKindOnPath();
  const progress: string[] = [];

  function context(signal = new AbortController().signal): ProviderContext {
    return {
      workDir,
      logger: silentLogger(),
      signal,
      progress: (node, line) => progress.push(`${node}: ${line}`),
    };
  }

  const provider = () => new KindProvider({ tokenSource: () => TOKEN });
  const argvOf = async (program: "kind" | "docker") =>
    (await fake.calls()).filter((call) => call.program === program).map((call) => call.argv);

  beforeEach(async () => {
    fake = currentFake();
    workDir = await tempDir();
    progress.length = 0;
  });

  describe("preflight", () => {
    it("passes when kind answers and the container engine is up", async () => {
      await provider().preflight(lab, context());
      expect((await fake.calls()).map((call) => [call.program, ...(call.argv ?? [])])).to.deep.equal([
        ["kind", "version"],
        ["docker", "info", "--format", "{{.ServerVersion}}"],
      ]);
    });

    it("with KIND_EXPERIMENTAL_PROVIDER=podman it asks the real podman for its version the way podman answers", async () => {
      await requireSystemTool("podman");
      // The real podman (first on PATH after the fake kind): {{.ServerVersion}} is a template error there.
      await new KindProvider({ engine: "podman" }).preflight(lab, context());
      expect(engineVersionTemplate("podman")).to.equal("{{.Version.Version}}");
      const podman = await execa("podman", ["info", "--format", engineVersionTemplate("podman")]);
      expect(podman.stdout).to.match(/^\d+\.\d+\.\d+$/);
      const wrong = await execa("podman", ["info", "--format", "{{.ServerVersion}}"], { reject: false });
      expect(wrong.exitCode, "podman has no ServerVersion").to.not.equal(0);
    });

    it("without kind: MissingToolError (exit 2), one line that says how to install it", async () => {
      process.env.PATH = [await tempDir(), join(REPO, "node_modules", ".bin")].join(delimiter);
      try {
        await provider().preflight(lab, context());
        expect.fail("must fail");
      } catch (error) {
        expect(error).to.be.instanceOf(MissingToolError);
        expect((error as MissingToolError).exitCode).to.equal(ExitCode.badInput);
        const message = (error as Error).message;
        expect(message.split("\n")).to.have.length(1);
        expect(message).to.match(
          /^kind is not installed or not on PATH: install Docker and kind \(go install sigs\.k8s\.io\/kind@v0\.33\.0/,
        );
        expect(message).to.contain("--provider sim");
      }
    });

    it("with no container engine running: UsageError (exit 2) saying to start Docker", async () => {
      await fake.scenario({
        rules: [
          {
            program: "docker",
            match: "^info",
            stderr:
              "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
            exitCode: 1,
          },
        ],
      });
      try {
        await provider().preflight(lab, context());
        expect.fail("must fail");
      } catch (error) {
        expect(error).to.be.instanceOf(UsageError);
        expect((error as Error).message).to.equal(
          "the container engine does not answer (docker info failed); kind needs a running Docker (or Podman) engine",
        );
        expect((error as UsageError).hint).to.contain("start Docker");
      }
      const log = await readFile(join(workDir, "logs", "kind.log"), "utf8");
      expect(log).to.contain("Cannot connect to the Docker daemon");
    });

    it("refuses a Kubernetes minor it has no node image for, before anything is created", async () => {
      try {
        await provider().preflight(labOf({ kubernetes: { version: "1.33" } }), context());
        expect.fail("must fail");
      } catch (error) {
        expect(error).to.be.instanceOf(UsageError);
        expect((error as Error).message).to.contain("kubernetes.version 1.33");
      }
      expect((await argvOf("kind")).some((argv) => argv?.[0] === "create")).to.equal(false);
    });
  });

  it("renders the readable kind config, without secrets", () => {
    const files = provider().renderFiles(lab);
    expect([...files.keys()]).to.deep.equal(["kind-config.yaml"]);
    const text = files.get("kind-config.yaml") ?? "";
    expect(text).not.to.contain(TOKEN);
    expect((parse(text) as { nodes: unknown[] }).nodes).to.have.length(3);
  });

  it("status: every node not-created while the cluster does not exist, asking the engine nothing", async () => {
    const statuses = await provider().status(lab, context());
    expect(statuses.map((s) => [s.name, s.phase])).to.deep.equal([
      ["m-k8s", "not-created"],
      ["w1-k8s", "not-created"],
      ["w2-k8s", "not-created"],
    ]);
    expect(await argvOf("kind")).to.deep.equal([["get", "nodes", "--name", "demo"]]);
    expect(await argvOf("docker")).to.deep.equal([]);
  });

  it("creates the whole cluster once, from a 0600 config with a random token and the pin of a CA it made", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    const create = (await argvOf("kind")).find((argv) => argv?.[0] === "create");
    expect(create).to.deep.equal([
      "create",
      "cluster",
      "--name",
      "demo",
      "--config",
      "kind/cluster.yaml",
      "--kubeconfig",
      "kind/kubeconfig",
    ]);
    expect((await fake.calls()).every((call) => call.cwd === workDir)).to.equal(true);

    const configPath = join(workDir, "kind", "cluster.yaml");
    expect((await stat(configPath)).mode & 0o777).to.equal(0o600);
    expect((await stat(join(workDir, "kind"))).mode & 0o777).to.equal(0o700);
    expect((await stat(join(workDir, "pki", "ca.key"))).mode & 0o777).to.equal(0o600);
    const config = parse(await readFile(configPath, "utf8")) as { kubeadmConfigPatches: string[] };
    const patches = config.kubeadmConfigPatches.map(
      (patch) => parse(patch) as { kind: string; bootstrapTokens?: { token: string }[]; discovery?: unknown },
    );
    expect(patches.find((p) => p.kind === "InitConfiguration")?.bootstrapTokens?.[0]?.token).to.equal(TOKEN);
    const caPem = await readFile(join(workDir, "pki", "ca.crt"), "utf8");
    expect(patches.find((p) => p.kind === "JoinConfiguration")?.discovery).to.deep.equal({
      bootstrapToken: { token: TOKEN, caCertHashes: [caCertHash(caPem)], unsafeSkipCAVerification: false },
    });

    const clusters = await fake.clusters();
    expect(Object.keys(clusters.demo?.containers ?? {})).to.deep.equal([
      "demo-control-plane",
      "demo-worker",
      "demo-worker2",
    ]);
    expect(clusters.demo?.limits).to.deep.equal({
      "demo-control-plane": { cpus: "2", memory: "3072m" },
      "demo-worker": { cpus: "1", memory: "2048m" },
      "demo-worker2": { cpus: "1", memory: "2048m" },
    });
    expect(progress).to.include("m-k8s: Joining worker nodes");
    expect(progress).to.include("w2-k8s: demo-worker2: 1 CPU, 2048 MiB");
    const log = await readFile(join(workDir, "logs", "kind.log"), "utf8");
    expect(log).to.contain("$ kind create cluster --name demo");
    expect(log).not.to.contain(TOKEN);

    const statuses = await provider().status(lab, context());
    expect(statuses.map((s) => [s.name, s.phase, s.detail])).to.deep.equal([
      ["m-k8s", "running", "docker: running (demo-control-plane)"],
      ["w1-k8s", "running", "docker: running (demo-worker)"],
      ["w2-k8s", "running", "docker: running (demo-worker2)"],
    ]);
    await provider().createNodes(lab, lab.workers, context());
    expect((await argvOf("kind")).filter((argv) => argv?.[0] === "create")).to.have.length(1);
  });

  it("kind's fixed token is never used: each cluster gets a random token in kubeadm's format", async () => {
    await new KindProvider().createNodes(lab, [lab.controlPlane], context());
    const text = await readFile(join(workDir, "kind", "cluster.yaml"), "utf8");
    const token = /token: ([a-z0-9.]+)/.exec(text)?.[1] ?? "";
    expect(token).to.match(BOOTSTRAP_TOKEN_PATTERN);
    expect(token).not.to.equal("abcdef.0123456789abcdef");
  });

  it("starts a stopped node container and leaves running ones alone", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    await fake.setContainerState("demo-worker", "exited");
    const before = (await provider().status(lab, context())).find((s) => s.name === "w1-k8s");
    expect(before?.phase).to.equal("stopped");
    await provider().createNodes(lab, lab.workers, context());
    const starts = (await argvOf("docker")).filter((argv) => argv?.[0] === "start");
    expect(starts).to.deep.equal([["start", "demo-worker"]]);
    expect((await fake.clusters()).demo?.containers["demo-worker"]).to.equal("running");
  });

  it("cannot add a node to an existing cluster, and says how to get one", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    const bigger = labOf({ name: "demo", workers: { count: 3 } });
    try {
      await provider().createNodes(bigger, [bigger.workers[2]!], context());
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StateError);
      expect((error as Error).message).to.equal(
        "the kind cluster demo exists without w3-k8s (container demo-worker3): kind cannot add nodes to an existing cluster",
      );
      expect((error as StateError).hint).to.contain("bootstrap down, then bootstrap up");
    }
  });

  it("a failed kind create names the step, the control plane, kind's own message and the log", async () => {
    await fake.scenario({
      rules: [
        {
          match: "^create cluster",
          stderr:
            'Creating cluster "demo" ...\n ✗ Ensuring node image (kindest/node:v1.36.5) 🖼\nERROR: failed to create cluster: failed to pull image "kindest/node:v1.36.5"\n',
          exitCode: 1,
        },
      ],
    });
    try {
      await provider().createNodes(lab, [lab.controlPlane], context());
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message).to.equal(
        `create-nodes on m-k8s failed: kind create cluster: exited with code 1: ERROR: failed to create cluster: failed to pull image "kindest/node:v1.36.5" (log: ${join(workDir, "logs", "kind.log")})`,
      );
    }
    expect((await argvOf("docker")).filter((argv) => argv?.[0] === "update")).to.deep.equal([]);
  });

  it("Ctrl-C during kind create: kind gets SIGINT to clean up, and the call ends with InterruptedError", async () => {
    await fake.scenario({ rules: [{ match: "^create cluster", sleepMs: 30_000, exitCode: 0 }] });
    const controller = new AbortController();
    const creating = provider().createNodes(lab, [lab.controlPlane], context(controller.signal));
    await waitFor(
      async () => (await argvOf("kind")).some((argv) => argv?.[0] === "create"),
      10_000,
      "kind create to start",
    );
    controller.abort("SIGINT");
    try {
      await creating;
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(InterruptedError);
    }
    await waitFor(
      async () => (await fake.calls()).some((call) => call.signal === "SIGINT"),
      10_000,
      "the fake to see SIGINT",
    );
  });

  it("writes kind's admin kubeconfig 0600, never into a log nor into ~/.kube/config", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    const local = join(workDir, "kubeconfig");
    await provider().fetchAdminKubeconfig(lab, local, context());
    const text = await readFile(local, "utf8");
    expect(text).to.contain("server: https://127.0.0.1:40123");
    expect((await stat(local)).mode & 0o777).to.equal(0o600);
    expect(await readFile(join(workDir, "logs", "kind.log"), "utf8")).not.to.contain("FAKE-KIND-SECRET-KEY");
    expect(await argvOf("kind")).to.deep.include(["get", "kubeconfig", "--name", "demo"]);
  });

  it("runs a script in a node container: copies it to root's home, runs it, removes it, streams ==> lines", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    const script = join(workDir, "restore.sh");
    await writeFile(script, "#!/usr/bin/env bash\necho hi\n");
    progress.length = 0;
    const stdout = await provider().runScript(
      lab.controlPlane,
      script,
      { step: "restore", timeoutMs: 10_000 },
      context(),
    );
    expect(stdout).to.contain("==> fake: running kubelab-restore.sh in demo-control-plane");
    const calls = (await argvOf("docker")).filter((argv) => argv?.[0] === "cp" || argv?.[0] === "exec");
    expect(calls).to.deep.equal([
      ["cp", script, "demo-control-plane:/root/kubelab-restore.sh"],
      [
        "exec",
        "demo-control-plane",
        "bash",
        "-c",
        "bash '/root/kubelab-restore.sh'; status=$?; rm -f '/root/kubelab-restore.sh'; exit $status",
      ],
    ]);
    expect(
      await readFile(join(fake.dir, "uploads", "demo-control-plane", "kubelab-restore.sh"), "utf8"),
    ).to.equal("#!/usr/bin/env bash\necho hi\n");
    expect(progress).to.deep.equal([
      "m-k8s: fake: running kubelab-restore.sh in demo-control-plane",
      "m-k8s: fake: kubelab-restore.sh done",
    ]);
    expect(await readFile(join(workDir, "logs", "m-k8s.log"), "utf8")).to.contain(
      "some output in demo-control-plane",
    );
  });

  it("a failing script is a StepError with the node, the step, the last output line and the node's log", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    await fake.scenario({
      rules: [
        {
          program: "docker",
          match: "^exec demo-worker bash -c",
          stderr: "etcdutl: no such snapshot\n",
          exitCode: 2,
        },
      ],
    });
    const script = join(workDir, "x.sh");
    await writeFile(script, "exit 2\n");
    try {
      await provider().runScript(lab.workers[0]!, script, { step: "restore", timeoutMs: 10_000 }, context());
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message).to.equal(
        `restore on w1-k8s failed: docker exec demo-worker (restore): exited with code 2: etcdutl: no such snapshot (log: ${join(workDir, "logs", "w1-k8s.log")})`,
      );
    }
  });

  it("a script bash cannot parse fails with bash's status and message, as `docker exec` passes them on", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    const script = join(workDir, "broken.sh");
    await writeFile(script, "#!/usr/bin/env bash\nif true; then\n  echo never closed\n");
    try {
      await provider().runScript(lab.workers[0]!, script, { step: "restore", timeoutMs: 10_000 }, context());
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message)
        .to.contain("docker exec demo-worker (restore): exited with code 2")
        .and.to.contain("syntax error");
    }
  });

  it("reaches no container before the cluster exists: a StateError saying to run up", async () => {
    try {
      await provider().copyFromNode(
        lab.controlPlane,
        "/etc/kubernetes/admin.conf",
        join(workDir, "x"),
        context(),
      );
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StateError);
      expect((error as StateError).hint).to.equal("run bootstrap up first");
    }
    expect(await argvOf("docker")).to.deep.equal([]);
  });

  it("copies a secret from a node container into a 0600 file, never into the log", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    await fake.scenario({ files: { "demo-control-plane:/etc/kubernetes/pki/ca.key": "TOP-SECRET-KEY\n" } });
    const local = join(workDir, "copied.key");
    await provider().copyFromNode(lab.controlPlane, "/etc/kubernetes/pki/ca.key", local, context());
    expect(await readFile(local, "utf8")).to.equal("TOP-SECRET-KEY\n");
    expect((await stat(local)).mode & 0o777).to.equal(0o600);
    expect(await readFile(join(workDir, "logs", "m-k8s.log"), "utf8")).not.to.contain("TOP-SECRET");
  });

  it("ssh runs the command in the node container and returns its exit status", async () => {
    await provider().createNodes(lab, [lab.controlPlane], context());
    const code = await provider().ssh(lab.workers[1]!, ["crictl", "ps"], context());
    expect(code).to.equal(0);
    expect((await argvOf("docker")).at(-1)).to.deep.equal(["exec", "-i", "demo-worker2", "crictl", "ps"]);
    await fake.scenario({ rules: [{ program: "docker", match: "^exec", exitCode: 7 }] });
    expect(await provider().ssh(lab.workers[1]!, ["false"], context())).to.equal(7);
  });

  it("destroy deletes the cluster with kind's own kubeconfig path and removes the provider's files; twice is fine", async () => {
    await writeFile(
      join(workDir, "kind-config.yaml"),
      provider().renderFiles(lab).get("kind-config.yaml") ?? "",
    );
    await provider().createNodes(lab, [lab.controlPlane], context());
    await provider().destroy(lab, context());
    expect((await argvOf("kind")).at(-1)).to.deep.equal([
      "delete",
      "cluster",
      "--name",
      "demo",
      "--kubeconfig",
      "kind/kubeconfig",
    ]);
    expect(await fake.clusters()).to.deep.equal({});
    for (const entry of ["kind", "kind-config.yaml"]) {
      try {
        await stat(join(workDir, entry));
        expect.fail(`${entry} must be gone`);
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).to.equal("ENOENT");
      }
    }
    await provider().destroy(lab, context());
    const statuses = await provider().status(lab, context());
    expect(statuses.every((s) => s.phase === "not-created")).to.equal(true);
  });

  describe("in the plan", () => {
    it("kind makes the nodes and runs kubeadm; the steps from the kubeconfig on are the VMs' own", () => {
      const kindLab = labOf({ provider: "kind" });
      const plan = buildPlan({
        lab: kindLab,
        capabilities: planCapabilities(provider()),
        providerName: "kind",
      });
      const skipped = Object.fromEntries(plan.map((step) => [step.id, step.skipReason ?? "runs"]));
      expect(skipped).to.deep.equal({
        "render-files": "runs",
        "create-nodes": "runs",
        "prepare-nodes": "the kind provider sets Kubernetes up itself",
        "install-packages": "the kind provider sets Kubernetes up itself",
        "kubeadm-init": "the kind provider sets Kubernetes up itself",
        "fetch-kubeconfig": "runs",
        calico: "runs",
        "kube-router": "the lab's CNI is calico (network.cni)",
        "join-workers": "the kind provider sets Kubernetes up itself",
        "revoke-join-token": "the kind provider sets Kubernetes up itself",
        "nodes-ready": "runs",
        crds: "runs",
        "operator-image": "runs",
        operator: "runs",
        "operator-process": "the kind provider runs the operator's Deployment",
        "addon-bundles": "runs",
        labcluster: "runs",
        "labcluster-ready": "runs",
      });
    });

    it("Calico takes each kind node's registered address, not the host-only range of VMs", async () => {
      const manifest = await readFile(CALICO_FIXTURE, "utf8");
      const autodetection = (settings: Record<string, unknown>) => {
        const objects = customizeCalico(manifest, labOf(settings));
        const daemonSet = objects.find((object) => object.kind === "DaemonSet") as {
          spec: {
            template: { spec: { containers: { name: string; env: { name: string; value?: string }[] }[] } };
          };
        };
        const container = daemonSet.spec.template.spec.containers.find((c) => c.name === "calico-node");
        return container?.env.find((entry) => entry.name === "IP_AUTODETECTION_METHOD")?.value;
      };
      expect(autodetection({ provider: "kind" })).to.equal("kubernetes-internal-ip");
      expect(autodetection({ provider: "vagrant" })).to.equal("cidr=192.168.56.0/24");
    });
  });

  describe("through the CLI", () => {
    it("up --provider kind --dry-run shows the plan and writes the readable kind config, running nothing", async () => {
      const cwd = await tempDir();
      const result = await runBootstrap(["up", "--provider", "kind", "--dry-run", "--workers", "1"], {
        cwd,
        env: fake.env,
      });
      expect(result.exitCode, result.stderr).to.equal(0);
      expect(result.stdout).to.contain("Plan for lab kubelab: provider kind");
      expect(result.stdout).to.match(
        /prepare-nodes .*\(skipped: the kind provider sets Kubernetes up itself\)/,
      );
      expect(result.stdout).to.contain("  kind-config.yaml");
      const config = parse(await readFile(join(cwd, ".kubelab", "kind-config.yaml"), "utf8")) as {
        nodes: unknown[];
      };
      expect(config.nodes).to.have.length(2);
      expect(await fake.calls()).to.deep.equal([]);
    });

    it("up --provider kind without kind installed: exit 2 and one line saying what to install", async () => {
      const cwd = await tempDir();
      const result = await runBootstrap(["up", "--provider", "kind", "--calico-manifest", CALICO_FIXTURE], {
        cwd,
        env: { PATH: join(REPO, "node_modules", ".bin") },
      });
      expect(result.exitCode).to.equal(ExitCode.badInput);
      const lines = result.stderr.trim().split("\n");
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(
        /^error: kind is not installed or not on PATH: install Docker and kind \(go install sigs\.k8s\.io\/kind@v0\.33\.0/,
      );
    });
  });
});
