// Release downloads against a local mirror: only files matching their published checksum are ever kept.
import { access, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

import {
  downloadReleaseBinaries,
  mirrorReleaseSources,
  NetworkError,
  parseGithubAssetDigest,
  parseSha256File,
  parseSha256Sums,
  releaseSourcesFromEnv,
  OFFICIAL_RELEASE_SOURCES,
} from "../../../bootstrap/controlplane/download.ts";
import { CommandError } from "../../../bootstrap/errors.ts";
import { BINARY_NAMES, COMPONENT_VERSIONS } from "../../../bootstrap/controlplane/versions.ts";
import { PLATFORM, type ReleaseFixture, startReleaseFixture } from "./release-fixture.ts";

const HEX = "a".repeat(64);

describe("controlplane/download", () => {
  let fixture: ReleaseFixture;
  let outDir: string;

  beforeEach(async () => {
    fixture = await startReleaseFixture();
    outDir = await mkdtemp(join(tmpdir(), "kubelab-download-test-"));
  });

  afterEach(async () => {
    await fixture.close();
    await rm(outDir, { recursive: true, force: true });
  });

  const download = (): Promise<void> =>
    downloadReleaseBinaries({ outDir, sources: fixture.sources, platform: PLATFORM, timeoutMs: 5_000 });

  const failure = async (): Promise<Error> => {
    const error = await download().then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error, "the download succeeded").to.be.instanceOf(CommandError);
    return error as Error;
  };

  it("installs every binary, executable, when each file matches its published checksum", async () => {
    await download();
    for (const name of BINARY_NAMES) {
      expect(await readFile(join(outDir, name), "utf8")).to.equal(fixture.contents.get(name));
      expect((await stat(join(outDir, name))).mode & 0o111, `${name} is not executable`).to.not.equal(0);
    }
    expect((await readdir(outDir)).sort()).to.deep.equal([...BINARY_NAMES].sort());
  });

  it("discards a Kubernetes binary whose sha256 differs from dl.k8s.io's .sha256 file", async () => {
    fixture.fault(fixture.kubernetesPath("kube-apiserver"), "bad-checksum");
    const error = await failure();
    expect(error.message).to.match(
      /kube-apiserver: checksum mismatch: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/,
    );
    expect(await readdir(outDir)).to.not.include.members(["kube-apiserver", "kube-apiserver.partial"]);
  });

  it("fails on a 404 and names the URL", async () => {
    fixture.fault(fixture.kubernetesPath("kubectl"), "missing");
    const error = await failure();
    expect(error.message).to.contain(`${fixture.kubernetesPath("kubectl")}: HTTP 404`);
    expect(await readdir(outDir)).to.not.include("kubectl");
  });

  it("discards a truncated body instead of keeping half a binary", async () => {
    fixture.fault(`/kwok/${COMPONENT_VERSIONS.kwok}/kwok-linux-amd64`, "truncated");
    const error = await failure();
    expect(error.message).to.contain("cut short");
    expect(await readdir(outDir)).to.not.include.members(["kwok", "kwok.partial"]);
  });

  it("verifies the etcd tarball against the release's SHA256SUMS before extracting it", async () => {
    const etcdName = `etcd-${COMPONENT_VERSIONS.etcd}-linux-amd64`;
    fixture.fault(`/etcd/${COMPONENT_VERSIONS.etcd}/${etcdName}.tar.gz`, "bad-checksum");
    const error = await failure();
    expect(error.message).to.contain("checksum mismatch");
    expect(await readdir(outDir)).to.not.include.members(["etcd", "etcdctl", "etcdutl"]);
  });

  it("verifies kwok against the digest GitHub records for the release asset", async () => {
    fixture.fault(`/kwok/${COMPONENT_VERSIONS.kwok}/kwok-linux-amd64`, "bad-checksum");
    const error = await failure();
    expect(error.message).to.contain("kwok-linux-amd64: checksum mismatch");
    expect(await readdir(outDir)).to.not.include("kwok");
  });

  it("reports an unreachable server as a NetworkError (the caller then asks for Go)", async () => {
    const sources = mirrorReleaseSources(fixture.sources.kubernetes.replace(/\/kubernetes$/, ""));
    await fixture.close();
    const error = await downloadReleaseBinaries({
      outDir,
      sources,
      platform: PLATFORM,
      timeoutMs: 5_000,
    }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).to.be.instanceOf(NetworkError);
    await access(outDir);
  });

  describe("checksum files", () => {
    it("reads the first word of a .sha256 file and rejects anything else", () => {
      expect(parseSha256File(`${HEX.toUpperCase()}  kubectl\n`, "u")).to.equal(HEX);
      expect(() => parseSha256File("<html>not found</html>", "u")).to.throw(/not a sha256 checksum file/);
    });

    it("finds one file's digest in a SHA256SUMS listing, binary-mode marker included", () => {
      const listing = `${"b".repeat(64)}  other.tar.gz\n${HEX} *etcd.tar.gz\n`;
      expect(parseSha256Sums(listing, "etcd.tar.gz", "u")).to.equal(HEX);
      expect(() => parseSha256Sums(listing, "missing.tar.gz", "u")).to.throw(
        /lists no checksum for missing.tar.gz/,
      );
    });

    it("takes a release asset's sha256 digest from GitHub's release JSON", () => {
      const json = JSON.stringify({ assets: [{ name: "kwok-linux-amd64", digest: `sha256:${HEX}` }] });
      expect(parseGithubAssetDigest(json, "kwok-linux-amd64", "u")).to.equal(HEX);
      expect(() => parseGithubAssetDigest(json, "kwok-linux-arm64", "u")).to.throw(
        /no asset kwok-linux-arm64/,
      );
      const undigested = JSON.stringify({ assets: [{ name: "kwok-linux-amd64", digest: null }] });
      expect(() => parseGithubAssetDigest(undigested, "kwok-linux-amd64", "u")).to.throw(/no sha256 digest/);
    });
  });

  it("uses the official sources unless KUBELAB_RELEASE_MIRROR names a mirror", () => {
    expect(releaseSourcesFromEnv({})).to.deep.equal(OFFICIAL_RELEASE_SOURCES);
    expect(releaseSourcesFromEnv({ KUBELAB_RELEASE_MIRROR: "http://mirror.test/k/" })).to.deep.equal({
      kubernetes: "http://mirror.test/k/kubernetes",
      etcd: "http://mirror.test/k/etcd",
      kwok: "http://mirror.test/k/kwok",
      kwokApi: "http://mirror.test/k/kwok-api",
    });
  });
});
