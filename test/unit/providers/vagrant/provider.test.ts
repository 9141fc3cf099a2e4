// The vagrant provider through a real process boundary: a fake `vagrant` first on PATH records argv and plays scripts.
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { expect } from "chai";
import { parse } from "yaml";

import {
  CommandError,
  ExitCode,
  InterruptedError,
  MissingToolError,
  StepError,
  UsageError,
} from "../../../../bootstrap/errors.ts";
import { silentLogger } from "../../../../bootstrap/log.ts";
import type { ProviderContext } from "../../../../bootstrap/providers/provider.ts";
import { VagrantProvider, vagrantNodeList } from "../../../../bootstrap/providers/vagrant/provider.ts";
import {
  adminConfFixture,
  labOf,
  REPO,
  tempDir,
  useFakeVagrantOnPath,
  waitFor,
  type FakeVagrant,
} from "../../helpers.ts";

const lab = labOf({ workers: { count: 2 } });

describe("providers/vagrant", () => {
  let fake: FakeVagrant;
  let workDir: string;
  const currentFake = useFakeVagrantOnPath();
  const progress: string[] = [];

  function context(signal = new AbortController().signal): ProviderContext {
    return {
      workDir,
      logger: silentLogger(),
      signal,
      progress: (node, line) => progress.push(`${node}: ${line}`),
    };
  }

  beforeEach(async () => {
    fake = currentFake();
    workDir = await tempDir();
    progress.length = 0;
  });

  describe("preflight", () => {
    it("passes when vagrant answers --version", async () => {
      await new VagrantProvider().preflight(lab, context());
      expect((await fake.calls()).map((c) => c.argv)).to.deep.equal([["--version"]]);
    });

    it("without vagrant: MissingToolError (exit 2), one line that says what to install", async () => {
      process.env.PATH = [await tempDir(), join(REPO, "node_modules", ".bin")].join(delimiter);
      try {
        await new VagrantProvider().preflight(lab, context());
        expect.fail("must fail");
      } catch (error) {
        expect(error).to.be.instanceOf(MissingToolError);
        expect((error as MissingToolError).exitCode).to.equal(ExitCode.badInput);
        const message = (error as Error).message;
        expect(message.split("\n")).to.have.length(1);
        expect(message).to.match(
          /^vagrant is not installed or not on PATH: install Vagrant \(https:\/\/developer\.hashicorp\.com\/vagrant\/install\) and VirtualBox 7/,
        );
        expect(message).to.contain("--provider sim");
      }
    });

    it("refuses a host-only network VirtualBox does not allow, explaining networks.conf", async () => {
      const other = labOf({
        network: { hostOnlyCidr: "192.168.1.0/24" },
        controlPlane: { ip: "192.168.1.10" },
        workers: { firstIp: "192.168.1.101" },
      });
      const missingConf = join(workDir, "no-networks.conf");
      try {
        await new VagrantProvider({ networksConfPath: missingConf, platform: "linux" }).preflight(
          other,
          context(),
        );
        expect.fail("must fail");
      } catch (error) {
        expect(error).to.be.instanceOf(UsageError);
        const message = (error as Error).message;
        expect(message).to.contain(
          "network.hostOnlyCidr 192.168.1.0/24 is outside VirtualBox's default host-only range 192.168.56.0/21",
        );
        expect(message).to.contain('add a line "* 192.168.1.0/24" to /etc/vbox/networks.conf');
      }
      const conf = join(workDir, "networks.conf");
      await writeFile(conf, "* 10.0.0.0/8 192.168.0.0/16\n* 2001::/64\n");
      await new VagrantProvider({ networksConfPath: conf, platform: "linux" }).preflight(other, context());
      await new VagrantProvider({ networksConfPath: missingConf, platform: "win32" }).preflight(
        other,
        context(),
      );
      const libvirt = labOf({
        ...{ vagrant: { provider: "libvirt" } },
        network: { hostOnlyCidr: "192.168.1.0/24" },
        controlPlane: { ip: "192.168.1.10" },
        workers: { firstIp: "192.168.1.101" },
      });
      await new VagrantProvider({ networksConfPath: missingConf, platform: "linux" }).preflight(
        libvirt,
        context(),
      );
    });
  });

  it("renders the Vagrantfile and the node list it reads", () => {
    const files = new VagrantProvider().renderFiles(lab);
    expect([...files.keys()]).to.deep.equal(["Vagrantfile", "nodes.json"]);
    expect(files.get("Vagrantfile")).to.contain('File.join(File.dirname(__FILE__), "nodes.json")');
    expect(JSON.parse(files.get("nodes.json") ?? "")).to.deep.equal(vagrantNodeList(lab));
    expect(vagrantNodeList(lab).netmask).to.equal("255.255.255.0");
  });

  it("status: every node not-created before the Vagrantfile exists, without running vagrant", async () => {
    const statuses = await new VagrantProvider().status(lab, context());
    expect(statuses.map((s) => s.phase)).to.deep.equal(["not-created", "not-created", "not-created"]);
    expect(await fake.calls()).to.deep.equal([]);
  });

  it("creates machines one by one with vagrant up, in the work dir, showing progress and logging per node", async () => {
    const provider = new VagrantProvider();
    await provider.createNodes(lab, lab.nodes, context());
    const calls = await fake.calls();
    expect(calls.map((c) => c.argv)).to.deep.equal(
      lab.nodes.map((node) => ["up", node.name, "--provider", "virtualbox", "--machine-readable"]),
    );
    expect(calls.every((c) => c.vagrantCwd === workDir)).to.equal(true);
    expect(progress).to.include("m-k8s: Booting VM...");
    expect(progress).to.include("w2-k8s: Machine booted and ready!");
    const log = await readFile(join(workDir, "logs", "w1-k8s.log"), "utf8");
    expect(log).to.contain("$ vagrant up w1-k8s --provider virtualbox --machine-readable");
    expect(log).to.contain("Importing base box");
    const statuses = await provider.status(lab, context());
    expect(statuses.map((s) => [s.name, s.phase, s.detail])).to.deep.equal([
      ["m-k8s", "running", "virtualbox: running"],
      ["w1-k8s", "running", "virtualbox: running"],
      ["w2-k8s", "running", "virtualbox: running"],
    ]);
  });

  it("a failed vagrant up names the node, the step, Vagrant's own message and the log", async () => {
    await fake.scenario({
      rules: [
        {
          match: "^up w1-k8s",
          stdout:
            "1700000000,w1-k8s,ui,info,Booting VM...\n1700000000,,error-exit,Vagrant::Errors::VBoxManageError,There was an error while executing `VBoxManage`%!(VAGRANT_COMMA) a CLI used by Vagrant.\\nCommand: hostonlyif\n",
          exitCode: 1,
        },
      ],
    });
    try {
      await new VagrantProvider().createNodes(lab, lab.nodes, context());
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message).to.equal(
        `create-nodes on w1-k8s failed: vagrant up: There was an error while executing \`VBoxManage\`, a CLI used by Vagrant. (log: ${join(workDir, "logs", "w1-k8s.log")})`,
      );
    }
    expect((await fake.calls()).map((c) => c.argv?.[1])).to.deep.equal(["m-k8s", "w1-k8s"]);
  });

  it("runs a script: uploads it to the node's private drop folder, runs it with sudo, removes it, streams ==> lines", async () => {
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], context());
    const script = join(workDir, "nodes", "m-k8s", "prepare.sh");
    await mkdir(join(workDir, "nodes", "m-k8s"), { recursive: true });
    await writeFile(script, "#!/usr/bin/env bash\necho hi\n");
    progress.length = 0;
    const stdout = await provider.runScript(
      lab.controlPlane,
      script,
      { step: "prepare-nodes", timeoutMs: 10_000 },
      context(),
    );
    expect(stdout).to.contain("==> fake: running prepare.sh on m-k8s");
    const calls = (await fake.calls()).slice(1).map((c) => c.argv);
    expect(calls).to.deep.equal([
      ["upload", script, "/home/vagrant/.kubelab/prepare.sh", "m-k8s"],
      [
        "ssh",
        "m-k8s",
        "-c",
        "sudo bash '/home/vagrant/.kubelab/prepare.sh'; status=$?; rm -f '/home/vagrant/.kubelab/prepare.sh'; exit $status",
      ],
    ]);
    expect(await readFile(join(fake.dir, "uploads", "m-k8s", "prepare.sh"), "utf8")).to.equal(
      "#!/usr/bin/env bash\necho hi\n",
    );
    expect(progress).to.deep.equal([
      "m-k8s: fake: running prepare.sh on m-k8s",
      "m-k8s: fake: prepare.sh done",
    ]);
    expect(await readFile(join(workDir, "logs", "m-k8s.log"), "utf8")).to.contain("some apt output on m-k8s");
  });

  it("a failing script is a StepError with the node, the step, the last output line and the node's log", async () => {
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], context());
    await fake.scenario({
      rules: [
        {
          match: "^ssh m-k8s -c sudo bash",
          stderr: "kubeadm: preflight: [ERROR Mem]: too little memory\n",
          exitCode: 1,
        },
      ],
    });
    const script = join(workDir, "init.sh");
    await writeFile(script, "exit 1\n");
    try {
      await provider.runScript(
        lab.controlPlane,
        script,
        { step: "kubeadm-init", timeoutMs: 10_000 },
        context(),
      );
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message).to.equal(
        `kubeadm-init on m-k8s failed: vagrant ssh m-k8s (kubeadm-init): exited with code 1: kubeadm: preflight: [ERROR Mem]: too little memory (log: ${join(workDir, "logs", "m-k8s.log")})`,
      );
    }
  });

  it("a script bash cannot parse fails with bash's status and message, as `vagrant ssh -c` passes them on", async () => {
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], context());
    const script = join(workDir, "broken.sh");
    await writeFile(script, "#!/usr/bin/env bash\nif true; then\n  echo never closed\n");
    try {
      await provider.runScript(
        lab.controlPlane,
        script,
        { step: "prepare-nodes", timeoutMs: 10_000 },
        context(),
      );
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(StepError);
      expect((error as Error).message)
        .to.contain("vagrant ssh m-k8s (prepare-nodes): exited with code 2")
        .and.to.contain("syntax error");
    }
  });

  it("copies a secret from a node into a 0600 file, never into the log", async () => {
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], context());
    await fake.scenario({ files: { "m-k8s:/etc/kubernetes/pki/ca.key": "TOP-SECRET\n" } });
    const local = join(workDir, "ca.key");
    await provider.copyFromNode(lab.controlPlane, "/etc/kubernetes/pki/ca.key", local, context());
    expect(await readFile(local, "utf8")).to.equal("TOP-SECRET\n");
    expect((await stat(local)).mode & 0o777).to.equal(0o600);
    expect(await readFile(join(workDir, "logs", "m-k8s.log"), "utf8")).not.to.contain("TOP-SECRET");
    expect((await fake.calls()).at(-1)?.argv).to.deep.equal([
      "ssh",
      "m-k8s",
      "-c",
      "sudo cat -- '/etc/kubernetes/pki/ca.key'",
    ]);
  });

  it("the host kubeconfig keeps only admin.conf's CA, certificate and key, with the server set by bootstrap", async () => {
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], context());
    const admin = await adminConfFixture({
      server: "https://attacker.example:443",
      user: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "/tmp/steal" }, token: "x" },
      cluster: { "proxy-url": "http://attacker.example:3128", "insecure-skip-tls-verify": true },
    });
    await fake.scenario({ files: { "m-k8s:/etc/kubernetes/admin.conf": admin.text } });
    const local = join(workDir, "kubeconfig");
    await provider.fetchAdminKubeconfig(lab, local, context());
    const written = parse(await readFile(local, "utf8")) as {
      clusters: { cluster: Record<string, unknown> }[];
      users: { user: Record<string, unknown> }[];
    };
    expect(written.clusters.map((entry) => entry.cluster)).to.deep.equal([
      { server: "https://192.168.56.10:6443", "certificate-authority-data": admin.caData },
    ]);
    expect(written.users.map((entry) => entry.user)).to.deep.equal([
      { "client-certificate-data": admin.certData, "client-key-data": admin.keyData },
    ]);
    expect((await stat(local)).mode & 0o777).to.equal(0o600);
    expect(await readFile(join(workDir, "logs", "m-k8s.log"), "utf8")).not.to.contain(admin.keyData);
  });

  it("an admin.conf without an embedded client certificate is refused, and nothing is written", async () => {
    const provider = new VagrantProvider();
    await provider.createNodes(lab, [lab.controlPlane], context());
    const admin = await adminConfFixture({ user: { "client-certificate-data": undefined, token: "abc" } });
    await fake.scenario({ files: { "m-k8s:/etc/kubernetes/admin.conf": admin.text } });
    const local = join(workDir, "kubeconfig");
    const error = await provider.fetchAdminKubeconfig(lab, local, context()).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).to.be.instanceOf(CommandError);
    expect((error as Error).message).to.include("has no embedded clientCert");
    expect(await readFile(local, "utf8").catch(() => "absent")).to.equal("absent");
  });

  it("destroy: nothing to do before any machine exists; afterwards vagrant destroy --force", async () => {
    const provider = new VagrantProvider();
    await provider.destroy(lab, context());
    expect(await fake.calls()).to.deep.equal([]);
    await provider.createNodes(lab, [lab.controlPlane], context());
    await provider.destroy(lab, context());
    expect((await fake.calls()).at(-1)?.argv).to.deep.equal(["destroy", "--force", "--machine-readable"]);
    expect(await fake.machines()).to.deep.equal({});
  });

  it("Ctrl-C during vagrant up: vagrant gets SIGINT to clean up, and the call ends with InterruptedError", async () => {
    await fake.scenario({ rules: [{ match: "^up m-k8s", sleepMs: 30_000 }] });
    const controller = new AbortController();
    const creating = new VagrantProvider().createNodes(lab, lab.nodes, context(controller.signal));
    await waitFor(async () => (await fake.calls()).length > 0, 10_000, "vagrant up to start");
    controller.abort("SIGINT");
    try {
      await creating;
      expect.fail("must be interrupted");
    } catch (error) {
      expect(error).to.be.instanceOf(InterruptedError);
    }
    const calls = await fake.calls();
    expect(calls.map((c) => c.signal ?? c.argv?.[0])).to.deep.equal(["up", "SIGINT"]);
    expect(await fake.machines()).to.deep.equal({});
  });
});
