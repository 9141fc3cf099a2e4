// Every rendered file: golden files for the default, a 1-worker and an air-gapped lab, secrets marked, scripts pass bash -n and shellcheck.
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { VagrantProvider } from "../../../bootstrap/providers/vagrant/provider.ts";
import {
  CA_HASH_PENDING,
  renderLabFiles,
  writeRenderedFiles,
  type RenderedFile,
} from "../../../bootstrap/up/render.ts";
import { expectGolden } from "../golden.ts";
import { installSources } from "../../../bootstrap/lab/sources.ts";
import { FIXED_TOKEN, FIXTURES, labOf, tempDir } from "../helpers.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

const provider = new VagrantProvider();
const HASH = `sha256:${"0f".repeat(32)}`;

/** An air-gapped lab: its own apt mirror (key pinned from a file) and a registry mirror per registry. */
const AIR_GAPPED = labOf({
  workers: { count: 1 },
  packages: { repository: "http://mirror.lab.example/core:/stable:/v1.36/deb/", key: "pki/apt-mirror.asc" },
  images: {
    mirrors: {
      "registry.k8s.io": "http://mirror.lab.example:5000",
      "docker.io": "https://hub.mirror.example",
    },
  },
});

const cases = {
  default: () =>
    renderLabFiles({
      lab: labOf(),
      provider,
      token: FIXED_TOKEN,
      sources: installSources(labOf(), FIXTURES),
    }),
  "one-worker": () => {
    const lab = labOf({ workers: { count: 1 }, kubernetes: { version: "1.36.5" } });
    return renderLabFiles({
      lab,
      provider,
      token: FIXED_TOKEN,
      caCertHash: HASH,
      sources: installSources(lab, FIXTURES),
    });
  },
  "air-gapped": () =>
    renderLabFiles({
      lab: AIR_GAPPED,
      provider,
      token: FIXED_TOKEN,
      sources: installSources(AIR_GAPPED, FIXTURES),
    }),
};

function asMap(files: readonly RenderedFile[]): Map<string, string> {
  return new Map(files.map((file) => [file.path, file.content]));
}

describe("up/render", () => {
  before(() => requireSystemTool("shellcheck"));

  for (const [name, render] of Object.entries(cases)) {
    it(`${name} lab: matches the golden files`, async () => {
      await expectGolden(`render-${name}`, asMap(render()));
    });
  }

  it("renders the Vagrantfile, the node list, and per node prepare/install plus init (control plane) or join (workers)", () => {
    const paths = cases.default().map((file) => file.path);
    expect(paths).to.include.members([
      "Vagrantfile",
      "nodes.json",
      "nodes/m-k8s/init.sh",
      "nodes/m-k8s/kubeadm-init.yaml",
    ]);
    for (const node of ["m-k8s", "w1-k8s", "w2-k8s", "w3-k8s"]) {
      expect(paths).to.include.members([`nodes/${node}/prepare.sh`, `nodes/${node}/install.sh`]);
    }
    for (const node of ["w1-k8s", "w2-k8s", "w3-k8s"]) expect(paths).to.include(`nodes/${node}/join.sh`);
    expect(paths).not.to.include("nodes/m-k8s/join.sh");
  });

  it("marks exactly the files holding the token as secret, and writes them 0600", async () => {
    const files = cases.default();
    for (const file of files) {
      expect(file.secret, file.path).to.equal(file.content.includes(FIXED_TOKEN));
    }
    const dir = await tempDir();
    await writeRenderedFiles(dir, files);
    for (const file of files) {
      const mode = (await stat(join(dir, file.path))).mode & 0o777;
      expect(mode, file.path).to.equal(file.secret ? 0o600 : file.path.endsWith(".sh") ? 0o755 : 0o644);
    }
  });

  it("join files rendered before kubeadm init say the hash is pending; after it, they pin the real one", () => {
    const before = cases.default().find((file) => file.path === "nodes/w1-k8s/kubeadm-join.yaml");
    expect(before?.content).to.contain(CA_HASH_PENDING);
    const after = cases["one-worker"]().find((file) => file.path === "nodes/w1-k8s/kubeadm-join.yaml");
    expect(after?.content).to.contain(HASH);
  });

  it("writing the same files again changes nothing on disk", async () => {
    const dir = await tempDir();
    expect(await writeRenderedFiles(dir, cases.default())).to.be.greaterThan(0);
    expect(await writeRenderedFiles(dir, cases.default())).to.equal(0);
  });

  it("every rendered script passes bash -n and shellcheck", async function () {
    this.timeout(60_000);
    const dir = await tempDir();
    const scripts: string[] = [];
    for (const [name, render] of Object.entries(cases)) {
      for (const file of render().filter((f) => f.path.endsWith(".sh"))) {
        const path = join(dir, `${name}-${file.path.replaceAll("/", "-")}`);
        await writeFile(path, file.content);
        scripts.push(path);
        const syntax = await execa("bash", ["-n", path], { reject: false });
        expect(syntax.exitCode, `bash -n ${file.path}: ${syntax.stderr}`).to.equal(0);
      }
    }
    const lint = await execa("shellcheck", ["--severity=style", ...scripts], { reject: false });
    expect(lint.exitCode, `shellcheck:\n${lint.stdout}`).to.equal(0);
  });
});
