// The operator image from this checkout without a container engine: the Dockerfile's final stage read from
// the Dockerfile (base, COPY steps, config), the base and the etcd image from archives or a registry, the
// production node_modules from `npm ci --omit=dev --ignore-scripts`, the rest from the build context.
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ImageError } from "../errors.ts";
import { readTextIfExists, writeFileAtomic } from "../files.ts";
import { runProcess } from "../process.ts";
import { BaseImageResolver, type BaseImageSources } from "./base-images.ts";
import { finalStage, parseDockerfile, stageBase, type CopyStep, type FinalStage } from "./dockerfile.ts";
import { parseDockerIgnore, type DockerIgnore } from "./dockerignore.ts";
import { extractFiles } from "./extract.ts";
import { writeImage, type StoredImage } from "./image.ts";
import {
  cachedLayer,
  digestOfParts,
  parentDirectories,
  treeEntries,
  writeLayer,
  type Layer,
} from "./layer.ts";
import { writeOciArchive } from "./layout.ts";
import type { ContainerConfig, Descriptor, Platform } from "./oci.ts";
import { formatReference, parseReference } from "./reference.ts";
import { BlobStore } from "./store.ts";
import type { LayerEntry } from "./tar.ts";

export interface OperatorImageOptions {
  /** The checkout: its Dockerfile, .dockerignore and build context. */
  readonly checkout: string;
  readonly platform: Platform;
  /** `.kubelab/cache/images/`: blobs by digest, cached layers, the npm install. */
  readonly cacheDir: string;
  /** The name the nodes know the image by (lab.yaml's operator.image, "kubelab-operator:0.1.0"). */
  readonly reference: string;
  /** `--build-arg`s: VERSION, REVISION, or a base image (RUNTIME_IMAGE=...). */
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly sources: BaseImageSources;
  /** The OCI archive to write. */
  readonly archivePath: string;
  readonly logFile: string;
  readonly signal: AbortSignal;
  /** One line per phase ("base image gcr.io/...: cached"), for progress. */
  readonly onProgress?: (line: string) => void;
  /**
   * Installs the production dependencies into `dir` (holding package.json and package-lock.json), as the
   * Dockerfile's dependencies stage does. Default: `npm ci --omit=dev --ignore-scripts` for the platform.
   */
  readonly installDependencies?: (dir: string) => Promise<void>;
}

export interface OperatorImage {
  /** The full reference in the archive ("docker.io/library/kubelab-operator:0.1.0"), as the CRI names it. */
  readonly reference: string;
  /** The manifest: its digest is the image's identity (the plan step's digest; re-load only on change). */
  readonly descriptor: Descriptor;
  readonly archivePath: string;
  /** Compressed bytes of all layers, base included: what a node stores. */
  readonly layerBytes: number;
}

/** Assembles the image and writes its archive. Same checkout and bases: same digest, nothing rebuilt. */
export async function buildOperatorImage(options: OperatorImageOptions): Promise<OperatorImage> {
  const dockerfile = parseDockerfile(await readFile(join(options.checkout, "Dockerfile"), "utf8"));
  const stage = finalStage(dockerfile, options.buildArgs);
  const ignore = parseDockerIgnore((await readTextIfExists(join(options.checkout, ".dockerignore"))) ?? "");
  const store = new BlobStore(options.cacheDir);
  const resolver = new BaseImageResolver(store, options.sources);
  const progress = options.onProgress ?? (() => {});

  const base = await resolver.resolve(stage.base, options.platform);
  progress(`base ${stage.base}: ${base.source}`);
  const stageImages = new Map<string, StoredImage>();
  const owners = await workdirOwners(store, base.image, stage, join(options.cacheDir, ".passwd"));
  const layers: { layer: Layer; createdBy: string }[] = [];
  for (const copy of stage.copies) {
    const layer =
      copy.from === undefined
        ? await contextLayer(store, options.checkout, ignore, copy, owners)
        : copy.from === "dependencies"
          ? await dependenciesLayer(store, options, copy, owners)
          : await imageCopyLayer(store, options, copy, await stageImage(copy.from), owners);
    progress(`${copy.instruction}: ${layer.descriptor.digest.slice(7, 19)} (${layer.descriptor.size} bytes)`);
    layers.push({ layer, createdBy: copy.instruction });
  }

  const descriptor = await writeImage(store, {
    platform: options.platform,
    base: base.image,
    layers,
    config: imageConfig(base.image.config.config ?? {}, stage),
    configHistory: stage.configHistory,
  });
  const reference = formatReference(parseReference(options.reference));
  await writeOciArchive(options.archivePath, store, [{ reference, descriptor }]);
  const manifest = await store.readJson<{ layers: Descriptor[] }>(descriptor);
  return {
    reference,
    descriptor,
    archivePath: options.archivePath,
    layerBytes: manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
  };

  async function stageImage(name: string): Promise<StoredImage> {
    const found = stageImages.get(name);
    if (found !== undefined) return found;
    const stageOf = dockerfile.stages.find((candidate) => candidate.name === name);
    if (stageOf === undefined) throw new ImageError(`COPY --from=${name}: no such stage`);
    if (stageOf.instructions.length > 0) {
      throw new ImageError(
        `COPY --from=${name}: bootstrap copies from image stages only (FROM and nothing else)`,
      );
    }
    const resolved = await resolver.resolve(
      stageBase(dockerfile, stageOf, options.buildArgs),
      options.platform,
    );
    progress(`stage ${name} (${resolved.reference}): ${resolved.source}`);
    stageImages.set(name, resolved.image);
    return resolved.image;
  }
}

