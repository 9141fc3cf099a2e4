// Images written to a store and to OCI archives, read back with every digest checked: round trips keep the
// digests, the same inputs give the same bytes, a corrupted blob is refused, and indexes resolve by platform.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import { expect } from "chai";

import { ImageError } from "../../../bootstrap/errors.ts";
import { blobClosure, readImage, writeImage, writeIndex } from "../../../bootstrap/image/image.ts";
import { writeLayer } from "../../../bootstrap/image/layer.ts";
import {
  readImageArchive,
  readOciLayout,
  writeOciArchive,
  writeOciLayout,
} from "../../../bootstrap/image/layout.ts";
import { MediaType, sha256Digest, type Platform } from "../../../bootstrap/image/oci.ts";
import { BlobStore, DigestMismatchError } from "../../../bootstrap/image/store.ts";
import { tarStream } from "../../../bootstrap/image/tar.ts";
import { tempDir } from "../helpers.ts";

const amd64: Platform = { os: "linux", architecture: "amd64" };
const arm64: Platform = { os: "linux", architecture: "arm64" };

async function gunzip(bytes: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.from([bytes]).pipe(createGunzip())) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function sampleImage(store: BlobStore, platform: Platform = amd64, text = "hello") {
  const layer = await writeLayer(store, [
    { type: "directory", path: "app" },
    { type: "file", path: "app/greeting", content: Buffer.from(`${text}\n`) },
  ]);
  return writeImage(store, {
    platform,
    layers: [{ layer, createdBy: "COPY greeting /app/" }],
    config: { User: "65532:65532", Entrypoint: ["/app/greeting"], WorkingDir: "/app" },
    configHistory: ["USER 65532:65532"],
  });
}

