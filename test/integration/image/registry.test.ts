// The registry client against a real registry (Debian's docker-registry with token auth on 127.0.0.1): push an
// image we wrote, pull it anonymously with every digest checked, cached pulls need no network, a corrupted
// blob is refused, an index resolves by platform, and a dead mirror hands over to the next endpoint.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { RegistryError } from "../../../bootstrap/errors.ts";
import { freePorts } from "../../../bootstrap/controlplane/ports.ts";
import { readImage, writeImage, writeIndex } from "../../../bootstrap/image/image.ts";
import { writeLayer } from "../../../bootstrap/image/layer.ts";
import type { Platform } from "../../../bootstrap/image/oci.ts";
import { RegistryClient } from "../../../bootstrap/image/registry.ts";
import { BlobStore, DigestMismatchError } from "../../../bootstrap/image/store.ts";
import { buildKitImages, pushToMirror } from "../../../bootstrap/kit/images.ts";
import { KIT_VERSIONS, kubeadmImages } from "../../../bootstrap/kit/versions.ts";
import { startTestRegistry, type TestRegistry } from "../../envtest/registry.ts";
import { tempDir } from "../../unit/helpers.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

const amd64: Platform = { os: "linux", architecture: "amd64" };
const arm64: Platform = { os: "linux", architecture: "arm64" };

async function image(store: BlobStore, platform: Platform, text: string) {
  const layer = await writeLayer(store, [
    { type: "directory", path: "etc" },
    { type: "file", path: "etc/message", content: Buffer.from(`${text}\n`.repeat(2000)) },
  ]);
  return writeImage(store, {
    platform,
    layers: [{ layer, createdBy: text }],
    config: { Cmd: ["/bin/true"] },
  });
}

