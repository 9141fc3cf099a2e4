// The OCI image format as kubelab uses it: media types, descriptors, manifests, indexes and the image config,
// with the Docker v2 media types registries still serve read as their OCI equivalents.
import { createHash } from "node:crypto";

import { ImageError } from "../errors.ts";

export const MediaType = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layer: "application/vnd.oci.image.layer.v1.tar",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** The annotation naming an image in an OCI layout's index.json (what `podman load` and `ctr import` read). */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
/** containerd's own name annotation, which `ctr images import` prefers to the ref name. */
export const CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name";

export interface Platform {
  readonly os: "linux";
  readonly architecture: Architecture;
  readonly variant?: string;
}
export type Architecture = "amd64" | "arm64";

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The runtime part of an image config (the Docker-compatible field names every runtime reads). */
export interface ContainerConfig {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
}

export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

export interface ImageConfigFile {
  readonly created?: string;
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly config?: ContainerConfig;
  readonly rootfs: { readonly type: "layers"; readonly diff_ids: readonly string[] };
  readonly history?: readonly HistoryEntry[];
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.index || mediaType === MediaType.dockerManifestList;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.manifest || mediaType === MediaType.dockerManifest;
}

/** `sha256:HEX` of the bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The hex part of a sha256 digest; throws ImageError on anything else (the only algorithm kubelab takes). */
export function digestHex(digest: string): string {
  if (!DIGEST.test(digest)) throw new ImageError(`"${digest}" is not a sha256 digest`);
  return digest.slice("sha256:".length);
}

/** The canonical JSON kubelab writes for manifests and configs: compact, keys in the order given. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function platformKey(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant === undefined ? "" : `/${platform.variant}`}`;
}

/**
 * The descriptor of `index` for `platform`: the same os and architecture, and the same variant when both
 * name one (arm64 is "v8" or unnamed). Undefined when the index has none.
 */
export function manifestForPlatform(index: ImageIndex, platform: Platform): Descriptor | undefined {
  return index.manifests.find(
    (descriptor) =>
      isManifestMediaType(descriptor.mediaType) &&
      descriptor.platform?.os === platform.os &&
      descriptor.platform.architecture === platform.architecture &&
      (platform.variant === undefined ||
        descriptor.platform.variant === undefined ||
        descriptor.platform.variant === platform.variant),
  );
}
