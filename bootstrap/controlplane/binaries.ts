// Finds or makes the binary set the control plane runs: KUBEBUILDER_ASSETS, then a versioned cache outside
// the repository, then a Go build from the wrapper modules, then the official release downloads.
import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { access, mkdir, readFile, rename, rm, stat, writeFile, mkdtemp } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

import { MissingToolError } from "../errors.ts";
import { buildFromSource, findGo } from "./build.ts";
import {
  downloadReleaseBinaries,
  NetworkError,
  releaseSourcesFromEnv,
  type ReleaseSources,
} from "./download.ts";
import { acquireFileLock } from "./filelock.ts";
import {
  BINARY_NAMES,
  type BinaryName,
  COMPONENT_VERSIONS,
  type ComponentVersions,
  goPlatform,
} from "./versions.ts";

export type BinarySource = "KUBEBUILDER_ASSETS" | "cache" | "built" | "downloaded";

/** A directory holding every binary the control plane needs, and where it came from. */
export interface BinarySet {
  readonly dir: string;
  readonly source: BinarySource;
  /** The pinned versions for cache, build and download; unknown (as pinned) for KUBEBUILDER_ASSETS. */
  readonly versions: ComponentVersions;
  /** Absolute path of one binary. */
  path(name: BinaryName): string;
}

export interface EnsureBinariesOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Binaries the caller needs; all of them by default. Only KUBEBUILDER_ASSETS may hold fewer. */
  readonly required?: readonly BinaryName[];
  readonly versions?: ComponentVersions;
  /** Progress lines for a human ("building kubernetes: 812 packages compiled"). */
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Ways to make a missing set, in this order; both by default. */
  readonly build?: boolean;
  readonly download?: boolean;
  /** The go command (default `go`). */
  readonly go?: string;
  readonly releaseSources?: ReleaseSources;
  readonly platform?: { os: string; arch: string };
}

interface ManifestFile {
  readonly sha256: string;
  readonly size: number;
  /**
   * The file's change time (ctime, ms) when its sha256 was last verified. Equal size and ctime mean the file
   * was not written since (a write, chmod or rename-into-place moves ctime, and no tool can set it back), so
   * the warm path skips hashing; sets recorded without it are hashed once and recorded.
   */
  readonly ctimeMs?: number;
}

/** manifest.json of a cached set: what it is, how it was made, and a checksum per file. */
export interface BinaryManifest {
  readonly schema: 1;
  readonly versions: Readonly<Record<string, string>>;
  readonly platform: string;
  readonly source: "built" | "downloaded";
  /** `go1.26.8` for built sets. */
  readonly go?: string;
  readonly createdAt: string;
  readonly files: Readonly<Record<string, ManifestFile>>;
}

/**
 * The cache root: `$KUBELAB_CACHE_DIR`, else `$XDG_CACHE_HOME/kubelab`, else `~/.cache/kubelab`. Outside the
 * repository on purpose: a fresh clone reuses binaries built by another one.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KUBELAB_CACHE_DIR !== undefined && env.KUBELAB_CACHE_DIR !== "") return env.KUBELAB_CACHE_DIR;
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== "" ? xdg : join(homedir(), ".cache"), "kubelab");
}

/** Directory of the cached set for these versions, such as `~/.cache/kubelab/bin/v1.36.5`. */
export function binaryCacheDir(
  env: NodeJS.ProcessEnv = process.env,
  versions: ComponentVersions = COMPONENT_VERSIONS,
): string {
  return join(cacheRoot(env), "bin", versions.kubernetes);
}

/**
 * Returns a complete binary set, making one when needed. Order:
 * 1. `KUBEBUILDER_ASSETS` (envtest's convention) when it holds every required binary; otherwise the
 *    missing ones are named and the next source is tried.
 * 2. The cache, when its manifest has the pinned versions and every file matches its sha256.
 * 3. Under a lock (two runs never build at once; the second one waits and reuses the result):
 *    a Go build, else the release downloads, into a temporary directory renamed into place.
 * 4. A MissingToolError saying what to install.
 */