/** The final config: the base's, with what the stage sets laid over it (as the builder does). */
export function imageConfig(base: ContainerConfig, stage: FinalStage): ContainerConfig {
  const env = new Map((base.Env ?? []).map((entry) => [entry.split("=")[0] ?? "", entry] as const));
  for (const [key, value] of stage.env) env.set(key, `${key}=${value}`);
  const exposed: Record<string, Record<string, never>> = { ...(base.ExposedPorts ?? {}) };
  for (const port of stage.exposedPorts) exposed[port] = {};
  const cmd = stage.entrypoint !== undefined ? stage.cmd : (stage.cmd ?? base.Cmd);
  const config: ContainerConfig = {
    ...base,
    Env: [...env.values()],
    Labels: { ...(base.Labels ?? {}), ...stage.labels },
    ...(Object.keys(exposed).length === 0 ? {} : { ExposedPorts: exposed }),
    ...(stage.user === undefined ? {} : { User: stage.user }),
    ...(stage.workdir === undefined ? {} : { WorkingDir: stage.workdir }),
    ...(stage.entrypoint === undefined ? {} : { Entrypoint: stage.entrypoint }),
  };
  const { Cmd: _dropped, ...rest } = config;
  return cmd === undefined ? rest : { ...rest, Cmd: cmd };
}

