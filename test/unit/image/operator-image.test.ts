// The operator image assembled from the Dockerfile's final stage: its config is the base's with the stage's
// instructions laid over (as the builder does), its files are the base's plus exactly what each COPY names,
// a rebuild of the same inputs is the same digest from the cache, and bases are pinned and explained.
import { cp, mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { expect } from "chai";

import { ImageError } from "../../../bootstrap/errors.ts";
import { finalStage, parseDockerfile } from "../../../bootstrap/image/dockerfile.ts";
import { listImageFiles } from "../../../bootstrap/image/extract.ts";
import { readImage, writeImage } from "../../../bootstrap/image/image.ts";
import { writeLayer } from "../../../bootstrap/image/layer.ts";
import { readImageArchive, writeOciArchive } from "../../../bootstrap/image/layout.ts";
import type { Platform } from "../../../bootstrap/image/oci.ts";
import { buildOperatorImage, type OperatorImageOptions } from "../../../bootstrap/image/operator-image.ts";
import { BlobStore } from "../../../bootstrap/image/store.ts";
import { REPO, tempDir } from "../helpers.ts";

const amd64: Platform = { os: "linux", architecture: "amd64" };
const RUNTIME = "localhost/test/runtime:1";
const ETCD = "localhost/test/etcd:1";
const BASE_ENV = [
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "NODE_ENV=development",
];

/** Fake bases written with our own library: a runtime with a "node" and an etcd image with its three tools. */
async function baseArchives(dir: string): Promise<{ runtime: string; etcd: string }> {
  const store = new BlobStore(join(dir, "bases"));
  const runtimeLayer = await writeLayer(store, [
    { type: "directory", path: "etc" },
    {
      type: "file",
      path: "etc/passwd",
      content: Buffer.from(
        "root:x:0:0::/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n",
      ),
    },
    { type: "directory", path: "nodejs" },
    { type: "directory", path: "nodejs/bin" },
    { type: "file", path: "nodejs/bin/node", content: Buffer.from("not really node"), mode: 0o755 },
    { type: "directory", path: "usr" },
    { type: "directory", path: "usr/local" },
    { type: "directory", path: "usr/local/bin" },
  ]);
  const runtime = await writeImage(store, {
    platform: amd64,
    layers: [{ layer: runtimeLayer, createdBy: "base" }],
    config: {
      Env: BASE_ENV,
      User: "65532",
      Entrypoint: ["/nodejs/bin/node"],
      Cmd: ["--version"],
      WorkingDir: "/",
      Labels: { "from.base": "yes" },
    },
  });
  const etcdLayer = await writeLayer(store, [
    { type: "directory", path: "usr" },
    { type: "directory", path: "usr/local" },
    { type: "directory", path: "usr/local/bin" },
    ...["etcd", "etcdctl", "etcdutl"].map((name) => ({
      type: "file" as const,
      path: `usr/local/bin/${name}`,
      content: Buffer.from(`${name} binary`),
      mode: 0o755,
    })),
  ]);
  const etcd = await writeImage(store, {
    platform: amd64,
    layers: [{ layer: etcdLayer, createdBy: "etcd" }],
    config: { Entrypoint: ["/usr/local/bin/etcd"] },
  });
  await writeOciArchive(join(dir, "runtime.tar"), store, [{ reference: RUNTIME, descriptor: runtime }]);
  await writeOciArchive(join(dir, "etcd.tar"), store, [{ reference: ETCD, descriptor: etcd }]);
  return { runtime: join(dir, "runtime.tar"), etcd: join(dir, "etcd.tar") };
}

/** A small checkout with the project's real Dockerfile and .dockerignore, and files in and out of the context. */
async function checkout(dir: string): Promise<string> {
  const root = join(dir, "checkout");
  await mkdir(join(root, "bin"), { recursive: true });
  await mkdir(join(root, "operator", "api"), { recursive: true });
  await mkdir(join(root, "test"), { recursive: true });
  await cp(join(REPO, "Dockerfile"), join(root, "Dockerfile"));
  await cp(join(REPO, ".dockerignore"), join(root, ".dockerignore"));
  await writeFile(join(root, "package.json"), JSON.stringify({ name: "mini", version: "0.0.1" }));
  await writeFile(
    join(root, "package-lock.json"),
    JSON.stringify({ name: "mini", lockfileVersion: 3, packages: {} }),
  );
  await writeFile(join(root, "bin", "kubelab-operator.js"), "#!/usr/bin/env node\n", { mode: 0o755 });
  await writeFile(join(root, "operator", "main.ts"), "export {};\n");
  await writeFile(join(root, "operator", "api", "group.ts"), "export const group = 'x';\n");
  await writeFile(join(root, "test", "not-in-image.ts"), "");
  await writeFile(join(root, "README.md"), "not in the image either");
  return root;
}

async function filesUnder(root: string, at: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.map((entry) => `${at}/${relative(root, join(entry.parentPath, entry.name))}`);
}

describe("image/operator-image", function () {
  this.timeout(30_000);
  let dir: string;
  let archives: { runtime: string; etcd: string };
  let root: string;
  let installs = 0;

  before(async () => {
    dir = await tempDir();
    archives = await baseArchives(dir);
    root = await checkout(dir);
  });

  const options = (overrides: Partial<OperatorImageOptions> = {}): OperatorImageOptions => ({
    checkout: root,
    platform: amd64,
    cacheDir: join(dir, "cache"),
    reference: "kubelab-operator:0.1.0",
    buildArgs: { RUNTIME_IMAGE: RUNTIME, ETCD_IMAGE: ETCD, VERSION: "0.1.0", REVISION: "abc123" },
    sources: { archives: [archives.runtime, archives.etcd] },
    archivePath: join(dir, "out", "operator.tar"),
    logFile: join(dir, "build.log"),
    signal: new AbortController().signal,
    installDependencies: async (work) => {
      installs += 1;
      await mkdir(join(work, "node_modules", "tiny"), { recursive: true });
      await writeFile(join(work, "node_modules", "tiny", "index.js"), "export default 1;\n");
    },
    ...overrides,
  });

  it("the config is the base's with every config instruction of the final stage laid over it", async () => {
    const built = await buildOperatorImage(options());
    const store = new BlobStore(join(dir, "read"));
    const [named] = await readImageArchive(built.archivePath, store);
    expect(named?.reference).to.equal("docker.io/library/kubelab-operator:0.1.0");
    const image = await readImage(store, built.descriptor, amd64);
    const stage = finalStage(
      parseDockerfile(await readFile(join(root, "Dockerfile"), "utf8")),
      options().buildArgs,
    );
    const config = image.config.config ?? {};
    expect(config.User).to.equal(stage.user);
    expect(config.WorkingDir).to.equal(stage.workdir);
    expect(config.Entrypoint).to.deep.equal(stage.entrypoint);
    expect(config.Cmd).to.deep.equal(stage.cmd);
    expect(Object.keys(config.ExposedPorts ?? {})).to.deep.equal(stage.exposedPorts);
    // ENV replaces the base's value of the same name and keeps the others; LABEL merges.
    expect(config.Env).to.deep.equal([BASE_ENV[0], ...stage.env.map(([key, value]) => `${key}=${value}`)]);
    expect(config.Labels).to.deep.equal({ "from.base": "yes", ...stage.labels });
    expect(config.Labels?.["org.opencontainers.image.base.name"]).to.equal(RUNTIME);
    expect(config.Labels?.["org.opencontainers.image.revision"]).to.equal("abc123");
    // What the Dockerfile says, read here as text: the final stage cannot drift from the assembly unseen.
    const dockerfile = await readFile(join(root, "Dockerfile"), "utf8");
    expect(dockerfile).to.include(`USER ${config.User}`);
    expect(dockerfile).to.include(`WORKDIR ${config.WorkingDir}`);
    expect(dockerfile).to.include(`ENTRYPOINT ${JSON.stringify(config.Entrypoint).replace(/","/g, '", "')}`);
    expect(image.config.rootfs.diff_ids).to.have.length(1 + stage.copies.length);
  });

  it("the files are the base's plus exactly what each COPY names, owned by root, nothing ignored", async () => {
    const built = await buildOperatorImage(options());
    const store = new BlobStore(join(dir, "cache"));
    const files = await listImageFiles(store, await readImage(store, built.descriptor, amd64));
    const expected = new Set([
      "/etc",
      "/etc/passwd",
      "/nodejs",
      "/nodejs/bin",
      "/nodejs/bin/node",
      "/usr",
      "/usr/local",
      "/usr/local/bin",
      "/usr/local/bin/etcdctl",
      "/usr/local/bin/etcdutl",
      "/app",
      "/app/node_modules",
      "/app/node_modules/tiny",
      "/app/node_modules/tiny/index.js",
      "/app/package.json",
      "/app/bin",
      ...(await filesUnder(join(root, "bin"), "/app/bin")),
      "/app/operator",
      ...(await filesUnder(join(root, "operator"), "/app/operator")),
    ]);
    expect([...files.keys()].sort()).to.deep.equal([...expected].sort());
    expect(files.get("/usr/local/bin/etcdctl")).to.include({
      type: "file",
      mode: 0o755,
      size: "etcdctl binary".length,
    });
    expect(files.get("/app/bin/kubelab-operator.js")).to.include({ mode: 0o755, uid: 0, gid: 0 });
    expect(files.get("/app/operator/main.ts")).to.include({ mode: 0o644, uid: 0, gid: 0 });
    // WORKDIR makes /app for the user in effect (the base's 65532, group from its /etc/passwd), as builders do.
    expect(files.get("/app")).to.include({ type: "directory", uid: 65532, gid: 65532 });
    expect(files.get("/app/bin")).to.include({ uid: 0, gid: 0 });
  });

  it("the same inputs give the same digest from the cache; a changed file gives another", async () => {
    const first = await buildOperatorImage(options());
    const before = installs;
    const second = await buildOperatorImage(options({ archivePath: join(dir, "out", "again.tar") }));
    expect(second.descriptor.digest).to.equal(first.descriptor.digest);
    expect(installs, "npm ci is not run again for the same lock file").to.equal(before);
    expect(await readFile(second.archivePath)).to.deep.equal(await readFile(first.archivePath));
    await writeFile(join(root, "operator", "main.ts"), "export const changed = true;\n");
    const third = await buildOperatorImage(options({ archivePath: join(dir, "out", "third.tar") }));
    expect(third.descriptor.digest).to.not.equal(first.descriptor.digest);
  });

  it("refuses an archive whose image has the base's name but not the pinned digest", async () => {
    const error = await buildOperatorImage(
      options({
        buildArgs: { RUNTIME_IMAGE: `${RUNTIME}@sha256:${"0".repeat(64)}`, ETCD_IMAGE: ETCD },
      }),
    ).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ImageError).with.property("message").that.includes("pins");
  });

  it("without a registry and without an archive of the base, the error names what to provide", async () => {
    const error = await buildOperatorImage(options({ sources: { archives: [archives.etcd] } })).catch(
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ImageError);
    expect((error as ImageError).message).to.include(RUNTIME);
    expect((error as ImageError).hint)
      .to.include("images.mirrors")
      .and.include("archive");
  });

  it("refuses a final stage with a RUN, naming its line", async () => {
    const other = join(dir, "with-run");
    await cp(root, other, { recursive: true });
    const text = await readFile(join(other, "Dockerfile"), "utf8");
    await writeFile(
      join(other, "Dockerfile"),
      text.replace("ENV NODE_ENV=production", "RUN echo hi\nENV NODE_ENV=production"),
    );
    const error = await buildOperatorImage(options({ checkout: other })).catch((e: unknown) => e);
    expect(error)
      .to.be.instanceOf(ImageError)
      .with.property("message")
      .that.matches(/line \d+ \(RUN\)/);
  });
});
