// The real kubeadm checks the configurations the CLI writes: `kubeadm config validate` on every one of them.
import { readFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { parseLab } from "../../bootstrap/lab/config.ts";
import { installSources } from "../../bootstrap/lab/sources.ts";
import { INSTALLED_KUBEADM_VERSION } from "../../bootstrap/provision/kubeadm.ts";
import { renderLabFiles } from "../../bootstrap/up/render.ts";
import { caCertHash } from "../../bootstrap/provision/cahash.ts";
import { randomBootstrapToken } from "../../bootstrap/provision/token.ts";
import { controlPlane } from "../envtest/index.ts";

const LAB_HEADER = "apiVersion: kubelab.dev/v1alpha1\nkind: Lab\n";

/** A provider that installs Kubernetes and renders nothing of its own: only the CLI's kubeadm files matter here. */
const KUBEADM_PROVIDER = {
  renderFiles: () => new Map<string, string>(),
  capabilities: { shell: true, installsKubernetes: true },
};

describe("kubeadm configurations rendered by the CLI", () => {
  let dir: string;
  let kubeadmVersion: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "kubelab-kubeadm-test-"));
    kubeadmVersion = (
      await execa(controlPlane().binaries.path("kubeadm"), ["version", "-o", "short"], { timeout: 30_000 })
    ).stdout.trim();
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `kubeadm config validate`; resolves with its combined output, rejects with it on failure. */
  async function validate(path: string): Promise<{ ok: boolean; output: string }> {
    const result = await execa(
      controlPlane().binaries.path("kubeadm"),
      ["config", "validate", "--config", path],
      {
        reject: false,
        all: true,
        timeout: 60_000,
      },
    );
    return { ok: result.exitCode === 0, output: String(result.all) };
  }

  /** The kubeadm files the CLI renders for a lab, as init.sh and join.sh would write them on the nodes. */
  async function renderedConfigs(labYaml: string): Promise<Map<string, string>> {
    const lab = parseLab(`${LAB_HEADER}${labYaml}`, "lab.yaml");
    const files = renderLabFiles({
      sources: installSources(lab, "/"),
      lab,
      provider: KUBEADM_PROVIDER,
      token: randomBootstrapToken(),
      caCertHash: caCertHash(await readFile(controlPlane().pki.ca.certPath, "utf8")),
    });
    const configs = new Map<string, string>();
    for (const file of files.filter((candidate) => /kubeadm-(init|join)\.yaml$/.test(candidate.path))) {
      // init.sh substitutes the installed kubeadm's version for the placeholder, as done here.
      configs.set(file.path, file.content.replaceAll(INSTALLED_KUBEADM_VERSION, kubeadmVersion));
    }
    return configs;
  }

  const labs = {
    "the default lab (1 control plane, 3 workers)": "",
    "a 1-worker lab pinned to a patch release": "kubernetes:\n  version: 1.36.5\nworkers:\n  count: 1\n",
  };

  for (const [title, labYaml] of Object.entries(labs)) {
    it(`accepts every Init, Cluster and Join configuration of ${title}`, async function () {
      this.timeout(120_000);
      const configs = await renderedConfigs(labYaml);
      const workers = labYaml.includes("count: 1") ? 1 : 3;
      expect([...configs.keys()].filter((path) => path.endsWith("kubeadm-join.yaml"))).to.have.length(
        workers,
      );
      expect([...configs.keys()].filter((path) => path.endsWith("kubeadm-init.yaml"))).to.have.length(1);
      for (const [path, content] of configs) {
        if (path.endsWith("kubeadm-init.yaml")) {
          expect(content).to.contain("kind: InitConfiguration").and.to.contain("kind: ClusterConfiguration");
        }
        const file = join(dir, path.replaceAll("/", "_"));
        await writeFile(file, content, { mode: 0o600 });
        const result = await validate(file);
        expect(result.ok, `kubeadm rejected ${path}:\n${result.output}`).to.equal(true);
      }
    });
  }

  it("is a real check: kubeadm rejects a configuration with a broken pod subnet", async () => {
    const configs = await renderedConfigs("");
    const [path, content] = [...configs].find(([candidate]) => candidate.endsWith("kubeadm-init.yaml"))!;
    const broken = content.replace(/podSubnet: .*/, "podSubnet: 172.16.0.0/99");
    expect(broken).to.not.equal(content);
    const file = join(dir, `broken_${path.replaceAll("/", "_")}`);
    await writeFile(file, broken, { mode: 0o600 });
    const result = await validate(file);
    expect(result.ok).to.equal(false);
    expect(result.output).to.contain("podSubnet");
  });
});
