// The operator image for one lab: this checkout's Dockerfile assembled without an engine, from the offline
// kit's bases where the lab uses the kit, else from the bases' registries (lab.yaml's mirrors first).
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { cacheRoot } from "../controlplane/binaries.ts";
import { goPlatform } from "../controlplane/versions.ts";
import { archiveName, operatorBaseImages } from "../kit/images.ts";
import { kitPaths } from "../kit/kit.ts";
import { KIT_VERSIONS } from "../kit/versions.ts";
import type { Lab } from "../lab/config.ts";
import { ImageError } from "../errors.ts";
import type { BaseImageSources } from "./base-images.ts";
import type { Architecture } from "./oci.ts";
import { buildOperatorImage, type OperatorImage } from "./operator-image.ts";
import { RegistryClient } from "./registry.ts";

/** The checkout bootstrap runs from: its Dockerfile, .dockerignore and build context. */
export const CHECKOUT = fileURLToPath(new URL("../../", import.meta.url));

/** The base images and build arguments the lab's assembly takes. */
export interface LabImageInputs {
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly sources: BaseImageSources;
  /** "the offline kit" or "registries (mirrors: ...)", for the progress line. */
  readonly from: string;
}

/** Whether the lab's nodes take their images from the offline kit (a podman lab with podman.kit). */
export function usesKit(lab: Lab): boolean {
  return lab.provider === "podman" && lab.podman.kit;
}

/**
 * Where the bases come from. On a kit lab: the kit's own runtime and build bases and its etcd image, as build
 * arguments over the Dockerfile's pinned defaults (the archives hold them; nothing is fetched). Otherwise the
 * Dockerfile's pinned bases, from their registries through lab.yaml's mirrors.
 */
export function labImageInputs(
  lab: Lab,
  signal: AbortSignal,
  env: NodeJS.ProcessEnv = process.env,
): LabImageInputs {
  if (usesKit(lab)) {
    const bases = operatorBaseImages();
    const etcd = `registry.k8s.io/etcd:${KIT_VERSIONS.etcdImageTag}`;
    const images = kitPaths(env).images;
    return {
      buildArgs: { RUNTIME_IMAGE: bases.runtime, NODE_BUILD_IMAGE: bases.build, ETCD_IMAGE: etcd },
      sources: {
        archives: [bases.runtime, etcd].map((reference) => join(images, `${archiveName(reference)}.tar`)),
      },
      from: "the offline kit",
    };
  }
  const endpoints = Object.fromEntries(
    Object.entries(lab.images.mirrors).map(([host, url]) => [host, [url]]),
  );
  const mirrored = Object.keys(endpoints);
  return {
    buildArgs: {},
    sources: { registry: new RegistryClient({ endpoints, signal }) },
    from:
      mirrored.length === 0 ? "their registries" : `their registries (mirrors for ${mirrored.join(", ")})`,
  };
}

/** The nodes' architecture: the host's (VMs and containers on this machine). */
function nodeArchitecture(): Architecture {
  const arch = goPlatform().arch;
  if (arch === "amd64" || arch === "arm64") return arch;
  throw new ImageError(`the operator image is built for amd64 and arm64 nodes, not ${arch}`);
}

export interface LabImageOptions {
  /** `.kubelab/cache/`: the archive written for this lab. */
  readonly cacheDir: string;
  readonly logFile: string;
  readonly signal: AbortSignal;
  readonly onProgress?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Assembles lab.yaml's operator.image from this checkout for the host's architecture (the nodes': VMs and
 * containers on this machine). Blobs, layers and the production npm install are cached in
 * ~/.cache/kubelab/images/ across labs; the same checkout and bases give the same digest and rebuild nothing.
 */
export async function buildLabOperatorImage(lab: Lab, options: LabImageOptions): Promise<OperatorImage> {
  const inputs = labImageInputs(lab, options.signal, options.env);
  options.onProgress?.(`bases from ${inputs.from}`);
  return buildOperatorImage({
    checkout: CHECKOUT,
    platform: { os: "linux", architecture: nodeArchitecture() },
    cacheDir: join(cacheRoot(options.env), "images"),
    reference: lab.operator.image,
    buildArgs: inputs.buildArgs,
    sources: inputs.sources,
    archivePath: join(options.cacheDir, "operator-image.tar"),
    logFile: options.logFile,
    signal: options.signal,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
}
