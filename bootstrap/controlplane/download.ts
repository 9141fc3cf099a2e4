// Downloads the official release binaries, each verified against the checksum its project publishes.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, mkdtemp, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract } from "tar";

import { CommandError } from "../errors.ts";
import { binariesOfModule, COMPONENT_VERSIONS, type ComponentVersions, goPlatform } from "./versions.ts";

/**
 * Where releases come from. Each is a URL prefix; tests point all of them at a local HTTP server.
 * kwok publishes no checksum file, so its digest comes from GitHub's release API (`assets[].digest`).
 */
export interface ReleaseSources {
  /** `${kubernetes}/${version}/bin/${os}/${arch}/${name}` and its `.sha256` file. */
  readonly kubernetes: string;
  /** `${etcd}/${version}/etcd-${version}-${os}-${arch}.tar.gz` and `${etcd}/${version}/SHA256SUMS`. */
  readonly etcd: string;
  /** `${kwok}/${version}/kwok-${os}-${arch}`. */
  readonly kwok: string;
  /** `${kwokApi}/${version}`: the GitHub release JSON with each asset's sha256 digest. */
  readonly kwokApi: string;
}

export const OFFICIAL_RELEASE_SOURCES: ReleaseSources = {
  kubernetes: "https://dl.k8s.io/release",
  etcd: "https://github.com/etcd-io/etcd/releases/download",
  kwok: "https://github.com/kubernetes-sigs/kwok/releases/download",
  kwokApi: "https://api.github.com/repos/kubernetes-sigs/kwok/releases/tags",
};

/**
 * The official sources, or a mirror when `KUBELAB_RELEASE_MIRROR` is set: a URL under which
 * `kubernetes/`, `etcd/`, `kwok/` and `kwok-api/` follow the official layouts.
 */
export function releaseSourcesFromEnv(env: NodeJS.ProcessEnv = process.env): ReleaseSources {
  const mirror = env.KUBELAB_RELEASE_MIRROR;
  return mirror === undefined || mirror === "" ? OFFICIAL_RELEASE_SOURCES : mirrorReleaseSources(mirror);
}

/** Release sources under one base URL (the layout KUBELAB_RELEASE_MIRROR documents). */
export function mirrorReleaseSources(base: string): ReleaseSources {
  const root = base.replace(/\/+$/, "");
  return {
    kubernetes: `${root}/kubernetes`,
    etcd: `${root}/etcd`,
    kwok: `${root}/kwok`,
    kwokApi: `${root}/kwok-api`,
  };
}

export interface DownloadOptions {
  /** Directory the binaries are written to, under their final names. */
  readonly outDir: string;
  readonly sources?: ReleaseSources;
  readonly versions?: ComponentVersions;
  readonly platform?: { os: string; arch: string };
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Per request; a stalled connection fails instead of hanging. */
  readonly timeoutMs?: number;
}

/** A download failed for a reason that retrying elsewhere will not fix (checksum, 404, truncation). */
export function downloadError(url: string, message: string, cause?: unknown): CommandError {
  return new CommandError(`download ${url}`, message, {
    cause,
    hint: "check the network or set KUBELAB_RELEASE_MIRROR; with Go installed the binaries are built instead",
  });
}

/**
 * Downloads every binary of the set into `outDir`, verifying each file before it is kept: Kubernetes
 * binaries against dl.k8s.io's `.sha256` files, the etcd tarball against the release's SHA256SUMS, kwok
 * against the digest GitHub records for the release asset. A mismatch, a 404 or a truncated body throws
 * and leaves nothing behind.
 */
