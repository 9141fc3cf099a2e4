// OCI image layouts and archives: written from a BlobStore (a directory, or one deterministic tar that
// `podman load` and `ctr images import` take), and read back into a store with every blob's digest checked.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";

import { ImageError } from "../errors.ts";
import { blobClosure } from "./image.ts";
import {
  CONTAINERD_NAME_ANNOTATION,
  digestHex,
  isIndexMediaType,
  jsonBytes,
  MediaType,
  REF_NAME_ANNOTATION,
  sha256Digest,
  type Descriptor,
  type ImageIndex,
} from "./oci.ts";
import { BlobStore } from "./store.ts";
import { tarStream, type LayerEntry } from "./tar.ts";

/** An image to put into a layout under a full reference ("registry.k8s.io/pause:3.10.1"). */
export interface NamedImage {
  readonly reference: string;
  /** A manifest, or an index over platforms. */
  readonly descriptor: Descriptor;
}

const OCI_LAYOUT = jsonBytes({ imageLayoutVersion: "1.0.0" });

/** The layout's index.json: one entry per name, annotated with the full reference under both keys. */
export function layoutIndex(images: readonly NamedImage[]): Buffer {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.index,
    manifests: images.map(({ reference, descriptor }) => ({
      mediaType: descriptor.mediaType,
      digest: descriptor.digest,
      size: descriptor.size,
      ...(descriptor.platform === undefined ? {} : { platform: descriptor.platform }),
      annotations: { [CONTAINERD_NAME_ANNOTATION]: reference, [REF_NAME_ANNOTATION]: reference },
    })),
  };
  return jsonBytes(index);
}

/** The files of the layout of `images`: oci-layout, index.json and every blob they reach. */
async function layoutEntries(store: BlobStore, images: readonly NamedImage[]): Promise<LayerEntry[]> {
  const blobs = new Map<string, Descriptor>();
  for (const image of images) {
    for (const descriptor of await blobClosure(store, image.descriptor))
      blobs.set(descriptor.digest, descriptor);
  }
  const entries: LayerEntry[] = [
    { type: "file", path: "oci-layout", content: OCI_LAYOUT },
    { type: "file", path: "index.json", content: layoutIndex(images) },
    { type: "directory", path: "blobs" },
    { type: "directory", path: "blobs/sha256" },
  ];
  for (const descriptor of blobs.values()) {
    if (!(await store.has(descriptor.digest))) {
      throw new ImageError(
        `blob ${descriptor.digest} (${descriptor.mediaType}) is missing from ${store.root}`,
      );
    }
    entries.push({
      type: "file",
      path: `blobs/sha256/${digestHex(descriptor.digest)}`,
      content: { fromFile: store.path(descriptor.digest), digest: descriptor.digest },
    });
  }
  return entries;
}

/**
 * Writes `images` as an OCI image archive (a tar of the layout) to `file`: the same images give the same
 * bytes. Written to a temp name and renamed, so a reader never sees half an archive.
 */
