// The operator image's Dockerfile keeps its promises: pinned etcd, Node 24, production dependencies only, non-root, complete.
import { readdir, readFile, stat } from "node:fs/promises";
import { builtinModules } from "node:module";
import { join, relative } from "node:path";
import { expect } from "chai";

import { COMPONENT_VERSIONS } from "../../bootstrap/controlplane/versions.ts";
import { parseDockerfile as parseImageDockerfile } from "../../bootstrap/image/dockerfile.ts";
import { REPO } from "./helpers.ts";

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  /** The base with the ARG defaults expanded. */
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** The Dockerfile as bootstrap's assembly reads it (one parser for the image and for these checks). */
function parseDockerfile(text: string): { args: ReadonlyMap<string, string | undefined>; stages: Stage[] } {
  const parsed = parseImageDockerfile(text);
  return {
    args: parsed.globalArgs,
    stages: parsed.stages.map((stage) => ({
      from: stage.base,
      name: stage.name,
      instructions: stage.instructions.map((i) => ({ keyword: i.keyword, args: i.text, line: i.line })),
    })),
  };
}

/** Every .ts/.js file under `dir`. */
async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(ts|js|mjs)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe("Dockerfile (operator image)", () => {
  let dockerfile: ReturnType<typeof parseDockerfile>;
  let runtime: Stage;
  const packageJson = async () =>
    JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as {
      license: string;
      bin: Record<string, string>;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };

  before(async () => {
    dockerfile = parseDockerfile(await readFile(join(REPO, "Dockerfile"), "utf8"));
    runtime = dockerfile.stages.at(-1)!;
  });

  const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

  it("takes etcdctl and etcdutl from the upstream etcd image of the cluster's etcd release", () => {
    const etcd = dockerfile.stages.find((stage) => stage.name === "etcd");
    expect(etcd?.from.split("@")[0]).to.equal(
      `registry.k8s.io/etcd:${COMPONENT_VERSIONS.etcd.replace(/^v/, "")}-0`,
    );
    const copies = of(runtime, "COPY").filter((copy) => copy.args.startsWith("--from=etcd "));
    expect(copies.map((copy) => copy.args)).to.deep.equal([
      "--from=etcd /usr/local/bin/etcdctl /usr/local/bin/etcdutl /usr/local/bin/",
    ]);
  });

  it("pins every base image by digest, so a moved tag cannot change what is built", () => {
    expect([...dockerfile.args.keys()]).to.deep.equal(["NODE_BUILD_IMAGE", "RUNTIME_IMAGE", "ETCD_IMAGE"]);
    for (const stage of dockerfile.stages)
      expect(stage.from).to.match(/^[^@\s]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
  });

  it("runs on Node 24, the project's runtime, and installs with npm only in a build stage", async () => {
    const { devDependencies } = await packageJson();
    expect(devDependencies.node).to.match(/^\^24\./);
    expect(runtime.from).to.match(/^gcr\.io\/distroless\/nodejs24-/);
    const build = dockerfile.stages.find((stage) => stage.name === "dependencies");
    expect(build?.from).to.match(/^node:24[-.]/);
    expect(of(runtime, "RUN"), "the runtime image has no shell and runs nothing at build").to.deep.equal([]);
  });

  it("installs the production dependencies only, from the lock file, without install scripts", () => {
    const build = dockerfile.stages.find((stage) => stage.name === "dependencies")!;
    const install = of(build, "RUN").map((run) => run.args);
    expect(install).to.have.length(1);
    expect(install[0]).to.match(/^npm ci --omit=dev --ignore-scripts /);
    expect(of(build, "COPY").map((copy) => copy.args)).to.deep.equal(["package.json package-lock.json ./"]);
    const modules = of(runtime, "COPY").filter((copy) => copy.args.includes("node_modules"));
    expect(modules.map((copy) => copy.args)).to.deep.equal([
      "--from=dependencies /build/node_modules ./node_modules",
    ]);
  });

  it("no production dependency needs an install script (so --ignore-scripts installs them whole)", async () => {
    const lock = JSON.parse(await readFile(join(REPO, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([name, entry]) => name !== "" && entry.dev !== true && entry.hasInstallScript === true)
      .map(([name]) => name);
    expect(withScripts).to.deep.equal([]);
  });

  it("runs as a numeric non-root user, the operator's entry point, with OCI labels", async () => {
    const users = of(runtime, "USER").map((user) => user.args);
    expect(users).to.have.length(1);
    const [uid, gid] = users[0]!.split(":").map(Number);
    expect(uid).to.be.a("number").and.greaterThan(0);
    expect(gid).to.be.a("number").and.greaterThan(0);
    const { bin, license } = await packageJson();
    expect(of(runtime, "ENTRYPOINT").map((e) => e.args)).to.deep.equal([
      `["/nodejs/bin/node", "/app/${bin["kubelab-operator"]}"]`,
    ]);
    const labels = of(runtime, "LABEL")
      .map((label) => label.args)
      .join(" ");
    for (const key of ["title", "description", "version", "revision", "licenses", "base.name"]) {
      expect(labels).to.contain(`org.opencontainers.image.${key}=`);
    }
    expect(labels).to.contain(`org.opencontainers.image.licenses="${license}"`);
  });

  it("copies everything the operator loads at run time: no import reaches outside the image or into devDependencies", async () => {
    const copied = of(runtime, "COPY")
      .filter((copy) => !copy.args.startsWith("--from="))
      .flatMap((copy) => copy.args.split(/\s+/).slice(0, -1));
    expect(copied).to.have.members(["package.json", "bin", "operator"]);
    const { dependencies } = await packageJson();
    const builtins = new Set(builtinModules);
    const problems: string[] = [];
    const files = [
      join(REPO, "bin", "kubelab-operator.js"),
      join(REPO, "bin", "node-version.js"),
      ...(await sourceFiles(join(REPO, "operator"))),
    ];
    for (const file of files) {
      const text = await readFile(file, "utf8");
      const specifiers = [
        ...text.matchAll(/^\s*(?:import|export)\b[^"';]*?from\s+"([^"]+)"/gm),
        ...text.matchAll(/^\s*import\s+"([^"]+)"/gm),
        ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
      ].map((match) => match[1]!);
      for (const specifier of specifiers) {
        const where = relative(REPO, file);
        if (specifier.startsWith(".")) {
          const target = relative(REPO, join(file, "..", specifier));
          if (!copied.some((entry) => target === entry || target.startsWith(`${entry}/`))) {
            problems.push(`${where} imports ${specifier}, which is not in the image`);
          } else if ((await stat(join(REPO, target)).catch(() => undefined)) === undefined) {
            problems.push(`${where} imports ${specifier}, which does not exist`);
          }
          continue;
        }
        if (specifier.startsWith("node:") || builtins.has(specifier)) continue;
        const name = specifier.startsWith("@")
          ? specifier.split("/").slice(0, 2).join("/")
          : specifier.split("/")[0]!;
        if (dependencies[name] === undefined) {
          problems.push(`${where} imports ${name}, which is not a production dependency`);
        }
      }
    }
    expect(problems).to.deep.equal([]);
  });

  it(".dockerignore lets in only what the image copies (no tests, no .kubelab secrets, no host node_modules)", async () => {
    const lines = (await readFile(join(REPO, ".dockerignore"), "utf8"))
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    expect(lines).to.deep.equal(["*", "!package.json", "!package-lock.json", "!bin/", "!operator/"]);
  });
});