export async function downloadReleaseBinaries(options: DownloadOptions): Promise<void> {
  const sources = options.sources ?? OFFICIAL_RELEASE_SOURCES;
  const versions = options.versions ?? COMPONENT_VERSIONS;
  const { os, arch } = options.platform ?? goPlatform();
  const fetchOptions = { signal: options.signal, timeoutMs: options.timeoutMs ?? 120_000 };

  for (const name of binariesOfModule("kubernetes")) {
    const url = `${sources.kubernetes}/${versions.kubernetes}/bin/${os}/${arch}/${name}`;
    options.progress?.(`downloading ${name} ${versions.kubernetes}`);
    const expected = parseSha256File(await fetchText(`${url}.sha256`, fetchOptions), `${url}.sha256`);
    await downloadVerified(url, join(options.outDir, name), expected, fetchOptions);
    await chmod(join(options.outDir, name), 0o755);
  }

  const etcdName = `etcd-${versions.etcd}-${os}-${arch}`;
  const tarballUrl = `${sources.etcd}/${versions.etcd}/${etcdName}.tar.gz`;
  options.progress?.(`downloading etcd ${versions.etcd}`);
  const sumsUrl = `${sources.etcd}/${versions.etcd}/SHA256SUMS`;
  const etcdSum = parseSha256Sums(await fetchText(sumsUrl, fetchOptions), `${etcdName}.tar.gz`, sumsUrl);
  const scratch = await mkdtemp(join(options.outDir, ".etcd-"));
  try {
    const tarball = join(scratch, `${etcdName}.tar.gz`);
    await downloadVerified(tarballUrl, tarball, etcdSum, fetchOptions);
    const wanted = new Set(binariesOfModule("etcd").map((name) => `${etcdName}/${name}`));
    await extract({ file: tarball, cwd: scratch, filter: (path) => wanted.has(path.replace(/^\.\//, "")) });
    for (const name of binariesOfModule("etcd")) {
      await rename(join(scratch, etcdName, name), join(options.outDir, name)).catch((error: unknown) => {
        throw downloadError(tarballUrl, `the archive has no ${etcdName}/${name}`, error);
      });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  const kwokAsset = `kwok-${os}-${arch}`;
  const kwokUrl = `${sources.kwok}/${versions.kwok}/${kwokAsset}`;
  options.progress?.(`downloading kwok ${versions.kwok}`);
  const releaseUrl = `${sources.kwokApi}/${versions.kwok}`;
  const kwokSum = parseGithubAssetDigest(await fetchText(releaseUrl, fetchOptions), kwokAsset, releaseUrl);
  await downloadVerified(kwokUrl, join(options.outDir, "kwok"), kwokSum, fetchOptions);
  await chmod(join(options.outDir, "kwok"), 0o755);
}

/** The digest of a `.sha256` file: its first word, 64 hex digits (dl.k8s.io writes nothing else). */
export function parseSha256File(text: string, url: string): string {
  const digest = text.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  if (!/^[0-9a-f]{64}$/.test(digest)) throw downloadError(url, "is not a sha256 checksum file");
  return digest;
}

/** The digest of `fileName` in a `sha256sum` listing ("<hex>  <name>" lines, `*` for binary mode). */
export function parseSha256Sums(text: string, fileName: string, url: string): string {
  for (const line of text.split("\n")) {
    const match = /^([0-9a-fA-F]{64})\s+\*?(.+)$/.exec(line.trim());
    if (match?.[2]?.trim() === fileName) return match[1]!.toLowerCase();
  }
  throw downloadError(url, `lists no checksum for ${fileName}`);
}

/** The sha256 digest GitHub records for a release asset (`"digest": "sha256:<hex>"` in the release JSON). */
export function parseGithubAssetDigest(json: string, assetName: string, url: string): string {
  let release: unknown;
  try {
    release = JSON.parse(json);
  } catch (error) {
    throw downloadError(url, "did not return release JSON", error);
  }
  const assets = (release as { assets?: unknown }).assets;
  const asset = Array.isArray(assets)
    ? (assets as { name?: unknown; digest?: unknown }[]).find((entry) => entry.name === assetName)
    : undefined;
  if (asset === undefined) throw downloadError(url, `the release has no asset ${assetName}`);
  const match = typeof asset.digest === "string" ? /^sha256:([0-9a-f]{64})$/i.exec(asset.digest) : null;
  if (match === null) throw downloadError(url, `GitHub records no sha256 digest for ${assetName}`);
  return match[1]!.toLowerCase();
}

interface FetchOptions {
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number;
}

async function request(url: string, options: FetchOptions): Promise<Response> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: "follow" });
  } catch (error) {
    throw new NetworkError(url, error);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw downloadError(url, `HTTP ${response.status} ${response.statusText}`.trim());
  }
  return response;
}

async function fetchText(url: string, options: FetchOptions): Promise<string> {
  const response = await request(url, options);
  try {
    return await response.text();
  } catch (error) {
    throw downloadError(url, "the connection broke while reading the response", error);
  }
}

/**
 * Streams `url` to `path` while hashing it; keeps the file only when the body is complete and its sha256
 * is `expectedSha256`. The file is written next to its destination and renamed, so a failure leaves no
 * partial binary under the final name.
 */
export async function downloadVerified(
  url: string,
  path: string,
  expectedSha256: string,
  options: FetchOptions,
): Promise<void> {
  const response = await request(url, options);
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  const hash = createHash("sha256");
  let received = 0;
  const partial = `${path}.partial`;
  try {
    if (response.body === null) throw downloadError(url, "the response has no body");
    try {
      await pipeline(
        Readable.fromWeb(response.body),
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            received += chunk.length;
            hash.update(chunk);
            callback(null, chunk);
          },
        }),
        createWriteStream(partial),
      );
    } catch (error) {
      const size = Number.isNaN(declared) ? "" : ` of ${declared}`;
      throw downloadError(url, `the download was cut short after ${received}${size} bytes`, error);
    }
    if (!Number.isNaN(declared) && received !== declared) {
      throw downloadError(url, `the download was cut short: ${received} of ${declared} bytes`);
    }
    const actual = hash.digest("hex");
    if (actual !== expectedSha256) {
      throw downloadError(
        url,
        `checksum mismatch: expected sha256 ${expectedSha256}, got ${actual}; the file was discarded`,
      );
    }
    await rename(partial, path);
  } finally {
    await rm(partial, { force: true });
  }
}

/** The network could not be reached at all (DNS, refused, offline): the caller may say "install Go" instead. */
export class NetworkError extends CommandError {
  readonly url: string;

  constructor(url: string, cause: unknown) {
    const reason =
      cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : "";
    super(`download ${url}`, `cannot reach the server (${reason})`, { cause });
    this.url = url;
  }
}
