// Layers: our entries as a gzip tar blob (digest of the gzip, diff_id of the tar), and entries read from a
// directory of this machine with the modes and owners an image needs, not the ones on disk.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, readdir, readlink, rename, stat, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

import { ImageError } from "../errors.ts";
import { readTextIfExists } from "../files.ts";
import { MediaType, type Descriptor } from "./oci.ts";
import { hashingCounter, type BlobStore } from "./store.ts";
import { tarStream, type LayerEntry } from "./tar.ts";

/** A layer blob in a store: its descriptor (the gzip's digest) and diff_id (the uncompressed tar's digest). */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffId: string;
}

/**
 * Writes `entries` as a gzip layer into `store`. The same entries give the same bytes (sorted entries, fixed
 * times and owners, gzip without a name or time), so the digest is a fingerprint of the content.
 */
export async function writeLayer(store: BlobStore, entries: readonly LayerEntry[]): Promise<Layer> {
  return gzipLayer(store, Readable.from(tarStream(entries)));
}

/** Gzips a tar stream into the store: digest of the gzip, diff_id of the tar. */
async function gzipLayer(store: BlobStore, tar: Readable): Promise<Layer> {
  const uncompressed = hashingCounter();
  const gzipped = new PassThrough();
  // pipeline destroys `gzipped` on a failure upstream, which fails putStream: one error, no blob.
  const producing = pipeline(tar, uncompressed.transform, createGzip({ level: 6 }), gzipped);
  const [blob] = await Promise.all([store.putStream(gzipped), producing]);
  return {
    descriptor: { mediaType: MediaType.layerGzip, digest: blob.digest, size: blob.size },
    diffId: uncompressed.result().digest,
  };
}

/**
 * A tar file of this machine as a gzip layer (a debootstrap rootfs), its entries as they are: cached by the
 * file's path, size and mtime, so the gzip runs once per tarball.
 */
export async function tarballLayer(store: BlobStore, tarball: string): Promise<Layer> {
  const info = await stat(tarball);
  const key = digestOfParts(["tarball-layer", tarball, String(info.size), String(info.mtimeMs)]);
  return cachedLayer(store, key, () => gzipLayer(store, createReadStream(tarball)));
}

export interface TreeOptions {
  /** Where the tree's root lands in the image: "app/node_modules". */
  readonly at: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Skips a path (relative to the tree's root, with "/" separators) and everything under it. */
  readonly exclude?: (path: string) => boolean;
}

/**
 * The entries of the directory tree `root` placed at `options.at`: directories 0755, files 0755 when any
 * execute bit is set on disk and 0644 otherwise (the two modes git records, whatever the checkout's umask
 * made of them), symlinks as they are. The owner is `options.uid/gid`, not the files' owner on disk.
 * Sockets, devices and FIFOs are refused: they have no place in an image.
 */
export async function treeEntries(root: string, options: TreeOptions): Promise<LayerEntry[]> {
  const owner = { uid: options.uid ?? 0, gid: options.gid ?? 0 };
  const entries: LayerEntry[] = [{ type: "directory", path: options.at, mode: 0o755, ...owner }];
  const walk = async (directory: string): Promise<void> => {
    for (const name of (await readdir(directory)).sort()) {
      const full = join(directory, name);
      const inTree = relative(root, full).split(sep).join("/");
      if (options.exclude?.(inTree) === true) continue;
      const path = `${options.at}/${inTree}`;
      const info = await lstat(full);
      if (info.isDirectory()) {
        entries.push({ type: "directory", path, mode: 0o755, ...owner });
        await walk(full);
      } else if (info.isSymbolicLink()) {
        entries.push({ type: "symlink", path, target: await readlink(full), ...owner });
      } else if (info.isFile()) {
        const mode = (info.mode & 0o111) === 0 ? 0o644 : 0o755;
        entries.push({ type: "file", path, content: { fromFile: full }, mode, ...owner });
      } else {
        throw new ImageError(
          `${full} is neither a file, a directory nor a symlink: it cannot go into an image`,
        );
      }
    }
  };
  await walk(root);
  return entries;
}

/**
 * The directory entries an image needs for `paths` to exist ("usr/local/bin/etcd" needs usr, usr/local,
 * usr/local/bin), minus the ones `present` already has; root-owned 0755 like a base image's.
 */
export function parentDirectories(
  paths: readonly string[],
  present: ReadonlySet<string> = new Set(),
): LayerEntry[] {
  const needed = new Set<string>();
  for (const path of paths) {
    const parts = path.split("/");
    for (let depth = 1; depth < parts.length; depth += 1) needed.add(parts.slice(0, depth).join("/"));
  }
  return [...needed]
    .filter((path) => !present.has(path))
    .map((path) => ({ type: "directory", path, mode: 0o755 }));
}

/** A layer built once per key: the layer record under `layers/`, valid while its blob is in the store. */
export async function cachedLayer(
  store: BlobStore,
  key: string,
  build: () => Promise<Layer>,
): Promise<Layer> {
  const record = join(store.root, "layers", `${key.slice(7)}.json`);
  const cached = await readTextIfExists(record);
  if (cached !== undefined) {
    const layer = JSON.parse(cached) as Layer;
    if (await store.has(layer.descriptor.digest)) return layer;
  }
  const layer = await build();
  await mkdir(join(store.root, "layers"), { recursive: true });
  const temporary = `${record}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(layer));
  await rename(temporary, record);
  return layer;
}

/** A digest of several inputs, each length-prefixed (no two different lists hash alike): a cache key. */
export function digestOfParts(parts: readonly (string | Uint8Array)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) {
    const bytes = typeof part === "string" ? Buffer.from(part) : part;
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  }
  return `sha256:${hash.digest("hex")}`;
}
