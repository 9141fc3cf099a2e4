// Where the base images of an assembly come from, in order: image archives given on the command line, then
// the registry (lab.yaml's mirrors first); a reference pinned by digest must resolve to exactly that digest.
import { stat } from "node:fs/promises";
import { join } from "node:path";

import { ImageError } from "../errors.ts";
import { readTextIfExists, writeFileAtomic } from "../files.ts";
import { blobClosure, readImage, type StoredImage } from "./image.ts";
import { digestOfParts } from "./layer.ts";
import { readImageArchive, type NamedImage } from "./layout.ts";
import { platformKey, type Platform } from "./oci.ts";
import { formatReference, parseReference } from "./reference.ts";
import type { RegistryClient } from "./registry.ts";
import type { BlobStore } from "./store.ts";

export interface BaseImageSources {
  /** Docker or OCI image archives (`docker save`, `podman save`, the kit's images/*.tar). */
  readonly archives?: readonly string[];
  /** Undefined: no registry at all (offline, archives only). */
  readonly registry?: RegistryClient;
}

export interface ResolvedBase {
  readonly reference: string;
  readonly image: StoredImage;
  /** "archive PATH" or "registry": where it came from, for the progress line. */
  readonly source: string;
}

/** Resolves base images for one assembly; archives are read once into the store. */
export class BaseImageResolver {
  private readonly store: BlobStore;
  private readonly sources: BaseImageSources;
  private archiveImages: Promise<{ path: string; images: NamedImage[] }[]> | undefined;

  constructor(store: BlobStore, sources: BaseImageSources) {
    this.store = store;
    this.sources = sources;
  }

  /**
   * The image `reference` names, for `platform`. An archive image matches on registry, repository and tag;
   * when the reference is pinned by digest it must also have that digest (a different image of the same
   * name is refused, not used). Throws ImageError naming what to provide when no source has it.
   */
  async resolve(reference: string, platform: Platform): Promise<ResolvedBase> {
    const wanted = parseReference(reference);
    const name = formatReference({ ...wanted, digest: undefined });
    for (const { path, images } of await this.readArchives()) {
      for (const candidate of images) {
        const parsed = parseReference(candidate.reference);
        if (formatReference({ ...parsed, digest: undefined }) !== name) continue;
        if (wanted.digest !== undefined && candidate.descriptor.digest !== wanted.digest) {
          throw new ImageError(
            `${path} holds ${name} as ${candidate.descriptor.digest}, but the Dockerfile pins ${wanted.digest}`,
            {
              hint: "give the archive of the pinned image, or override the build argument with the archive's image name",
            },
          );
        }
        return {
          reference,
          image: await readImage(this.store, candidate.descriptor, platform),
          source: `archive ${path}`,
        };
      }
    }
    if (this.sources.registry === undefined) throw this.missing(reference, platform, undefined);
    try {
      const pulled = await this.sources.registry.pull(reference, this.store, platform);
      return { reference, image: pulled.image, source: "registry" };
    } catch (error) {
      throw this.missing(reference, platform, error);
    }
  }

  private missing(reference: string, platform: Platform, cause: unknown): ImageError {
    const why = cause instanceof Error ? `: ${cause.message}` : "";
    return new ImageError(`the base image ${reference} (${platformKey(platform)}) is not available${why}`, {
      cause,
      hint:
        "let bootstrap reach its registry, set a mirror in lab.yaml (images.mirrors), or give an image archive " +
        "of it on the command line (the offline kit's images/ has the kit's bases)",
    });
  }

  /**
   * An archive's images, read into the store once per archive file (path, size and mtime): a record under
   * `archives/` names them, valid while every blob they reach is still in the store.
   */
  private async readArchive(path: string): Promise<NamedImage[]> {
    const info = await stat(path);
    const key = digestOfParts(["image-archive", path, String(info.size), String(info.mtimeMs)]);
    const record = join(this.store.root, "archives", `${key.slice("sha256:".length)}.json`);
    const cached = await readTextIfExists(record);
    if (cached !== undefined) {
      const images = JSON.parse(cached) as NamedImage[];
      if (await this.allStored(images)) return images;
    }
    const images = await readImageArchive(path, this.store);
    await writeFileAtomic(record, JSON.stringify(images));
    return images;
  }

  /** Whether every blob the images reach is in the store (a manifest that is missing counts as no). */
  private async allStored(images: readonly NamedImage[]): Promise<boolean> {
    try {
      for (const image of images) {
        for (const blob of await blobClosure(this.store, image.descriptor)) {
          if (!(await this.store.has(blob.digest))) return false;
        }
      }
      return true;
    } catch {
      return false;
    }
  }

  private async readArchives(): Promise<{ path: string; images: NamedImage[] }[]> {
    this.archiveImages ??= Promise.all(
      (this.sources.archives ?? []).map(async (path) => ({ path, images: await this.readArchive(path) })),
    );
    return this.archiveImages;
  }
}
