// Real node containers under podman: systemd boots, the scripts run as on a VM, the host reaches the nodes, down leaves nothing.
import { connect } from "node:net";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { StateError, StepError } from "../../../bootstrap/errors.ts";
import { kitServerName } from "../../../bootstrap/kit/serve.ts";
import { PodmanProvider } from "../../../bootstrap/providers/podman/provider.ts";
import { ensureLabId, listLabelled } from "../../../bootstrap/providers/podman/objects.ts";
import { renderPrepareScript } from "../../../bootstrap/provision/prepare.ts";
import { tempDir } from "../../unit/helpers.ts";
import {
  execIn,
  keepLab,
  keepLogsOnFailure,
  hostCgroupMounts,
  nodeLog,
  podmanRunner,
  podmanUnavailable,
  providerContext,
  removeLeftovers,
  suiteLab,
} from "./harness.ts";

const LAB_NAME = "it-podman-nodes";
const lab = suiteLab(LAB_NAME, 123);
const [controlPlane, worker] = [lab.controlPlane, lab.workers[0]!];

describe("podman provider: node containers", function () {
  this.timeout(15 * 60_000);
  const provider = new PodmanProvider();
  const progress: string[] = [];
  let workDir: string;
  let mountsBefore: string[];
  let logFile: string;

  before(async function () {
    const missing = await podmanUnavailable();
    if (missing !== undefined) this.skip();
    workDir = join(await mkdtemp(join(tmpdir(), "kubelab-podman-it-")), ".kubelab");
    await mkdir(workDir, { recursive: true });
    logFile = join(workDir, "logs", "harness.log");
    await removeLeftovers(LAB_NAME, logFile);
    mountsBefore = await hostCgroupMounts();
  });

  after(async function () {
    if (workDir === undefined) return;
    await keepLogsOnFailure(this.test!.parent!, workDir, LAB_NAME);
    if (keepLab(workDir)) return;
    await provider.destroy(lab, providerContext(workDir));
    await rm(dirname(workDir), { recursive: true, force: true });
  });

  /** A volume labelled as made by lab LAB_NAME from `owner`'s work dir, as a killed run would leave it. */
  async function labelledVolume(name: string, owner: { labId: string; workDir: string }): Promise<void> {
    await execa("podman", [
      "volume",
      "create",
      ...["--label", `kubelab.dev/lab=${LAB_NAME}`, "--label", `kubelab.dev/lab-id=${owner.labId}`],
      ...["--label", `kubelab.dev/workdir=${owner.workDir}`],
      name,
    ]);
  }

  it("refuses to touch a live lab of the same name in another folder", async () => {
    const other = await tempDir("kubelab-podman-other-");
    const otherId = await ensureLabId(other);
    await labelledVolume(`${LAB_NAME}-other`, { labId: otherId, workDir: other });
    try {
      const failure = await provider.createNodes(lab, lab.nodes, providerContext(workDir)).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).to.be.instanceOf(StateError);
      expect((failure as StateError).message).to.contain(`another lab named ${LAB_NAME} runs on this host`);
      expect(await listLabelled(podmanRunner(logFile), `kubelab.dev/lab-id=${otherId}`)).to.have.length(1);
    } finally {
      await execa("podman", ["volume", "rm", `${LAB_NAME}-other`]);
    }
  });

  it("creates and boots every node: systemd up, each in its own cgroup in every v1 hierarchy", async () => {
    // What a killed earlier run of this lab left, from a work dir that no longer exists.
    await labelledVolume(`${LAB_NAME}-leftover`, {
      labId: "00000000deadbeef",
      workDir: join(workDir, "gone"),
    });
    await provider.preflight(lab, providerContext(workDir));
    await provider.createNodes(lab, lab.nodes, providerContext(workDir, progress));
    const statuses = await provider.status(lab, providerContext(workDir));
    expect(statuses.map((status) => [status.name, status.phase])).to.deep.equal([
      ["m-k8s", "running"],
      ["w1-k8s", "running"],
    ]);
    for (const node of lab.nodes) {
      const container = `${LAB_NAME}-${node.name}`;
      const state = await execa("podman", ["exec", container, "systemctl", "is-system-running"], {
        reject: false,
      });
      expect(["running", "degraded"], `${node.name}: ${state.stdout}`).to.include(state.stdout.trim());
      expect(await execIn(container, ["hostname"])).to.equal(node.name);
      // Host prep done: no hierarchy is shared host-wide ("/"), every one is the container's own path.
      const cgroups = (await execIn(container, ["cat", "/proc/self/cgroup"])).split("\n");
      for (const line of cgroups)
        expect(line, `${node.name} ${line}`).to.match(/:\/libpod_parent\/libpod-[0-9a-f]+/);
    }
    // The image is shared, the nodes are not: each has its own machine id, and no distribution sysctl
    // defaults that would set the host's kernel.* or fs.* at boot.
    const ids = await Promise.all(
      lab.nodes.map((node) => execIn(`${LAB_NAME}-${node.name}`, ["cat", "/etc/machine-id"])),
    );
    expect(new Set(ids).size, ids.join(" ")).to.equal(2);
    expect(await execIn(`${LAB_NAME}-m-k8s`, ["ls", "-A", "/usr/lib/sysctl.d"])).to.equal("");
    expect(progress.some((line) => line.includes("systemd"))).to.equal(true);
    expect(await listLabelled(podmanRunner(logFile), "kubelab.dev/lab-id=00000000deadbeef")).to.deep.equal(
      [],
    );
  });

  it("labels every object with the lab, and keeps nodes on the internal network without DNS", async () => {
    const objects = await listLabelled(podmanRunner(logFile), `kubelab.dev/lab=${LAB_NAME}`);
    expect(objects.map((object) => `${object.kind} ${object.name}`).sort()).to.deep.equal([
      `container ${LAB_NAME}-m-k8s`,
      `container ${LAB_NAME}-w1-k8s`,
      // The offline kit's server, started by createNodes on the lab's network (podman.kit).
      `container ${kitServerName(LAB_NAME)}`,
      `network kubelab-${LAB_NAME}`,
      `volume ${LAB_NAME}-m-k8s-containerd`,
      `volume ${LAB_NAME}-w1-k8s-containerd`,
    ]);
    const { stdout } = await execa("podman", [
      "network",
      "inspect",
      `kubelab-${LAB_NAME}`,
      "--format",
      "{{.Internal}} {{.DNSEnabled}}",
    ]);
    expect(stdout.trim()).to.equal("true false");
  });

  it("runs prepare.sh unchanged in a container, green, with its steps as progress and its output in the node log", async () => {
    for (const node of lab.nodes) {
      const script = join(workDir, "nodes", node.name, "prepare.sh");
      await mkdir(join(workDir, "nodes", node.name), { recursive: true });
      await writeFile(script, renderPrepareScript(lab, node), { mode: 0o755 });
      await provider.runScript(
        node,
        script,
        { step: "prepare-nodes", timeoutMs: 300_000 },
        providerContext(workDir, progress),
      );
      expect(await nodeLog(workDir, node.name)).to.contain(`prepare done on ${node.name}`);
    }
    expect(progress).to.include(
      `w1-k8s: swap: none (the podman container shares the host's kernel, which has no swap on)`,
    );
    const hosts = await execIn(`${LAB_NAME}-w1-k8s`, ["cat", "/etc/hosts"]);
    expect(hosts).to.contain("192.168.123.10 m-k8s\n192.168.123.101 w1-k8s");
    expect(
      await execIn(`${LAB_NAME}-m-k8s`, [
        "sysctl",
        "-n",
        "net.ipv4.ip_forward",
        "net.bridge.bridge-nf-call-iptables",
      ]),
    ).to.equal("1\n1");
  });

  it("keeps the kernel-wide sysctls the kubelet tunes to the node: a write in the node leaves the host's value", async () => {
    const host = (await readFile("/proc/sys/vm/overcommit_memory", "utf8")).trim();
    const other = host === "1" ? "2" : "1";
    await execIn(`${LAB_NAME}-w1-k8s`, ["sysctl", "-w", `vm.overcommit_memory=${other}`]);
    expect(await execIn(`${LAB_NAME}-w1-k8s`, ["sysctl", "-n", "vm.overcommit_memory"])).to.equal(other);
    expect((await readFile("/proc/sys/vm/overcommit_memory", "utf8")).trim()).to.equal(host);
  });

  it("propagates a failing script's exit as a StepError naming the node and its log", async () => {
    const script = join(workDir, "nodes", "w1-k8s", "fail.sh");
    await writeFile(script, "#!/usr/bin/env bash\necho '==> about to fail'\necho 'last words' >&2\nexit 3\n");
    const failure = await provider
      .runScript(worker, script, { step: "demo", timeoutMs: 60_000 }, providerContext(workDir))
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).to.be.instanceOf(StepError);
    expect((failure as StepError).message)
      .to.contain("exited with code 3: last words")
      .and.to.contain("w1-k8s.log");
    expect(await execIn(`${LAB_NAME}-w1-k8s`, ["ls", "/root"])).not.to.contain("kubelab-fail.sh");
  });

  it("lets the host reach a node at its lab address, and routes the Service CIDR in the node but nothing off the machine", async () => {
    const container = `${LAB_NAME}-m-k8s`;
    const listener = execa(
      "podman",
      ["exec", container, "socat", "TCP-LISTEN:6443,reuseaddr", "SYSTEM:echo reached"],
      { reject: false },
    );
    let answer = "";
    for (let attempt = 0; attempt < 50 && answer === ""; attempt++) {
      answer = await new Promise<string>((resolve) => {
        const socket = connect(6443, controlPlane.ip);
        let data = "";
        socket.on("data", (chunk) => (data += String(chunk)));
        socket.on("close", () => resolve(data));
        socket.on("error", () => resolve(""));
      });
      if (answer === "") await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await listener;
    expect(answer.trim()).to.equal("reached");
    expect(await execIn(container, ["ip", "-4", "route", "show", "10.96.0.0/12"])).to.match(
      /^10\.96\.0\.0\/12 dev eth0/,
    );
    const outside = await execa("podman", ["exec", container, "ip", "-4", "route", "get", "192.0.2.1"], {
      reject: false,
    });
    expect(outside.exitCode, outside.stdout).not.to.equal(0);
    expect(outside.stderr).to.match(/unreachable/i);
  });

  it("starts a stopped node again and leaves running ones alone", async () => {
    await execa("podman", ["stop", "--time", "10", `${LAB_NAME}-w1-k8s`]);
    expect((await provider.status(lab, providerContext(workDir)))[1]?.phase).to.equal("stopped");
    const before = await execIn(`${LAB_NAME}-m-k8s`, ["cat", "/proc/1/stat"]);
    await provider.createNodes(lab, lab.nodes, providerContext(workDir));
    expect(
      (await provider.status(lab, providerContext(workDir))).map((status) => status.phase),
    ).to.deep.equal(["running", "running"]);
    expect(await execIn(`${LAB_NAME}-m-k8s`, ["cat", "/proc/1/stat"])).to.equal(before);
  });

  it("down removes every container, volume and network of the lab and undoes the host prep, keeping backups", async () => {
    await writeFile(join(workDir, "backups", "kept.db"), "snapshot");
    await provider.destroy(lab, providerContext(workDir));
    expect(await listLabelled(podmanRunner(logFile), `kubelab.dev/lab=${LAB_NAME}`)).to.deep.equal([]);
    expect(await hostCgroupMounts()).to.deep.equal(mountsBefore);
    expect((await execa("cat", [join(workDir, "backups", "kept.db")])).stdout).to.equal("snapshot");
    await rm(join(workDir, "backups"), { recursive: true });
  });
});
