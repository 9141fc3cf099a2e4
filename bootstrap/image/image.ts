// Images from layers: the config blob (platform, runtime config, diff_ids, history), the manifest, and an index
// over the platforms built; every piece written to a BlobStore and named by its digest.
import { ImageError } from "../errors.ts";
import {
  isIndexMediaType,
  isManifestMediaType,
  manifestForPlatform,
  MediaType,
  platformKey,
  type ContainerConfig,
  type Descriptor,
  type HistoryEntry,
  type ImageConfigFile,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from "./oci.ts";
import type { BlobStore } from "./store.ts";
import type { Layer } from "./layer.ts";

/** The time kubelab's images say they were created: fixed, so the config's digest depends on content only. */
export const IMAGE_CREATED = "1970-01-01T00:00:00Z";

/** An image read back from a store, for one platform. */
export interface StoredImage {
  readonly manifestDescriptor: Descriptor;
  readonly manifest: ImageManifest;
  readonly config: ImageConfigFile;
}

export interface ImageSpec {
  readonly platform: Platform;
  /** The base image's layers and history come first; its runtime config is replaced, not merged. */
  readonly base?: StoredImage;
  /** Each with the history line that says what it is ("COPY bin ./bin"). */
  readonly layers: readonly { readonly layer: Layer; readonly createdBy: string }[];
  readonly config: ContainerConfig;
  /** History lines of config-only instructions (ENV, USER, ...), after the layers'. */
  readonly configHistory?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Writes the config and manifest of `spec` and returns the manifest's descriptor (with its platform). */
export async function writeImage(store: BlobStore, spec: ImageSpec): Promise<Descriptor> {
  if (spec.base !== undefined) {
    const base = spec.base.config;
    if (base.os !== spec.platform.os || base.architecture !== spec.platform.architecture) {
      throw new ImageError(
        `the base image is ${base.os}/${base.architecture}, the image is for ${platformKey(spec.platform)}`,
      );
    }
  }
  const history: HistoryEntry[] = [
    ...(spec.base?.config.history ?? []),
    ...spec.layers.map(({ createdBy }) => ({ created: IMAGE_CREATED, created_by: createdBy })),
    ...(spec.configHistory ?? []).map((line) => ({
      created: IMAGE_CREATED,
      created_by: line,
      empty_layer: true,
    })),
  ];
  const config: ImageConfigFile = {
    created: IMAGE_CREATED,
    architecture: spec.platform.architecture,
    os: spec.platform.os,
    ...(spec.platform.variant === undefined ? {} : { variant: spec.platform.variant }),
    config: spec.config,
    rootfs: {
      type: "layers",
      diff_ids: [
        ...(spec.base?.config.rootfs.diff_ids ?? []),
        ...spec.layers.map(({ layer }) => layer.diffId),
      ],
    },
    history,
  };
  const configBlob = await store.putJson(config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: { mediaType: MediaType.config, ...configBlob },
    layers: [
      ...(spec.base?.manifest.layers ?? []).map(ociLayerDescriptor),
      ...spec.layers.map(({ layer }) => layer.descriptor),
    ],
    ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }),
  };
  const manifestBlob = await store.putJson(manifest);
  return { mediaType: MediaType.manifest, ...manifestBlob, platform: spec.platform };
}

/** Writes an index over platform manifests (one per platform) and returns its descriptor. */
export async function writeIndex(store: BlobStore, manifests: readonly Descriptor[]): Promise<Descriptor> {
  const platforms = manifests.map((descriptor) => {
    if (descriptor.platform === undefined)
      throw new ImageError(`manifest ${descriptor.digest} names no platform`);
    return platformKey(descriptor.platform);
  });
  if (new Set(platforms).size !== platforms.length) {
    throw new ImageError(`an index needs one manifest per platform, got ${platforms.join(", ")}`);
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.index, manifests };
  const blob = await store.putJson(index);
  return { mediaType: MediaType.index, ...blob };
}

/**
 * The image of `descriptor` (a manifest, or an index resolved for `platform`), read from `store`, which must
 * hold the manifest(s) and config. Throws ImageError when the platform is missing.
 */
export async function readImage(
  store: BlobStore,
  descriptor: Descriptor,
  platform: Platform,
): Promise<StoredImage> {
  let manifestDescriptor = descriptor;
  if (isIndexMediaType(descriptor.mediaType)) {
    const index = await store.readJson<ImageIndex>(descriptor);
    const found = manifestForPlatform(index, platform);
    if (found === undefined) {
      const offered = index.manifests.flatMap((m) =>
        m.platform === undefined ? [] : [platformKey(m.platform)],
      );
      throw new ImageError(
        `the image has no ${platformKey(platform)} manifest (it has ${offered.join(", ") || "none"})`,
      );
    }
    manifestDescriptor = found;
  }
  const manifest = await store.readJson<ImageManifest>(manifestDescriptor);
  if (!isManifestMediaType(manifest.mediaType ?? manifestDescriptor.mediaType)) {
    throw new ImageError(`${manifestDescriptor.digest} is not an image manifest (${manifest.mediaType})`);
  }
  const config = await store.readJson<ImageConfigFile>(manifest.config);
  if (config.architecture !== platform.architecture || config.os !== platform.os) {
    throw new ImageError(
      `${manifestDescriptor.digest} is ${config.os}/${config.architecture}, not ${platformKey(platform)}`,
    );
  }
  return { manifestDescriptor, manifest, config };
}

/** Docker's layer media types name the same bytes; an OCI manifest names them the OCI way. */
function ociLayerDescriptor(descriptor: Descriptor): Descriptor {
  const mediaType =
    descriptor.mediaType === MediaType.dockerLayerGzip ? MediaType.layerGzip : descriptor.mediaType;
  return { mediaType, digest: descriptor.digest, size: descriptor.size };
}

/** Every blob `descriptor` reaches (itself, nested manifests, configs, layers), each once, in a stable order. */
export async function blobClosure(store: BlobStore, descriptor: Descriptor): Promise<Descriptor[]> {
  const found = new Map<string, Descriptor>();
  const visit = async (current: Descriptor): Promise<void> => {
    if (found.has(current.digest)) return;
    found.set(current.digest, current);
    if (isIndexMediaType(current.mediaType)) {
      const index = await store.readJson<ImageIndex>(current);
      for (const child of index.manifests) await visit(child);
    } else if (isManifestMediaType(current.mediaType)) {
      const manifest = await store.readJson<ImageManifest>(current);
      await visit(manifest.config);
      for (const layer of manifest.layers) await visit(layer);
    }
  };
  await visit(descriptor);
  return [...found.values()];
}
