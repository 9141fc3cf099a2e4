// The real `bootstrap` bin: help, exit codes 0/1/2/130, dry run, and a lab's life against a fake vagrant.
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";
import { stringify } from "yaml";

import { caCertHash } from "../../bootstrap/provision/cahash.ts";
import { LAB_API_VERSION, LAB_KIND } from "../../bootstrap/lab/config.ts";
import { BOOTSTRAP_TOKEN_PATTERN } from "../../bootstrap/provision/token.ts";
import {
  adminConfFixture,
  BIN,
  CALICO_FIXTURE,
  fakeVagrant,
  NODE,
  REPO,
  runBootstrap,
  tempDir,
  waitFor,
} from "./helpers.ts";

/** A PATH with the project's Node but no vagrant. */
async function pathWithoutVagrant(): Promise<string> {
  return [await tempDir(), join(REPO, "node_modules", ".bin"), "/usr/bin", "/bin"].join(delimiter);
}

/** A loopback port nothing listens on: connections are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function writeLab(dir: string, settings: Record<string, unknown> = {}): Promise<void> {
  await writeFile(
    join(dir, "lab.yaml"),
    stringify({ apiVersion: LAB_API_VERSION, kind: LAB_KIND, ...settings }),
  );
}

async function readState(
  dir: string,
): Promise<{ steps: Record<string, unknown>; lab?: unknown; cluster: { caCertHash?: string } }> {
  return JSON.parse(await readFile(join(dir, ".kubelab", "state.json"), "utf8")) as {
    steps: Record<string, unknown>;
    lab?: unknown;
    cluster: { caCertHash?: string };
  };
}

describe("cli", () => {
  describe("help and usage", () => {
    it("bootstrap --help explains commands, examples, exit codes and where files go (exit 0)", async () => {
      const result = await runBootstrap(["--help"], { cwd: await tempDir() });
      expect(result.exitCode).to.equal(0);
      for (const text of [
        "init",
        "up",
        "down",
        "status",
        "ssh",
        "kubeconfig",
        "Examples:",
        "Exit codes:",
        "130",
        "Files:",
        ".kubelab/",
      ]) {
        expect(result.stdout, text).to.contain(text);
      }
    });

    for (const command of ["init", "up", "down", "status", "ssh", "kubeconfig", "trace"]) {
      it(`bootstrap ${command} --help has examples and exit codes (exit 0)`, async () => {
        const result = await runBootstrap([command, "--help"], { cwd: await tempDir() });
        expect(result.exitCode).to.equal(0);
        expect(result.stdout).to.contain(`Usage: bootstrap ${command}`);
        expect(result.stdout).to.contain("Examples:");
        expect(result.stdout).to.match(/Exit codes/);
      });
    }

    it("no command, an unknown command or a bad flag is bad usage (exit 2)", async () => {
      const cwd = await tempDir();
      const none = await runBootstrap([], { cwd });
      expect(none.exitCode).to.equal(2);
      expect(none.stderr).to.contain("Usage: bootstrap");
      const unknown = await runBootstrap(["upp"], { cwd });
      expect(unknown.exitCode).to.equal(2);
      expect(unknown.stderr).to.contain("unknown command 'upp'");
      const flag = await runBootstrap(["up", "--workers", "many"], { cwd });
      expect(flag.exitCode).to.equal(2);
      expect(flag.stderr).to.contain("--workers");
      expect(await readdir(cwd)).to.deep.equal([]);
    });

    it("--version prints the package version (exit 0)", async () => {
      const result = await runBootstrap(["--version"], { cwd: await tempDir() });
      const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
      expect(result.exitCode).to.equal(0);
      expect(result.stdout.trim()).to.equal(pkg.version);
    });
  });

  it("init writes lab.yaml, refuses to overwrite it (exit 2), and --force replaces it", async () => {
    const cwd = await tempDir();
    expect((await runBootstrap(["init"], { cwd })).exitCode).to.equal(0);
    const written = await readFile(join(cwd, "lab.yaml"), "utf8");
    expect(written).to.contain("apiVersion: kubelab.dev/v1alpha1");
    const again = await runBootstrap(["init"], { cwd });
    expect(again.exitCode).to.equal(2);
    expect(again.stderr).to.contain("already exists");
    await writeFile(join(cwd, "lab.yaml"), "edited");
    expect((await runBootstrap(["init", "--force"], { cwd })).exitCode).to.equal(0);
    expect(await readFile(join(cwd, "lab.yaml"), "utf8")).to.equal(written);
  });

  it("a bad lab.yaml exits 2 naming every problem by its path, and creates nothing", async () => {
    const cwd = await tempDir();
    await writeLab(cwd, {
      controlPlane: { cpus: 1, ip: "10.0.0.10" },
      workers: { count: 2, memoryMiB: 512 },
      network: { serviceCidr: "172.16.0.0/20" },
      typo: true,
    });
    const result = await runBootstrap(["up"], { cwd });
    expect(result.exitCode).to.equal(2);
    for (const path of [
      "controlPlane.cpus",
      "controlPlane.ip",
      "workers.memoryMiB",
      "network.serviceCidr",
      "typo",
    ]) {
      expect(result.stderr, path).to.contain(`  - ${path}: `);
    }
    expect(result.stderr).not.to.match(/\n\s+at /); // no stack trace
    expect(await readdir(cwd)).to.deep.equal(["lab.yaml"]);
  });

  it("without vagrant, up says in one line what to install and exits 2, changing nothing", async () => {
    const cwd = await tempDir();
    const result = await runBootstrap(["up"], { cwd, env: { PATH: await pathWithoutVagrant() } });
    expect(result.exitCode).to.equal(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(
      /^error: vagrant is not installed or not on PATH: install Vagrant \(https:\/\/developer\.hashicorp\.com\/vagrant\/install\)/,
    );
    await stat(join(cwd, ".kubelab", "state.json")).then(
      () => expect.fail("no state may be written"),
      () => undefined,
    );
  });

  it("up --dry-run prints the plan and renders every file into .kubelab/, touching nothing else", async () => {
    const cwd = await tempDir();
    const fake = await fakeVagrant();
    const result = await runBootstrap(["up", "--dry-run", "--calico-manifest", CALICO_FIXTURE], {
      cwd,
      env: fake.env,
    });
    expect(result.exitCode, result.stderr).to.equal(0);
    expect(result.stdout).to.contain("Plan for lab kubelab: provider vagrant, Kubernetes 1.36");
    for (const step of [
      "render-files",
      "create-nodes",
      "prepare-nodes",
      "install-packages",
      "kubeadm-init",
      "fetch-kubeconfig",
      "calico",
      "join-workers",
      "nodes-ready",
    ]) {
      expect(result.stdout, step).to.contain(step);
    }
    expect(result.stdout).to.contain("Calico manifest: calico.manifest");
    const work = join(cwd, ".kubelab");
    for (const file of [
      "Vagrantfile",
      "nodes.json",
      "nodes/m-k8s/kubeadm-init.yaml",
      "nodes/m-k8s/init.sh",
      "nodes/w3-k8s/join.sh",
      "nodes/w3-k8s/kubeadm-join.yaml",
      "nodes/w1-k8s/prepare.sh",
      "nodes/w1-k8s/install.sh",
    ]) {
      await stat(join(work, file));
      expect(result.stdout, file).to.contain(file);
    }
    expect((await stat(join(work, "nodes/m-k8s/init.sh"))).mode & 0o777).to.equal(0o600);
    expect(await readdir(work)).not.to.include("state.json");
    expect(await readdir(work)).not.to.include("logs");
    expect(await fake.calls()).to.deep.equal([]);
  });

  it("down refuses without a terminal and without --yes (exit 2), destroying nothing", async () => {
    const cwd = await tempDir();
    const fake = await fakeVagrant();
    const result = await runBootstrap(["down"], { cwd, env: fake.env });
    expect(result.exitCode).to.equal(2);
    expect(result.stderr).to.contain("needs confirmation");
    expect(result.stderr).to.contain("--yes");
    expect(await fake.calls()).to.deep.equal([]);
  });

  it("down keeps the etcd snapshots and says they hold every Secret; --purge-backups deletes them", async () => {
    const fake = await fakeVagrant();
    for (const purge of [false, true]) {
      const cwd = await tempDir();
      const backups = join(cwd, ".kubelab", "backups");
      await mkdir(backups, { recursive: true, mode: 0o700 });
      await writeFile(join(backups, "etcd-20300101-000000-ab12.db"), "snapshot");
      await writeFile(join(backups, "etcd-20300101-000000-ab12.json"), "{}");
      const args = ["down", "--yes", ...(purge ? ["--purge-backups"] : [])];
      const result = await runBootstrap(args, { cwd, env: fake.env });
      expect(result.exitCode, result.stderr).to.equal(0);
      if (purge) {
        expect(result.stdout).to.contain(`Deleted 1 etcd snapshot(s) with ${backups}.`);
        expect(await readdir(join(cwd, ".kubelab"))).not.to.include("backups");
      } else {
        expect(result.stdout).to.contain(
          `The 1 etcd snapshot(s) in ${backups} hold every Secret of the cluster, in clear`,
        );
        expect(result.stdout).to.contain("bootstrap down --purge-backups");
        expect(await readdir(backups)).to.include("etcd-20300101-000000-ab12.db");
      }
    }
  });

  it("down on a terminal asks first: no keeps everything, yes destroys", async () => {
    const cwd = await tempDir();
    const fake = await fakeVagrant();
    const answer = async (reply: string): Promise<string> => {
      const child = execa("script", ["-qec", `${NODE} ${BIN} down`, "/dev/null"], {
        cwd,
        env: { ...fake.env },
        stdin: "pipe",
        reject: false,
        timeout: 30_000,
      });
      let screen = "";
      let answered = false;
      child.stdout.on("data", (chunk: Buffer) => {
        screen += chunk.toString();
        if (!answered && screen.includes("[y/N]")) {
          answered = true;
          child.stdin.write(`${reply}\n`);
        }
      });
      const result = await child;
      expect(result.exitCode, screen).to.equal(0);
      return screen;
    };
    const declined = await answer("n");
    expect(declined).to.contain("Destroy lab kubelab (m-k8s, w1-k8s, w2-k8s, w3-k8s)");
    expect(declined).to.contain("Nothing destroyed.");
    expect((await fake.calls()).map((call) => call.argv?.[0])).to.deep.equal([]);
    const accepted = await answer("yes");
    expect(accepted).to.contain("Lab kubelab destroyed.");
    expect((await fake.calls()).map((call) => call.argv?.[0])).to.deep.equal(["--version"]);
  });

  it("kubeconfig before up fails (exit 1) and says to run up; ssh to an unknown node is bad input (exit 2)", async () => {
    const cwd = await tempDir();
    const fake = await fakeVagrant();
    const kubeconfig = await runBootstrap(["kubeconfig"], { cwd, env: fake.env });
    expect(kubeconfig.exitCode).to.equal(1);
    expect(kubeconfig.stderr).to.contain("has no kubeconfig yet");
    expect(kubeconfig.stderr).to.contain("run `bootstrap up` first");
    const ssh = await runBootstrap(["ssh", "nope"], { cwd, env: fake.env });
    expect(ssh.exitCode).to.equal(2);
    expect(ssh.stderr).to.contain("nope is not a node of lab kubelab");
  });

  it("an unexpected error (a hand-broken state.json) says this is a bug, with versions (exit 1)", async () => {
    const cwd = await tempDir();
    const fake = await fakeVagrant();
    await runBootstrap(["up", "--dry-run"], { cwd, env: fake.env });
    await writeFile(
      join(cwd, ".kubelab", "state.json"),
      JSON.stringify({ version: 1, steps: {}, cluster: {}, lab: { name: "x", provider: "vagrant" } }),
    );
    const result = await runBootstrap(["status"], { cwd, env: fake.env });
    expect(result.exitCode).to.equal(1);
    expect(result.stderr).to.contain("this is a bug, please report it");
    expect(result.stderr).to.match(/kubelab \d+\.\d+\.\d+, Node\.js v24/);
  });

  describe("a lab's life against the fake vagrant", function () {
    this.timeout(60_000);

    it("Ctrl-C during up: vagrant is stopped, exit 130, state stays consistent, and up resumes", async () => {
      const cwd = await tempDir();
      const fake = await fakeVagrant();
      await writeLab(cwd, { workers: { count: 1 } });
      await fake.scenario({ rules: [{ match: "^up m-k8s", sleepMs: 30_000, times: 1 }] });
      const child = execa(NODE, [BIN, "up", "--calico-manifest", CALICO_FIXTURE], {
        cwd,
        env: { CI: "1", ...fake.env },
        reject: false,
        timeout: 30_000,
      });
      await waitFor(
        async () => (await fake.calls()).some((call) => call.argv?.[0] === "up"),
        15_000,
        "vagrant up to start",
      );
      child.kill("SIGINT");
      const result = await child;
      expect(result.exitCode, String(result.stderr)).to.equal(130);
      expect(String(result.stderr)).to.contain("error: interrupted by SIGINT");
      expect(String(result.stderr)).to.contain("run the same command again to resume");
      expect((await fake.calls()).some((call) => call.signal === "SIGINT")).to.equal(true);
      const state = await readState(cwd);
      expect(state.lab).to.not.equal(undefined);
      expect(Object.keys(state.steps).filter((key) => key.startsWith("create-nodes"))).to.deep.equal([]);
      expect(await readdir(join(cwd, ".kubelab"))).not.to.include("lock");

      // up again: the interrupted create-nodes runs to completion (vagrant up m-k8s once more), and the run goes
      // on until the first step this fake cannot serve (no admin.conf on m-k8s to fetch).
      const resumed = await runBootstrap(["up", "--calico-manifest", CALICO_FIXTURE], { cwd, env: fake.env });
      expect(resumed.exitCode, resumed.stderr).to.equal(1);
      expect(resumed.stderr).to.contain("error: fetch-kubeconfig failed");
      // Calls only (the fake also records the signal it got, with that call's argv).
      const ups = (await fake.calls())
        .filter((call) => call.signal === undefined && call.argv?.[0] === "up")
        .map((call) => call.argv?.[1]);
      expect(ups).to.deep.equal(["m-k8s", "m-k8s", "w1-k8s"]);
      const after = await readState(cwd);
      for (const key of ["create-nodes:m-k8s", "create-nodes:w1-k8s", "kubeadm-init"])
        expect(Object.keys(after.steps), key).to.include(key);
    });

    it("fails on one node naming node, step and log; resumes only what is left; refuses incompatible edits; status; down", async () => {
      const cwd = await tempDir();
      const fake = await fakeVagrant();
      const port = await closedPort();
      // The node's admin.conf and CA; the API server is a closed loopback port, so every API step fails fast.
      const admin = await adminConfFixture();
      const adminConf = admin.text;
      const ca = Buffer.from(admin.caData, "base64").toString("utf8");
      await writeLab(cwd, { workers: { count: 2 }, calico: { manifest: CALICO_FIXTURE } });
      await fake.scenario({
        rules: [
          {
            match: "^ssh w2-k8s -c sudo bash '/home/vagrant/.kubelab/prepare.sh'",
            stderr: "swapoff: /swap.img: failed\n",
            exitCode: 1,
            times: 1,
          },
        ],
        files: { "m-k8s:/etc/kubernetes/admin.conf": adminConf, "m-k8s:/etc/kubernetes/pki/ca.crt": ca },
      });
      const env = {
        ...fake.env,
        KUBELAB_API_TIMEOUT_SECONDS: "1",
        KUBELAB_VAGRANT_API_SERVER: `https://127.0.0.1:${port}`,
      };
      const log = (node: string) => join(cwd, ".kubelab", "logs", `${node}.log`);

      // 1. prepare fails on w2-k8s.
      const first = await runBootstrap(["up"], { cwd, env });
      expect(first.exitCode, first.stderr).to.equal(1);
      expect(first.stderr).to.contain(
        `error: prepare-nodes on w2-k8s failed: vagrant ssh w2-k8s (prepare-nodes): exited with code 1: swapoff: /swap.img: failed (log: ${log("w2-k8s")})`,
      );
      expect(first.stdout).to.match(/\[ 3\/18\] run {3}Prepare the nodes/);
      expect(first.stdout).to.contain("w2-k8s | FAILED");
      let state = await readState(cwd);
      expect(Object.keys(state.steps)).to.include.members([
        "create-nodes:m-k8s",
        "create-nodes:w2-k8s",
        "prepare-nodes:m-k8s",
        "prepare-nodes:w1-k8s",
      ]);
      expect(Object.keys(state.steps)).not.to.include("prepare-nodes:w2-k8s");
      expect(await readFile(log("w2-k8s"), "utf8")).to.contain("swapoff: /swap.img: failed");

      // 2. up again: prepare runs on w2-k8s only, then install, init, kubeconfig; Calico cannot reach the API.
      const before = (await fake.calls()).length;
      const second = await runBootstrap(["up"], { cwd, env });
      expect(second.exitCode, second.stderr).to.equal(1);
      expect(second.stderr).to.match(/error: calico failed: .*gave up after 1s/);
      const uploads = (await fake.calls())
        .slice(before)
        .filter((call) => call.argv?.[0] === "upload")
        .map((call) => `${call.argv?.[3]}:${call.argv?.[2]}`)
        .sort();
      expect(uploads).to.deep.equal(
        [
          "w2-k8s:/home/vagrant/.kubelab/prepare.sh",
          ...["m-k8s", "w1-k8s", "w2-k8s"].map((node) => `${node}:/home/vagrant/.kubelab/install.sh`).sort(),
          "m-k8s:/home/vagrant/.kubelab/init.sh",
        ].sort(),
      );
      expect((await fake.calls()).slice(before).filter((c) => c.argv?.[0] === "up")).to.deep.equal([]);
      state = await readState(cwd);
      expect(Object.keys(state.steps)).to.include.members([
        "kubeadm-init",
        "fetch-kubeconfig",
        "install-packages:w2-k8s",
      ]);
      expect(state.cluster.caCertHash).to.equal(caCertHash(ca));
      expect((await stat(join(cwd, ".kubelab", "kubeconfig"))).mode & 0o777).to.equal(0o600);
      expect(await readFile(join(cwd, ".kubelab", "addons", "calico.yaml"), "utf8")).to.contain(
        "cidr=192.168.56.0/24",
      );

      // The join token exists only in owner-only files, never in a log.
      const token = (await readFile(join(cwd, ".kubelab", "secrets", "bootstrap-token"), "utf8")).trim();
      expect(token).to.match(BOOTSTRAP_TOKEN_PATTERN);
      expect((await stat(join(cwd, ".kubelab", "secrets", "bootstrap-token"))).mode & 0o777).to.equal(0o600);
      for (const file of await readdir(join(cwd, ".kubelab", "logs"))) {
        expect(await readFile(join(cwd, ".kubelab", "logs", file), "utf8"), file).not.to.contain(token);
      }
      expect(second.stdout + second.stderr).not.to.contain(token);

      // 3. Edits the lab cannot follow are refused with their paths (exit 2); adding a worker is fine.
      await writeLab(cwd, {
        workers: { count: 1 },
        network: { podCidr: "10.244.0.0/16" },
        calico: { manifest: CALICO_FIXTURE },
      });
      const edited = await runBootstrap(["up", "--dry-run"], { cwd, env });
      expect(edited.exitCode).to.equal(2);
      expect(edited.stderr).to.contain(
        '  - network.podCidr: was "172.16.0.0/16" when the lab was created, now "10.244.0.0/16"',
      );
      expect(edited.stderr).to.contain("  - workers.count: the lab has 2 workers and lab.yaml asks for 1");
      expect(edited.stderr).to.contain(
        "hint: undo these edits, or recreate the lab with them: bootstrap down, then bootstrap up",
      );
      await writeLab(cwd, { workers: { count: 3 }, calico: { manifest: CALICO_FIXTURE } });
      const grown = await runBootstrap(["up", "--dry-run"], { cwd, env });
      expect(grown.exitCode, grown.stderr).to.equal(0);
      expect(grown.stdout).to.match(
        /kubeadm-init +Initialise the control plane m-k8s \(kubeadm init\) {2}\(done\)/,
      );
      await writeLab(cwd, { workers: { count: 2 }, calico: { manifest: CALICO_FIXTURE } });

      // 4. status shows the machines, that the API is unreachable, and the step to resume.
      const status = await runBootstrap(["status"], { cwd, env });
      expect(status.exitCode, status.stderr).to.equal(0);
      expect(status.stdout).to.match(
        /m-k8s\s+control-plane\s+192\.168\.56\.10\s+virtualbox: running\s+API unreachable/,
      );
      expect(status.stdout).to.contain("Unfinished: next step is calico");

      // 5. down --yes destroys the machines and forgets the lab.
      const down = await runBootstrap(["down", "--yes"], { cwd, env });
      expect(down.exitCode, down.stderr).to.equal(0);
      expect((await fake.calls()).at(-1)?.argv).to.deep.equal(["destroy", "--force", "--machine-readable"]);
      const left = await readdir(join(cwd, ".kubelab"));
      for (const gone of ["state.json", "kubeconfig", "secrets", "nodes", "Vagrantfile"])
        expect(left, gone).not.to.include(gone);
      expect(left).to.include("logs");
    });
  });
});