describe("image/layout", () => {
  it("a layer's digest is the gzip's, its diff_id the tar's, and the same entries give the same layer", async () => {
    const store = new BlobStore(await tempDir());
    const entries = [{ type: "file", path: "f", content: Buffer.from("x") }] as const;
    const first = await writeLayer(store, entries);
    const second = await writeLayer(new BlobStore(await tempDir()), entries);
    expect(second).to.deep.equal(first);
    const gz = await readFile(store.path(first.descriptor.digest));
    expect(sha256Digest(gz)).to.equal(first.descriptor.digest);
    expect(first.descriptor.size).to.equal(gz.length);
    const chunks: Uint8Array[] = [];
    for await (const chunk of tarStream(entries)) chunks.push(chunk);
    expect(sha256Digest(await gunzip(gz))).to.equal(first.diffId);
    expect(sha256Digest(Buffer.concat(chunks))).to.equal(first.diffId);
  });

  it("writes the config the runtimes read: platform, runtime config, diff_ids and history", async () => {
    const store = new BlobStore(await tempDir());
    const descriptor = await sampleImage(store);
    const image = await readImage(store, descriptor, amd64);
    expect(image.config).to.include({ architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z" });
    expect(image.config.config).to.deep.equal({
      User: "65532:65532",
      Entrypoint: ["/app/greeting"],
      WorkingDir: "/app",
    });
    expect(image.config.rootfs.diff_ids).to.have.length(1);
    expect(
      image.config.history?.map((entry) => [entry.created_by, entry.empty_layer ?? false]),
    ).to.deep.equal([
      ["COPY greeting /app/", false],
      ["USER 65532:65532", true],
    ]);
    expect(image.manifest.layers.map((layer) => layer.mediaType)).to.deep.equal([MediaType.layerGzip]);
  });

  it("an archive round-trips into another store with the same digests, and is byte-identical when rewritten", async () => {
    const dir = await tempDir();
    const store = new BlobStore(join(dir, "a"));
    const descriptor = await sampleImage(store);
    const reference = "registry.k8s.io/example:1.0";
    await writeOciArchive(join(dir, "one.tar"), store, [{ reference, descriptor }]);
    await writeOciArchive(join(dir, "two.tar"), store, [{ reference, descriptor }]);
    expect((await readFile(join(dir, "one.tar"))).equals(await readFile(join(dir, "two.tar")))).to.equal(
      true,
    );

    const other = new BlobStore(join(dir, "b"));
    const images = await readImageArchive(join(dir, "one.tar"), other);
    expect(images).to.deep.equal([{ reference, descriptor }]);
    expect((await blobClosure(other, descriptor)).map((d) => d.digest)).to.deep.equal(
      (await blobClosure(store, descriptor)).map((d) => d.digest),
    );
  });

  it("refuses an archive whose blob does not match its digest, and stores none of that blob", async () => {
    const dir = await tempDir();
    const store = new BlobStore(join(dir, "a"));
    const descriptor = await sampleImage(store);
    const manifest = await store.readJson<{ layers: { digest: string }[] }>(descriptor);
    const layerDigest = manifest.layers[0]?.digest ?? "";
    // Corrupt the layer blob inside the archive: same size, one byte changed.
    await writeOciArchive(join(dir, "bad.tar"), store, [{ reference: "x/y:z", descriptor }]);
    const archive = await readFile(join(dir, "bad.tar"));
    const blob = await readFile(store.path(layerDigest));
    const at = archive.indexOf(blob);
    expect(at).to.be.greaterThan(0);
    archive[at + blob.length - 5] = (archive[at + blob.length - 5] ?? 0) ^ 0xff;
    await writeFile(join(dir, "bad.tar"), archive);
    const other = new BlobStore(join(dir, "b"));
    const error = await readImageArchive(join(dir, "bad.tar"), other).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(DigestMismatchError);
    expect(await other.has(layerDigest)).to.equal(false);
  });

  it("refuses to write an archive from a store whose blob was damaged, and leaves no archive", async () => {
    const dir = await tempDir();
    const store = new BlobStore(join(dir, "a"));
    const descriptor = await sampleImage(store);
    const manifest = await store.readJson<{ layers: { digest: string }[] }>(descriptor);
    const path = store.path(manifest.layers[0]?.digest ?? "");
    const blob = await readFile(path);
    blob[10] = (blob[10] ?? 0) ^ 0xff;
    await writeFile(path, blob);
    const error = await writeOciArchive(join(dir, "out.tar"), store, [
      { reference: "x/y:z", descriptor },
    ]).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ImageError).with.property("hint").that.includes("delete it");
    expect(await readdir(dir)).to.deep.equal(["a"]);
  });

  it("an index resolves each platform to its own manifest and names what it has when one is missing", async () => {
    const store = new BlobStore(await tempDir());
    const forAmd = await sampleImage(store, amd64, "amd64");
    const forArm = await sampleImage(store, arm64, "arm64");
    const index = await writeIndex(store, [forAmd, forArm]);
    expect((await readImage(store, index, arm64)).manifestDescriptor.digest).to.equal(forArm.digest);
    expect((await readImage(store, index, amd64)).manifestDescriptor.digest).to.equal(forAmd.digest);
    const single = await writeIndex(store, [forAmd]);
    const error = await readImage(store, single, arm64).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ImageError).with.property("message").that.includes("linux/amd64");
    const duplicate = await writeIndex(store, [forAmd, forAmd]).catch((e: unknown) => e);
    expect(duplicate).to.be.instanceOf(ImageError);
  });

  it("an OCI layout directory round-trips like an archive", async () => {
    const dir = await tempDir();
    const store = new BlobStore(join(dir, "a"));
    const descriptor = await sampleImage(store);
    await writeOciLayout(join(dir, "layout"), store, [{ reference: "example.org/x:1", descriptor }]);
    expect(JSON.parse(await readFile(join(dir, "layout", "oci-layout"), "utf8"))).to.deep.equal({
      imageLayoutVersion: "1.0.0",
    });
    const other = new BlobStore(join(dir, "b"));
    expect(await readOciLayout(join(dir, "layout"), other)).to.deep.equal([
      { reference: "example.org/x:1", descriptor },
    ]);
    expect((await readImage(other, descriptor, amd64)).config.config?.User).to.equal("65532:65532");
  });

  it("a docker archive (docker save, podman save) is read as an OCI manifest over its uncompressed layers", async () => {
    const dir = await tempDir();
    const layerTar: Uint8Array[] = [];
    for await (const chunk of tarStream([{ type: "file", path: "etc/motd", content: Buffer.from("hi") }])) {
      layerTar.push(chunk);
    }
    const layerBytes = Buffer.concat(layerTar);
    const config = Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [sha256Digest(layerBytes)] },
      }),
    );
    const configName = `${sha256Digest(config).slice(7)}.json`;
    const manifest = [
      { Config: configName, RepoTags: ["docker.io/library/base:1"], Layers: ["abc/layer.tar"] },
    ];
    const archive: Uint8Array[] = [];
    for await (const chunk of tarStream([
      { type: "file", path: "manifest.json", content: Buffer.from(JSON.stringify(manifest)) },
      { type: "file", path: configName, content: config },
      { type: "directory", path: "abc" },
      { type: "file", path: "abc/layer.tar", content: layerBytes },
    ])) {
      archive.push(chunk);
    }
    await writeFile(join(dir, "docker.tar"), Buffer.concat(archive));
    const store = new BlobStore(join(dir, "store"));
    const [image, ...rest] = await readImageArchive(join(dir, "docker.tar"), store);
    expect(rest).to.deep.equal([]);
    expect(image?.reference).to.equal("docker.io/library/base:1");
    const read = await readImage(store, image?.descriptor ?? { mediaType: "", digest: "", size: 0 }, amd64);
    expect(read.manifest.config.digest).to.equal(sha256Digest(config));
    expect(read.manifest.layers).to.deep.equal([
      { mediaType: MediaType.layer, digest: sha256Digest(layerBytes), size: layerBytes.length },
    ]);
  });

  it("a store refuses bytes that are not what was asked for", async () => {
    const store = new BlobStore(await tempDir());
    const expected = { digest: sha256Digest(Buffer.from("good")), size: 4 };
    const error = await store.putStream([Buffer.from("evil")], expected).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(DigestMismatchError);
    expect(await store.has(expected.digest)).to.equal(false);
  });
});
