// The binary lookup order: KUBEBUILDER_ASSETS, the verified cache, one locked download; and what it says when stuck.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

import {
  binaryCacheDir,
  cacheRoot,
  ensureBinaries,
  type BinaryManifest,
  missingBinaries,
} from "../../../bootstrap/controlplane/binaries.ts";
import { mirrorReleaseSources } from "../../../bootstrap/controlplane/download.ts";
import { BINARY_NAMES, COMPONENT_VERSIONS } from "../../../bootstrap/controlplane/versions.ts";
import { MissingToolError } from "../../../bootstrap/errors.ts";
import { PLATFORM, type ReleaseFixture, startReleaseFixture } from "./release-fixture.ts";

describe("controlplane/binaries", () => {
  let root: string;
  let fixture: ReleaseFixture;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "kubelab-binaries-test-"));
    fixture = await startReleaseFixture();
    env = { KUBELAB_CACHE_DIR: join(root, "cache") };
  });

  afterEach(async () => {
    await fixture.close();
    await rm(root, { recursive: true, force: true });
  });

  /** ensureBinaries without Go, downloading from the fixture mirror. */
  const ensure = (extra: Parameters<typeof ensureBinaries>[0] = {}) =>
    ensureBinaries({ env, build: false, releaseSources: fixture.sources, platform: PLATFORM, ...extra });

  const downloads = (): number => fixture.requests.get(fixture.kubernetesPath("kube-apiserver")) ?? 0;

  it("puts the cache under KUBELAB_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache, keyed by the Kubernetes version", () => {
    expect(cacheRoot({ KUBELAB_CACHE_DIR: "/c", XDG_CACHE_HOME: "/x" })).to.equal("/c");
    expect(cacheRoot({ XDG_CACHE_HOME: "/x" })).to.equal("/x/kubelab");
    expect(cacheRoot({})).to.equal(join(homedir(), ".cache", "kubelab"));
    expect(binaryCacheDir({ KUBELAB_CACHE_DIR: "/c" })).to.equal(`/c/bin/${COMPONENT_VERSIONS.kubernetes}`);
  });

  it("downloads once into the cache with a manifest, then serves the cache without the network", async () => {
    const first = await ensure();
    expect(first.source).to.equal("downloaded");
    expect(first.dir).to.equal(binaryCacheDir(env));
    const manifest = JSON.parse(await readFile(join(first.dir, "manifest.json"), "utf8")) as BinaryManifest;
    expect(manifest.versions).to.deep.equal(COMPONENT_VERSIONS);
    expect(manifest.platform).to.equal("linux/amd64");
    expect(Object.keys(manifest.files).sort()).to.deep.equal([...BINARY_NAMES].sort());

    await fixture.close();
    const second = await ensure();
    expect(second.source).to.equal("cache");
    expect(await readFile(second.path("kubectl"), "utf8")).to.equal(fixture.contents.get("kubectl"));
    expect(downloads()).to.equal(1);
  });

  it("replaces a cached set whose file no longer matches its recorded sha256", async () => {
    const first = await ensure();
    await writeFile(first.path("etcd"), "#!/bin/sh\necho corrupted\n");
    const progress: string[] = [];
    const second = await ensure({ progress: (line) => progress.push(line) });
    expect(second.source).to.equal("downloaded");
    expect(progress.join("\n")).to.contain("etcd does not match its recorded sha256");
    expect(await readFile(second.path("etcd"), "utf8")).to.equal(fixture.contents.get("etcd"));
  });

  it("hashes a cached file again only when it was written since its last check, so same-size tampering is caught", async () => {
    const first = await ensure();
    const manifestPath = join(first.dir, "manifest.json");
    const recorded = JSON.parse(await readFile(manifestPath, "utf8")) as BinaryManifest;
    expect(recorded.files.etcd?.ctimeMs).to.be.a("number");
    const original = await readFile(first.path("etcd"));
    const tampered = Buffer.from(original);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 0xff, tampered.length - 1);
    await writeFile(first.path("etcd"), tampered);
    const progress: string[] = [];
    const second = await ensure({ progress: (line) => progress.push(line) });
    expect(second.source).to.equal("downloaded");
    expect(progress.join("\n")).to.contain("etcd does not match its recorded sha256");
  });

  it("rebuilds a cached set made for other component versions", async () => {
    await ensure();
    const other = { ...COMPONENT_VERSIONS, kwok: "v0.0.1" };
    const progress: string[] = [];
    await ensure({ versions: other, progress: (line) => progress.push(line) }).catch(() => undefined);
    expect(progress.join("\n")).to.contain("kwok v0.8.0 instead of v0.0.1");
  });

  it("lets two concurrent runs share one download: the second waits for the lock and reuses the result", async () => {
    const [a, b] = await Promise.all([ensure(), ensure()]);
    expect([a.source, b.source].sort()).to.deep.equal(["cache", "downloaded"]);
    expect(downloads()).to.equal(1);
  });

  it("uses KUBEBUILDER_ASSETS when it holds every required binary, and says what is missing otherwise", async () => {
    const assets = join(root, "assets");
    await mkdir(assets);
    for (const name of ["etcd", "kube-apiserver", "kubectl"]) {
      await writeFile(join(assets, name), "#!/bin/sh\n");
      await chmod(join(assets, name), 0o755);
    }
    const withAssets = { ...env, KUBEBUILDER_ASSETS: assets };
    const enough = await ensure({ env: withAssets, required: ["etcd", "kube-apiserver", "kubectl"] });
    expect(enough.source).to.equal("KUBEBUILDER_ASSETS");
    expect(enough.path("etcd")).to.equal(join(assets, "etcd"));

    const progress: string[] = [];
    const fallback = await ensure({ env: withAssets, progress: (line) => progress.push(line) });
    expect(fallback.source).to.equal("downloaded");
    expect(progress[0]).to.contain(
      `KUBEBUILDER_ASSETS=${assets} lacks kube-controller-manager, kube-scheduler, kubeadm`,
    );
    expect(await missingBinaries(assets, ["etcd", "kwok"])).to.deep.equal(["kwok"]);
  });

  it("asks for Go (exit 2) when there is no Go and the release servers cannot be reached", async () => {
    const unreachable = mirrorReleaseSources(fixture.sources.kubernetes.replace(/\/kubernetes$/, ""));
    await fixture.close();
    const error = await ensure({ releaseSources: unreachable }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).to.be.instanceOf(MissingToolError);
    const missing = error as MissingToolError;
    expect(missing.exitCode).to.equal(2);
    const advice = `${missing.message} ${missing.hint ?? ""}`;
    expect(advice).to.contain("go is not installed");
    expect(advice).to.contain("https://go.dev/dl/").and.to.contain("KUBEBUILDER_ASSETS");
  });

  it("asks for Go when the go command given does not exist and downloads are off", async () => {
    const error = await ensureBinaries({
      env,
      go: join(root, "no-such-go"),
      download: false,
      platform: PLATFORM,
    }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).to.be.instanceOf(MissingToolError);
  });
});