/** COPY from the build context: files and directories under the checkout, .dockerignore applied. */
async function contextLayer(
  store: BlobStore,
  checkout: string,
  ignore: DockerIgnore,
  copy: CopyStep,
  owners: DirectoryOwners,
): Promise<Layer> {
  const entries: LayerEntry[] = [];
  for (const source of copy.sources) {
    const relative = source.replace(/^\.\//, "").replace(/\/+$/, "");
    if (relative.startsWith("/") || relative.split("/").includes("..") || ignore.excludes(relative)) {
      throw new ImageError(
        `${copy.instruction}: ${source} is outside the build context or excluded by .dockerignore`,
      );
    }
    const full = join(checkout, relative);
    const info = await lstat(full).catch(() => undefined);
    if (info === undefined)
      throw new ImageError(`${copy.instruction}: ${source} does not exist in ${checkout}`);
    const target = destinationOf(copy, relative, info.isDirectory());
    if (info.isDirectory()) {
      entries.push(
        ...(await treeEntries(full, {
          at: target,
          exclude: (inside) => ignore.excludes(`${relative}/${inside}`),
        })),
      );
    } else {
      entries.push({
        type: "file",
        path: target,
        content: { fromFile: full },
        mode: (info.mode & 0o111) === 0 ? 0o644 : 0o755,
      });
    }
  }
  return writeLayer(store, withParents(entries, owners));
}

/** COPY --from=dependencies: `npm ci --omit=dev --ignore-scripts` of the lock file, for the image's platform. */
async function dependenciesLayer(
  store: BlobStore,
  options: OperatorImageOptions,
  copy: CopyStep,
  owners: DirectoryOwners,
): Promise<Layer> {
  if (copy.sources.length !== 1 || copy.sources[0] !== "/build/node_modules") {
    throw new ImageError(`${copy.instruction}: the dependencies stage provides /build/node_modules only`);
  }
  const packageJson = await readFile(join(options.checkout, "package.json"));
  const lock = await readFile(join(options.checkout, "package-lock.json"));
  const cpu = options.platform.architecture === "amd64" ? "x64" : "arm64";
  const key = digestOfParts([
    "npm-ci-omit-dev",
    cpu,
    packageJson,
    lock,
    copy.destination,
    JSON.stringify([...owners]),
  ]);
  return cachedLayer(store, key, async () => {
    const work = await mkdtemp(join(tmpdir(), "kubelab-npm-"));
    try {
      await writeFile(join(work, "package.json"), packageJson);
      await writeFile(join(work, "package-lock.json"), lock);
      await (options.installDependencies ?? ((target) => npmCi(target, cpu, options)))(work);
      return await writeLayer(
        store,
        withParents(await treeEntries(join(work, "node_modules"), { at: strip(copy.destination) }), owners),
      );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}

/** The dependencies stage's RUN: npm's cache under the image cache, so a rebuild installs from it. */
async function npmCi(dir: string, cpu: string, options: OperatorImageOptions): Promise<void> {
  await runProcess(
    "npm",
    ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--os=linux", `--cpu=${cpu}`],
    {
      cwd: dir,
      timeoutMs: 10 * 60_000,
      signal: options.signal,
      logFile: options.logFile,
      env: { npm_config_cache: join(options.cacheDir, "npm-cache"), npm_config_update_notifier: "false" },
      missingToolHint:
        "npm comes with Node.js (https://nodejs.org); bootstrap runs it to install the operator's dependencies",
      label: "npm ci --omit=dev (operator image)",
    },
  );
}

/** COPY --from=IMAGE-STAGE: regular files out of that image, into a directory destination. */
async function imageCopyLayer(
  store: BlobStore,
  options: OperatorImageOptions,
  copy: CopyStep,
  image: StoredImage,
  owners: DirectoryOwners,
): Promise<Layer> {
  if (copy.sources.length > 1 && !copy.destination.endsWith("/")) {
    throw new ImageError(`${copy.instruction}: several sources need a directory destination ending in /`);
  }
  const key = digestOfParts([
    JSON.stringify([...owners]),
    "copy-from-image",
    image.manifestDescriptor.digest,
    copy.instruction,
    copy.destination,
  ]);
  return cachedLayer(store, key, async () => {
    await mkdir(options.cacheDir, { recursive: true });
    const work = await mkdtemp(join(options.cacheDir, ".extract-"));
    try {
      const files = await extractFiles(store, image, copy.sources, work);
      const entries: LayerEntry[] = copy.sources.map((source) => {
        const file = files.get(source) as { file: string; mode: number };
        const name = source.split("/").pop() ?? source;
        return {
          type: "file",
          path: destinationOf(copy, name, false),
          content: { fromFile: file.file },
          mode: file.mode,
        };
      });
      return await writeLayer(store, withParents(entries, owners));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}

/** Where `name` lands: inside a directory destination ("/usr/local/bin/"), else at the destination itself. */
function destinationOf(copy: CopyStep, name: string, isDirectory: boolean): string {
  if (copy.destination.endsWith("/"))
    return strip(`${copy.destination}${isDirectory ? "" : name.split("/").pop()}`);
  return strip(copy.destination);
}

function strip(path: string): string {
  return path.replace(/^\/+/, "").replace(/\/+$/, "");
}

/** Owners of directories the stage creates other than root's: the WORKDIR, made for the user in effect. */
type DirectoryOwners = ReadonlyMap<string, { readonly uid: number; readonly gid: number }>;

/**
 * The WORKDIR's owner as the builder makes it: the user in effect when WORKDIR ran (a USER before it, else
 * the base image's), numeric "uid[:gid]"; without a gid, the primary group /etc/passwd of the base gives
 * that uid, else 0 (as the runtimes do for a uid without an entry).
 */
async function workdirOwners(
  store: BlobStore,
  base: StoredImage,
  stage: FinalStage,
  scratch: string,
): Promise<DirectoryOwners> {
  if (stage.workdir === undefined) return new Map();
  const user = stage.workdirUser ?? base.config.config?.User ?? "";
  if (user === "" || user === "0" || user === "root" || user === "0:0") return new Map();
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (match === null) {
    throw new ImageError(
      `the WORKDIR's user "${user}" is not numeric: bootstrap's assembly needs "uid[:gid]"`,
    );
  }
  const uid = Number(match[1]);
  let gid = match[2] === undefined ? undefined : Number(match[2]);
  if (gid === undefined) {
    // Reading /etc/passwd means reading every base layer: once per base image, then from a record.
    const record = join(
      store.root,
      "layers",
      `passwd-gid-${base.manifestDescriptor.digest.slice(7)}-${uid}.json`,
    );
    const cached = await readTextIfExists(record);
    if (cached !== undefined) {
      gid = Number(cached);
    } else {
      const passwd = await extractFiles(store, base, ["/etc/passwd"], scratch).catch(() => undefined);
      const text = passwd === undefined ? "" : await readFile(passwd.get("/etc/passwd")?.file ?? "", "utf8");
      await rm(scratch, { recursive: true, force: true });
      const entry = text.split("\n").find((line) => line.split(":")[2] === String(uid));
      gid = entry === undefined ? 0 : Number(entry.split(":")[3] ?? 0);
      await writeFileAtomic(record, String(gid));
    }
  }
  return new Map([[strip(stage.workdir), { uid, gid }]]);
}

/** The entries plus the parent directories they need, which COPY creates (root, 0755; the WORKDIR its owner's). */
function withParents(entries: readonly LayerEntry[], owners: DirectoryOwners = new Map()): LayerEntry[] {
  const present = new Set(entries.map((entry) => entry.path));
  const parents = parentDirectories(
    entries.map((entry) => entry.path),
    present,
  ).map((entry) => ({ ...entry, ...(owners.get(entry.path) ?? {}) }));
  const owned = entries.map((entry) =>
    entry.type === "directory" && owners.has(entry.path) ? { ...entry, ...owners.get(entry.path) } : entry,
  );
  return [...parents, ...owned];
}
