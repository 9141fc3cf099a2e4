// Reading an image's filesystem out of its layers: files copied out (COPY --from=IMAGE) and the whole file
// list, the topmost layer's version of each path winning and whiteouts deleting what is below them.
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Parser, type ReadEntry } from "tar";

import { ImageError } from "../errors.ts";
import type { StoredImage } from "./image.ts";
import { MediaType, type Descriptor } from "./oci.ts";
import type { BlobStore } from "./store.ts";

export interface ExtractedFile {
  /** Where the bytes were written. */
  readonly file: string;
  /** The mode the image gives the file (permission bits). */
  readonly mode: number;
}

export interface ImageFile {
  readonly type: "file" | "directory" | "symlink" | "other";
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly linkTarget?: string;
}

/**
 * What a whiteout entry removes from the layers below: a path and what is under it ("/a/.wh.b"), or a
 * directory's whole content ("/a/.wh..wh..opq").
 */
interface Whiteout {
  readonly covers: (path: string) => boolean;
}

/**
 * Calls `visit` for every entry of every layer, bottom layer first, with the entry's absolute path ("/etc/x");
 * whiteouts go to `onWhiteout` instead. `visit` must consume or resume the entry; its promise is awaited
 * before the layer counts as read. The layer's bytes are checked against its digest.
 */
async function forEachEntry(
  store: BlobStore,
  image: StoredImage,
  visit: (entry: ReadEntry, path: string, layerIndex: number) => Promise<void> | void,
  onWhiteout: (whiteout: Whiteout) => void,
): Promise<void> {
  for (const [layerIndex, layer] of image.manifest.layers.entries()) {
    const pending: Promise<void>[] = [];
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        const path = `/${entry.path.replace(/^\.?\/+/, "").replace(/\/$/, "")}`;
        const slash = path.lastIndexOf("/");
        const base = path.slice(slash + 1);
        if (base.startsWith(".wh.")) {
          entry.resume();
          const parent = path.slice(0, slash + 1);
          const deleted = `${parent}${base.slice(".wh.".length)}`;
          onWhiteout({
            covers:
              base === ".wh..wh..opq"
                ? (candidate) => candidate.startsWith(parent)
                : (candidate) => candidate === deleted || candidate.startsWith(`${deleted}/`),
          });
          return;
        }
        if (path === "/") {
          entry.resume();
          return;
        }
        pending.push(Promise.resolve(visit(entry, path, layerIndex)));
      },
    });
    await pipeline(store.verifiedStream(layer), decompressor(layer), parser as unknown as Writable).catch(
      (error: unknown) => {
        throw new ImageError(`layer ${layer.digest} cannot be read as a tar`, { cause: error });
      },
    );
    await Promise.all(pending);
  }
}

function decompressor(layer: Descriptor): Writable & NodeJS.ReadableStream {
  const gzip = layer.mediaType === MediaType.layerGzip || layer.mediaType === MediaType.dockerLayerGzip;
  return gzip ? createGunzip() : new PassThrough();
}

function typeOf(entry: ReadEntry): ImageFile["type"] {
  if (entry.type === "File" || entry.type === "OldFile") return "file";
  if (entry.type === "Directory") return "directory";
  if (entry.type === "SymbolicLink") return "symlink";
  return "other";
}

/**
 * Writes the files at `paths` (absolute in the image, "/usr/local/bin/etcdctl") into `outDir` and returns
 * each with its mode. Throws ImageError for a path the image does not have, or has as anything but a
 * regular file (a symlink would point into a filesystem the new image does not have).
 */
export async function extractFiles(
  store: BlobStore,
  image: StoredImage,
  paths: readonly string[],
  outDir: string,
): Promise<Map<string, ExtractedFile>> {
  await mkdir(outDir, { recursive: true });
  const wanted = new Map(paths.map((path, index) => [path, index]));
  const found = new Map<string, ExtractedFile | { notAFile: string }>();
  await forEachEntry(
    store,
    image,
    (entry, path, layerIndex) => {
      const index = wanted.get(path);
      if (index === undefined || typeOf(entry) !== "file") {
        if (index !== undefined) found.set(path, { notAFile: typeOf(entry) });
        entry.resume();
        return;
      }
      const file = join(outDir, `${index}-${layerIndex}`);
      found.set(path, { file, mode: (entry.mode ?? 0o644) & 0o7777 });
      return pipeline(entry, createWriteStream(file));
    },
    (whiteout) => {
      for (const path of found.keys()) if (whiteout.covers(path)) found.delete(path);
    },
  );
  const result = new Map<string, ExtractedFile>();
  const missing: string[] = [];
  for (const path of paths) {
    const entry = found.get(path);
    if (entry === undefined) missing.push(path);
    else if ("notAFile" in entry) {
      throw new ImageError(
        `${path} in the image is a ${entry.notAFile}, not a regular file: it cannot be copied out`,
      );
    } else result.set(path, entry);
  }
  if (missing.length > 0) {
    await rm(outDir, { recursive: true, force: true });
    throw new ImageError(`the image has no ${missing.join(", ")}`);
  }
  return result;
}

/**
 * The image's filesystem as a container sees it: every path ("/app/bin/x.js") after all layers, whiteouts
 * applied. For comparing an assembled image with a built one, and for tests.
 */
export async function listImageFiles(store: BlobStore, image: StoredImage): Promise<Map<string, ImageFile>> {
  const files = new Map<string, ImageFile>();
  await forEachEntry(
    store,
    image,
    (entry, path) => {
      entry.resume();
      const type = typeOf(entry);
      files.set(path, {
        type,
        mode: (entry.mode ?? 0) & 0o7777,
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
        size: entry.size ?? 0,
        ...(type === "symlink" ? { linkTarget: entry.linkpath ?? "" } : {}),
      });
    },
    (whiteout) => {
      for (const path of files.keys()) if (whiteout.covers(path)) files.delete(path);
    },
  );
  return files;
}