export async function ensureBinaries(options: EnsureBinariesOptions = {}): Promise<BinarySet> {
  const env = options.env ?? process.env;
  const versions = options.versions ?? COMPONENT_VERSIONS;
  const required = options.required ?? BINARY_NAMES;
  const progress = options.progress ?? (() => {});
  const platform = options.platform ?? goPlatform();

  const assets = env.KUBEBUILDER_ASSETS;
  if (assets !== undefined && assets !== "") {
    const missing = await missingBinaries(assets, required);
    if (missing.length === 0) return binarySet(assets, "KUBEBUILDER_ASSETS", versions);
    progress(
      `KUBEBUILDER_ASSETS=${assets} lacks ${missing.join(", ")}; using the kubelab cache instead ` +
        `(put every one of ${required.join(", ")} there to use it)`,
    );
  }

  const dir = binaryCacheDir(env, versions);
  const source = await ensureCachedFiles({
    dir,
    identity: { versions, platform, files: BINARY_NAMES },
    what: "binaries",
    progress,
    signal: options.signal,
    make: (staging, logPath) =>
      makeBinarySet({ ...options, env, versions, platform, progress, logPath }, staging),
  });
  return binarySet(dir, source, versions);
}

/** What a cached directory must be for: checked against its manifest.json before it is used. */
export interface CachedFilesIdentity {
  /** Every version the files depend on (component versions, a wrapper module's version). */
  readonly versions: Readonly<Record<string, string>>;
  readonly platform: { readonly os: string; readonly arch: string };
  /** The file names the directory holds (each recorded with its size and sha256). */
  readonly files: readonly string[];
}

export interface EnsureCachedFilesOptions {
  /** The cache directory; `${dir}.log` and `${dir}.lock` sit beside it. */
  readonly dir: string;
  readonly identity: CachedFilesIdentity;
  /** What the files are, for progress lines ("binaries", "cni-plugins v1.9.1 binaries"). */
  readonly what: string;
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Writes every file of `identity.files` into `staging`; says how they were made. */
  make(staging: string, logPath: string): Promise<{ source: "built" | "downloaded"; go?: string }>;
}

/**
 * The cache mechanics every built file set shares (the control-plane binaries, the kit's binaries): use
 * `dir` when its manifest matches `identity` and every file its recorded sha256; otherwise, under a lock
 * (two runs never build at once; the second one waits and reuses the result), `make` the files into a
 * temporary directory, record the manifest and rename it into place, so readers never see half a set.
 */