describe("image/registry against docker-registry with token auth", function () {
  this.timeout(60_000);
  let registry: TestRegistry;
  let dir: string;

  before(async () => {
    await requireSystemTool("docker-registry");
    await requireSystemTool("gcc");
    dir = await tempDir("kubelab-registry-");
    registry = await startTestRegistry(join(dir, "registry"));
  });
  after(async () => {
    await registry?.stop();
  });

  const client = (options: { push?: boolean; endpoints?: string[] } = {}) =>
    new RegistryClient({
      endpoints: { [registry.host]: options.endpoints ?? [registry.url] },
      ...(options.push === true ? { credentials: { [registry.host]: registry.pusher } } : {}),
      timeoutMs: 10_000,
    });

  it("pushes with credentials, pulls anonymously into another store with the same digests", async () => {
    const source = new BlobStore(join(dir, "source"));
    const descriptor = await image(source, amd64, "hello");
    const reference = `${registry.host}/kubelab/hello:1`;
    await client({ push: true }).push(source, descriptor, reference);
    expect(
      registry.tokenRequests.some((r) => r.authenticated && r.scope === "repository:kubelab/hello:pull,push"),
    ).to.equal(true);

    const target = new BlobStore(join(dir, "target"));
    const pulled = await client().pull(reference, target, amd64);
    expect(pulled.descriptor.digest).to.equal(descriptor.digest);
    expect(registry.tokenRequests.at(-1)).to.deep.equal({
      scope: "repository:kubelab/hello:pull",
      authenticated: false,
    });
    const original = await readImage(source, descriptor, amd64);
    expect(pulled.image.config).to.deep.equal(original.config);
    for (const layer of original.manifest.layers) {
      expect(
        (await readFile(target.path(layer.digest))).equals(await readFile(source.path(layer.digest))),
      ).to.equal(true);
    }
  });

  it("refuses an anonymous push: the token service grants pull only", async () => {
    const source = new BlobStore(join(dir, "anonymous"));
    const descriptor = await image(source, amd64, "anonymous");
    const error = await client()
      .push(source, descriptor, `${registry.host}/kubelab/anonymous:1`)
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(RegistryError);
    expect((error as RegistryError).status).to.be.oneOf([401, 403]);
  });

  it("a pull by digest whose blobs are cached needs no network (the endpoint is a closed port)", async () => {
    const source = new BlobStore(join(dir, "source"));
    const descriptor = await image(source, amd64, "hello");
    const reference = `${registry.host}/kubelab/hello@${descriptor.digest}`;
    const cache = new BlobStore(join(dir, "cache"));
    await client().pull(reference, cache, amd64);
    const [closed] = await freePorts(1);
    const offline = await client({ endpoints: [`http://127.0.0.1:${closed}`] }).pull(reference, cache, amd64);
    expect(offline.descriptor.digest).to.equal(descriptor.digest);
    // A tag cannot be answered from the cache: it may have moved. The error says what to provide.
    const error = await client({ endpoints: [`http://127.0.0.1:${closed}`] })
      .pull(`${registry.host}/kubelab/hello:1`, cache, amd64)
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(RegistryError).with.property("hint").that.includes("mirror");
  });

  it("refuses a blob the registry serves corrupted, and stores nothing of it", async () => {
    const source = new BlobStore(join(dir, "corrupt-source"));
    const descriptor = await image(source, amd64, "to be corrupted");
    const reference = `${registry.host}/kubelab/corrupt:1`;
    await client({ push: true }).push(source, descriptor, reference);
    const layer = (await readImage(source, descriptor, amd64)).manifest.layers[0];
    const hex = layer?.digest.slice(7) ?? "";
    const data = join(registry.storageDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
    const bytes = await readFile(data);
    bytes[100] = (bytes[100] ?? 0) ^ 0x01;
    await writeFile(data, bytes);

    const target = new BlobStore(join(dir, "corrupt-target"));
    const error = await client()
      .pull(reference, target, amd64)
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(DigestMismatchError);
    expect(await target.has(layer?.digest ?? "")).to.equal(false);
    expect(
      (await readdir(join(dir, "corrupt-target", "blobs", "sha256"))).filter((name) =>
        name.startsWith(".tmp"),
      ),
    ).to.deep.equal([]);
  });

  it("an index pushed by tag pulls the platform asked for", async () => {
    const source = new BlobStore(join(dir, "multi"));
    const forAmd = await image(source, amd64, "amd64");
    const forArm = await image(source, arm64, "arm64");
    const index = await writeIndex(source, [forAmd, forArm]);
    const reference = `${registry.host}/kubelab/multi:1`;
    await client({ push: true }).push(source, index, reference);
    const target = new BlobStore(join(dir, "multi-target"));
    const pulled = await client().pull(reference, target, arm64);
    expect(pulled.descriptor.digest).to.equal(index.digest);
    expect(pulled.image.manifestDescriptor.digest).to.equal(forArm.digest);
    expect(pulled.image.config.architecture).to.equal("arm64");
    expect(await target.has(forAmd.digest)).to.equal(false);
  });

  it("a mirror that cannot be reached hands over to the next endpoint", async () => {
    const [closed] = await freePorts(1);
    const target = new BlobStore(join(dir, "fallback"));
    const pulled = await client({ endpoints: [`http://127.0.0.1:${closed}`, registry.url] }).pull(
      `${registry.host}/kubelab/hello:1`,
      target,
      amd64,
    );
    expect(pulled.image.config.architecture).to.equal("amd64");
  });

  it("the kit's pause image pushed to the mirror is pulled by its upstream name through the mirror", async () => {
    const pause = kubeadmImages(KIT_VERSIONS).find((reference) => reference.includes("/pause:")) ?? "";
    const [image] = await buildKitImages({
      outDir: join(dir, "kit-images"),
      storeDir: join(dir, "kit-store"),
      only: [pause],
    });
    const pushed = await pushToMirror(
      image === undefined ? [] : [image],
      registry.host,
      client({ push: true }),
      join(dir, "kit-store"),
    );
    expect(pushed).to.deep.equal([`${registry.host}/pause:${KIT_VERSIONS.pause}`]);
    // What containerd does with hosts.toml: registry.k8s.io's requests go to the mirror, same repository path.
    const throughMirror = new RegistryClient({
      endpoints: { "registry.k8s.io": [registry.url] },
      timeoutMs: 10_000,
    });
    const pulled = await throughMirror.pull(pause, new BlobStore(join(dir, "mirror-pull")), amd64);
    expect(pulled.descriptor.digest).to.equal(image?.digest);
    expect(pulled.image.config.config?.Entrypoint).to.deep.equal(["/pause"]);
  });

  it("a missing tag is a RegistryError with the status and a hint", async () => {
    const error = await client()
      .pull(`${registry.host}/kubelab/hello:missing`, new BlobStore(join(dir, "missing")), amd64)
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(RegistryError).with.property("status", 404);
  });
});