export async function writeOciArchive(
  file: string,
  store: BlobStore,
  images: readonly NamedImage[],
): Promise<void> {
  const entries = await layoutEntries(store, images);
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.tmp-${process.pid}`;
  try {
    await pipeline(Readable.from(tarStream(entries)), createWriteStream(temporary));
    await rename(temporary, file);
  } finally {
    await rm(temporary, { force: true });
  }
}

/** The archive's bytes as a stream (for `ctr images import -` on a node's stdin), without a file. */
export async function ociArchiveStream(store: BlobStore, images: readonly NamedImage[]): Promise<Readable> {
  return Readable.from(tarStream(await layoutEntries(store, images)));
}

/** Writes `images` as an OCI layout directory at `dir` (blobs shared with nothing: copied). */
export async function writeOciLayout(
  dir: string,
  store: BlobStore,
  images: readonly NamedImage[],
): Promise<void> {
  const layout = new BlobStore(dir);
  for (const entry of await layoutEntries(store, images)) {
    if (entry.type !== "file") continue;
    if (entry.content instanceof Uint8Array) {
      await mkdir(dirname(join(dir, entry.path)), { recursive: true });
      await writeFile(join(dir, entry.path), entry.content);
    } else {
      const digest = `sha256:${entry.path.slice("blobs/sha256/".length)}`;
      if (!(await layout.has(digest)))
        await layout.putStream(createReadStream(entry.content.fromFile), {
          digest,
          size: await store.size(digest),
        });
    }
  }
}

/**
 * Reads an image archive into `store`: an OCI archive (index.json) or a docker archive (manifest.json, as
 * `docker save` and `podman save` write by default, whose layers are turned into an OCI manifest). Every
 * blob is checked against its digest as it is stored; returns the named images the archive holds.
 */
export async function readImageArchive(file: string, store: BlobStore): Promise<NamedImage[]> {
  const files = new Map<string, Buffer>();
  const stored = new Map<string, string>();
  const pending: Promise<unknown>[] = [];
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const path = entry.path.replace(/^\.\//, "");
      const blob = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(path);
      if (entry.type === "File" && blob !== null) {
        const digest = `sha256:${blob[1]}`;
        pending.push(
          store.putStream(entry, { digest, size: entry.size }).then(() => stored.set(path, digest)),
        );
      } else if (entry.type === "File" && (path.endsWith(".json") || path === "oci-layout")) {
        const chunks: Buffer[] = [];
        entry.on("data", (chunk: Buffer) => chunks.push(chunk));
        entry.on("end", () => files.set(path, Buffer.concat(chunks)));
      } else if (entry.type === "File" && path.endsWith(".tar")) {
        pending.push(store.putStream(entry).then((ref) => stored.set(path, ref.digest)));
      } else {
        entry.resume();
      }
    },
  });
  await pipeline(createReadStream(file), parser as unknown as Writable).catch((error: unknown) => {
    throw new ImageError(`${file} is not a readable tar archive`, { cause: error });
  });
  await Promise.all(pending);
  const index = files.get("index.json");
  if (index !== undefined) return namedImagesOfIndex(JSON.parse(index.toString("utf8")) as ImageIndex, file);
  const dockerManifest = files.get("manifest.json");
  if (dockerManifest !== undefined) return importDockerArchive(dockerManifest, files, stored, store, file);
  throw new ImageError(
    `${file} is neither an OCI image archive (index.json) nor a docker archive (manifest.json)`,
  );
}

function namedImagesOfIndex(index: ImageIndex, file: string): NamedImage[] {
  const images = index.manifests.flatMap((descriptor): NamedImage[] => {
    const reference =
      descriptor.annotations?.[CONTAINERD_NAME_ANNOTATION] ?? descriptor.annotations?.[REF_NAME_ANNOTATION];
    if (reference === undefined) return [];
    const { annotations: _annotations, ...rest } = descriptor;
    return [{ reference, descriptor: rest }];
  });
  if (images.length === 0)
    throw new ImageError(`${file}: index.json names no image (no ${REF_NAME_ANNOTATION})`);
  return images;
}

interface DockerArchiveEntry {
  readonly Config: string;
  readonly RepoTags?: readonly string[] | null;
  readonly Layers: readonly string[];
}

/** A docker archive's images as OCI manifests: its config bytes as they are, its tar layers uncompressed. */
async function importDockerArchive(
  manifestBytes: Buffer,
  files: ReadonlyMap<string, Buffer>,
  stored: ReadonlyMap<string, string>,
  store: BlobStore,
  file: string,
): Promise<NamedImage[]> {
  const images: NamedImage[] = [];
  for (const entry of JSON.parse(manifestBytes.toString("utf8")) as DockerArchiveEntry[]) {
    const configBytes = files.get(entry.Config) ?? (await readStoredJson(stored, store, entry.Config));
    if (configBytes === undefined) throw new ImageError(`${file}: ${entry.Config} is missing`);
    const config = await store.putBytes(configBytes);
    const layers: Descriptor[] = [];
    for (const layerPath of entry.Layers) {
      const digest = stored.get(layerPath);
      if (digest === undefined) throw new ImageError(`${file}: layer ${layerPath} is missing`);
      layers.push({ mediaType: MediaType.layer, digest, size: await store.size(digest) });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.manifest,
      config: { mediaType: MediaType.config, ...config },
      layers,
    };
    const blob = await store.putJson(manifest);
    for (const reference of entry.RepoTags ?? []) {
      images.push({ reference, descriptor: { mediaType: MediaType.manifest, ...blob } });
    }
  }
  if (images.length === 0) throw new ImageError(`${file}: manifest.json names no image (no RepoTags)`);
  return images;
}

async function readStoredJson(
  stored: ReadonlyMap<string, string>,
  store: BlobStore,
  path: string,
): Promise<Buffer | undefined> {
  const digest = stored.get(path);
  return digest === undefined ? undefined : store.readBytes(digest);
}

/** Reads an OCI layout directory's index.json into named images, its blobs into `store` (verified). */
export async function readOciLayout(dir: string, store: BlobStore): Promise<NamedImage[]> {
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as ImageIndex;
  const images = namedImagesOfIndex(index, dir);
  const layout = new BlobStore(dir);
  for (const image of images) {
    for (const descriptor of await blobClosure(layout, image.descriptor)) {
      if (!(await store.has(descriptor.digest)))
        await store.putStream(layout.verifiedStream(descriptor), descriptor);
    }
  }
  return images;
}

/** True when the named image is an index (several platforms) rather than one manifest. */
export function isMultiPlatform(image: NamedImage): boolean {
  return isIndexMediaType(image.descriptor.mediaType);
}

/** The digest of an archive's index.json for `images`: what changes exactly when the archive's content does. */
export function layoutDigest(images: readonly NamedImage[]): string {
  return sha256Digest(layoutIndex(images));
}