export async function ensureCachedFiles(options: EnsureCachedFilesOptions): Promise<BinarySource> {
  const { dir, identity, progress } = options;
  const cached = await checkCachedFiles(dir, identity);
  if (cached.ok) return "cache";
  if (cached.reason !== "absent")
    progress(`cached ${options.what} in ${dir} are not usable (${cached.reason}); rebuilding`);

  await mkdir(dirname(dir), { recursive: true });
  const logPath = `${dir}.log`;
  const lock = await acquireFileLock(`${dir}.lock`, {
    signal: options.signal,
    onWait: (holder) =>
      progress(`waiting for another kubelab run (${holder}) to finish the ${options.what} (log: ${logPath})`),
  });
  try {
    const again = await checkCachedFiles(dir, identity);
    if (again.ok) return "cache";
    const staging = await mkdtemp(`${dir}.tmp-`);
    try {
      const made = await options.make(staging, logPath);
      const manifest: BinaryManifest = {
        schema: 1,
        versions: identity.versions,
        platform: `${identity.platform.os}/${identity.platform.arch}`,
        source: made.source,
        ...(made.go === undefined ? {} : { go: made.go }),
        createdAt: new Date().toISOString(),
        files: Object.fromEntries(
          await Promise.all(
            identity.files.map(async (name) => [name, await describeFile(join(staging, name))] as const),
          ),
        ),
      };
      await writeFile(join(staging, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
      // Atomic switch: readers see the old complete set or the new complete set, never half of one.
      await rm(dir, { recursive: true, force: true });
      await rename(staging, dir);
      progress(`${options.what} ready in ${dir}`);
      return made.source;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  } finally {
    await lock.release();
  }
}

interface MakeOptions extends EnsureBinariesOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly versions: ComponentVersions;
  readonly platform: { os: string; arch: string };
  readonly progress: (line: string) => void;
  readonly logPath: string;
}

/** Builds the set with Go into `staging`, else downloads the release binaries; else asks for Go. */
async function makeBinarySet(
  options: MakeOptions,
  staging: string,
): Promise<{ source: "built" | "downloaded"; go?: string }> {
  const { logPath, progress, versions } = options;
  const go = options.build === false ? undefined : await findGo(options.go, options.env);
  if (go !== undefined) {
    progress(
      `building Kubernetes ${versions.kubernetes}, etcd ${versions.etcd}, kwok ${versions.kwok} with ${go} (log: ${logPath})`,
    );
    await writeFile(logPath, `kubelab binary build, ${new Date().toISOString()}, ${go}\n`);
    await buildFromSource({
      outDir: staging,
      logPath,
      go: options.go,
      versions,
      progress,
      signal: options.signal,
    });
    return { source: "built", go };
  }
  if (options.download === false) throw missingGo(undefined);
  progress(
    options.build === false
      ? "downloading release binaries"
      : "Go is not installed: downloading the release binaries",
  );
  try {
    await downloadReleaseBinaries({
      outDir: staging,
      sources: options.releaseSources ?? releaseSourcesFromEnv(options.env),
      versions,
      platform: options.platform,
      progress,
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof NetworkError) throw missingGo(error);
    throw error;
  }
  return { source: "downloaded" };
}

function missingGo(cause: NetworkError | undefined): MissingToolError {
  const error = new MissingToolError(
    "go",
    "install Go 1.26 or newer (https://go.dev/dl/): the Kubernetes, etcd and kwok binaries are built from source; " +
      `or set KUBEBUILDER_ASSETS to a directory holding ${BINARY_NAMES.join(", ")}` +
      (cause === undefined ? "" : `; downloading the release binaries failed too: ${cause.message}`),
  );
  if (cause !== undefined) error.cause = cause;
  return error;
}

type CacheCheck = { ok: true } | { ok: false; reason: string };

/**
 * Whether `dir` holds a complete set for `identity`: manifest present and matching its versions and
 * platform, every file present with the recorded size and sha256. A file whose ctime is the one recorded
 * when it was last hashed is not hashed again (milliseconds instead of about half a second for the ~600 MB
 * control-plane set).
 */
export async function checkCachedFiles(dir: string, identity: CachedFilesIdentity): Promise<CacheCheck> {
  let manifest: BinaryManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as BinaryManifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { ok: false, reason: "absent" };
    return { ok: false, reason: `unreadable manifest.json: ${(error as Error).message}` };
  }
  for (const [key, version] of Object.entries(identity.versions)) {
    if (manifest.versions?.[key] !== version) {
      return { ok: false, reason: `${key} ${manifest.versions?.[key]} instead of ${version}` };
    }
  }
  const platform = `${identity.platform.os}/${identity.platform.arch}`;
  if (manifest.platform !== platform) return { ok: false, reason: `built for ${manifest.platform}` };
  const verified: Record<string, ManifestFile> = {};
  let hashed = false;
  for (const name of identity.files) {
    const expected = manifest.files?.[name];
    if (expected === undefined) return { ok: false, reason: `manifest lists no ${name}` };
    let current: { size: number; ctimeMs: number };
    try {
      current = await stat(join(dir, name));
    } catch {
      return { ok: false, reason: `${name} is missing` };
    }
    if (current.size !== expected.size)
      return { ok: false, reason: `${name} does not match its recorded sha256` };
    if (expected.ctimeMs === current.ctimeMs) {
      verified[name] = expected;
      continue;
    }
    const actual = await describeFile(join(dir, name)).catch(() => undefined);
    if (actual === undefined) return { ok: false, reason: `${name} is missing` };
    if (actual.size !== expected.size || actual.sha256 !== expected.sha256) {
      return { ok: false, reason: `${name} does not match its recorded sha256` };
    }
    verified[name] = actual;
    hashed = true;
  }
  if (hashed) {
    // Record the ctimes just verified, so the next check needs no hashing; a failed write changes nothing.
    const updated = `${JSON.stringify({ ...manifest, files: { ...manifest.files, ...verified } }, null, 2)}\n`;
    const temporary = join(dir, `.manifest.json.${process.pid}`);
    await writeFile(temporary, updated)
      .then(() => rename(temporary, join(dir, "manifest.json")))
      .catch(() => rm(temporary, { force: true }));
  }
  return { ok: true };
}

/** Required binaries that are not executable files in `dir`. */
export async function missingBinaries(dir: string, required: readonly BinaryName[]): Promise<BinaryName[]> {
  const missing: BinaryName[] = [];
  for (const name of required) {
    try {
      await access(join(dir, name), constants.X_OK);
      if (!(await stat(join(dir, name))).isFile()) missing.push(name);
    } catch {
      missing.push(name);
    }
  }
  return missing;
}

async function describeFile(path: string): Promise<ManifestFile> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size, ctimeMs: (await stat(path)).ctimeMs };
}

function binarySet(dir: string, source: BinarySource, versions: ComponentVersions): BinarySet {
  return { dir, source, versions, path: (name) => join(dir, name) };
}
