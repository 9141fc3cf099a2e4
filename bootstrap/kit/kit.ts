// The offline kit: builds (or finds) the kit's binaries and its signed apt repository under one cache directory.
//
// Layout of `~/.cache/kubelab/kit/<kit digest>/` (the digest covers the version table, the Debian revision
// and the architecture, so another version set or architecture is another directory):
//
//   kit.json                       what this kit holds: versions, architecture, the repository's URL path
//   logs/<piece>.log               one log per piece (dpkg-deb, gpg); Go build logs sit beside their cache
//   keys/gnupg/                    the kit's private signing key (GNUPGHOME, mode 0700); never served
//   apt/                           the HTTP root of the package server
//     core:/stable:/v1.36/deb/     a flat repository as pkgs.k8s.io serves it: `deb [signed-by=K] URL /`
//       Release Release.gpg InRelease Packages Packages.gz Release.key
//       amd64/*.deb                kubeadm, kubelet, kubectl 1.36.5-1.1; cri-tools 1.36.0-1.1; kubernetes-cni 1.9.1-1.1
//   bin/linux-<arch>/              hard links to every binary kitBinary gives (kubelet, crictl, coredns, CNI plugins...)
//   images/*.tar                   OCI archives of the cluster's images (bootstrap/kit/images.ts), each
//                                  annotated with its upstream reference
//
// The Go builds themselves are cached per wrapper module under `~/.cache/kubelab/kit/bin/<module>-<version>/`
// and root filesystems under `~/.cache/kubelab/kit/rootfs/<digest>/`, shared by every kit that uses them.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { access, link, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import { cacheRoot, ensureBinaries } from "../controlplane/binaries.ts";
import { acquireFileLock } from "../controlplane/filelock.ts";
import { goPlatform } from "../controlplane/versions.ts";
import { runProcess } from "../process.ts";
import {
  CNI_PLUGIN_NAMES,
  ensureKitModule,
  kitBinary,
  type KitBinaryOptions,
  SHARED_BINARY_NAMES,
} from "./binaries.ts";
import { buildDeb, controlFile, debFileName, type DebPackage, kubernetesPackages } from "./debs.ts";
import { ensureSigningKey, indexDeb, repositoryPath, writeRepository } from "./repo.ts";
import { ensureRootfs } from "./rootfs.ts";
import type { Architecture } from "../image/oci.ts";
import { nodeRootfsSpec } from "../providers/podman/node-image.ts";
import { archiveName, buildKitImages, kitImageRecipes } from "./images.ts";
import { KIT_SERVER_ROOTFS } from "./serve.ts";
import { DEB_REVISION, debianArchitecture, KIT_MODULES, KIT_VERSIONS, type KitModule } from "./versions.ts";

/** Bump when the layout or the way a piece is made changes, so an old kit directory is not taken for a new one. */
const KIT_SCHEMA = 1;

/** The directories of one kit. */
export interface KitPaths {
  readonly root: string;
  readonly logs: string;
  readonly gnupgHome: string;
  /** HTTP root of the package server. */
  readonly apt: string;
  /** `core:/stable:/v1.36/deb/`: the repository's path under apt/ (and in its URL). */
  readonly repositoryPath: string;
  readonly repository: string;
  readonly bin: string;
  readonly images: string;
}

/** The kit's cache key: the version table, the Debian revision, the architecture and the layout schema. */
export function kitDigest(arch: string): string {
  const inputs = { schema: KIT_SCHEMA, versions: KIT_VERSIONS, debRevision: DEB_REVISION, arch };
  return createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
}

export function kitPaths(env: NodeJS.ProcessEnv = process.env, arch: string = goPlatform().arch): KitPaths {
  const root = join(cacheRoot(env), "kit", kitDigest(arch));
  const minor = /^v(\d+\.\d+)\./.exec(KIT_VERSIONS.kubernetes)?.[1] ?? "";
  const path = repositoryPath(minor);
  return {
    root,
    logs: join(root, "logs"),
    gnupgHome: join(root, "keys", "gnupg"),
    apt: join(root, "apt"),
    repositoryPath: path,
    repository: join(root, "apt", path),
    bin: join(root, "bin", `linux-${arch}`),
    images: join(root, "images"),
  };
}

/** How one piece of the kit was obtained. */
export interface KitPiece {
  readonly name: string;
  readonly source: "cache" | "built" | "downloaded" | "KUBEBUILDER_ASSETS";
  readonly seconds: number;
  readonly detail: string;
}

export interface BuildKitOptions {
  readonly arch?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Live lines of long steps (Go build counters); pieces are reported through onPiece. */
  readonly progress?: (line: string) => void;
  /** Called once per finished piece, in order. */
  readonly onPiece?: (piece: KitPiece) => void;
  readonly signal?: AbortSignal;
  readonly go?: string;
}

export interface Kit {
  readonly paths: KitPaths;
  readonly arch: string;
  readonly pieces: readonly KitPiece[];
}

/**
 * Builds whatever of the kit is missing and finds the rest, idempotently: every Go module, the control
 * plane's kubeadm and kubectl, bin/, the debs and the signed repository, the kit server's rootfs. A second run verifies each
 * piece (binaries by sha256, the repository by the digest of its inputs) and builds nothing.
 */
export async function buildKit(options: BuildKitOptions = {}): Promise<Kit> {
  const arch = options.arch ?? goPlatform().arch;
  const env = options.env ?? process.env;
  const paths = kitPaths(env, arch);
  const pieces: KitPiece[] = [];
  const binaryOptions: KitBinaryOptions = {
    arch,
    env,
    progress: options.progress,
    signal: options.signal,
    go: options.go,
  };
  const piece = async (
    name: string,
    make: () => Promise<Omit<KitPiece, "name" | "seconds">>,
  ): Promise<void> => {
    const started = Date.now();
    const made = await make();
    const done = { name, ...made, seconds: (Date.now() - started) / 1000 };
    pieces.push(done);
    options.onPiece?.(done);
  };

  await mkdir(paths.logs, { recursive: true });
  const lock = await acquireFileLock(join(paths.root, "kit.lock"), {
    signal: options.signal,
    onWait: (holder) => options.progress?.(`waiting for another kubelab run (${holder}) to finish the kit`),
  });
  try {
    const binaries: Record<string, string> = {};
    for (const module of Object.keys(KIT_MODULES) as KitModule[]) {
      await piece(`${module} ${KIT_MODULES[module].version}`, async () => {
        const build = await ensureKitModule(module, binaryOptions);
        for (const name of build.files) binaries[name] = join(build.dir, name);
        return { source: build.source, detail: `${build.files.join(" ")} in ${build.dir}` };
      });
    }
    await piece(`control-plane binaries ${KIT_VERSIONS.kubernetes}`, async () => {
      const host = goPlatform();
      if (arch === host.arch && host.os === "linux") {
        // This machine's architecture: the control plane's own set (sim and the tests run the same builds).
        const set = await ensureBinaries({
          env,
          progress: options.progress,
          signal: options.signal,
          go: options.go,
        });
        for (const name of SHARED_BINARY_NAMES) binaries[name] = set.path(name);
        return { source: set.source, detail: `${SHARED_BINARY_NAMES.join(" ")} in ${set.dir}` };
      }
      for (const name of SHARED_BINARY_NAMES) binaries[name] = await kitBinary(name, binaryOptions);
      return { source: "built", detail: `${SHARED_BINARY_NAMES.join(" ")} cross-built for ${arch}` };
    });
    await piece("bin/", async () => {
      const linked = await linkBinaries(paths.bin, binaries);
      return {
        source: linked === 0 ? "cache" : "built",
        detail: `${Object.keys(binaries).length} binaries in ${paths.bin}`,
      };
    });
    await piece(`apt repository ${paths.repositoryPath}`, async () => {
      const packages = kubernetesPackages(
        {
          kubeadm: binaries.kubeadm!,
          kubelet: binaries.kubelet!,
          kubectl: binaries.kubectl!,
          crictl: binaries.crictl!,
          cniPlugins: Object.fromEntries(CNI_PLUGIN_NAMES.map((name) => [name, binaries[name]!])),
        },
        arch,
      );
      const made = await ensureRepository(paths, packages, arch, options.signal);
      return { source: made, detail: `${packages.length} packages in ${paths.repository}` };
    });
    await piece("kit server rootfs", async () => {
      // Made now, while Debian's mirror is reachable, so serving the kit later needs no network.
      const rootfs = await ensureRootfs(KIT_SERVER_ROOTFS, {
        env,
        progress: options.progress,
        signal: options.signal,
      });
      return {
        source: rootfs.source,
        detail: `${Math.round(rootfs.sizeBytes / 2 ** 20)} MiB ${rootfs.tarball}`,
      };
    });
    await piece("podman node rootfs", async () => {
      // The podman provider's node image is this rootfs plus its entrypoint: made here too, so `up` is offline.
      const rootfs = await ensureRootfs(nodeRootfsSpec(), {
        env,
        progress: options.progress,
        signal: options.signal,
      });
      return {
        source: rootfs.source,
        detail: `${Math.round(rootfs.sizeBytes / 2 ** 20)} MiB ${rootfs.tarball}`,
      };
    });
    await piece("images", async () => {
      const images = await buildKitImages({
        outDir: paths.images,
        architectures: [arch as Architecture],
        env,
        progress: options.progress,
        signal: options.signal,
      });
      const built = images.filter((image) => !image.cached);
      return {
        source: built.length === 0 ? "cache" : "built",
        detail: `${images.length} images in ${paths.images} (${images.map((image) => image.reference).join(", ")})`,
      };
    });
    await writeFile(
      join(paths.root, "kit.json"),
      `${JSON.stringify(
        {
          schema: KIT_SCHEMA,
          versions: KIT_VERSIONS,
          debRevision: DEB_REVISION,
          arch,
          debianArchitecture: debianArchitecture(arch),
          repositoryPath: paths.repositoryPath,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await lock.release();
  }
  return { paths, arch, pieces };
}

/**
 * What a finished kit is missing (empty when it is complete): its record (kit.json, written last by buildKit)
 * and an image archive per image of the kit. Cheap: file checks only, for preflights.
 */
export async function missingFromKit(paths: KitPaths = kitPaths()): Promise<string[]> {
  const wanted = [
    join(paths.root, "kit.json"),
    ...kitImageRecipes().map((recipe) => join(paths.images, `${archiveName(recipe.reference)}.tar`)),
  ];
  const missing: string[] = [];
  for (const path of wanted) {
    if (
      !(await access(path).then(
        () => true,
        () => false,
      ))
    )
      missing.push(path);
  }
  return missing;
}

/** Hard-links every binary into `dir` (same filesystem: the cache); returns how many links were made. */
async function linkBinaries(dir: string, binaries: Readonly<Record<string, string>>): Promise<number> {
  await mkdir(dir, { recursive: true });
  let made = 0;
  for (const [name, source] of Object.entries(binaries)) {
    const target = join(dir, name);
    if ((await sameFile(source, target)) === true) continue;
    const temporary = `${target}.tmp-${process.pid}`;
    await rm(temporary, { force: true });
    await link(source, temporary);
    await rename(temporary, target);
    made++;
  }
  return made;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([stat(a), stat(b)]);
    return x.ino === y.ino && x.dev === y.dev;
  } catch {
    return false;
  }
}

/**
 * The signed repository for `packages`, rebuilt only when its inputs changed: the digest of every control
 * text, every file's text and every binary's sha256 (read from the manifest its cache recorded, so the warm
 * path hashes nothing large) is kept in `kit-inputs.sha256` beside the indexes, written last.
 */
async function ensureRepository(
  paths: KitPaths,
  packages: readonly DebPackage[],
  arch: string,
  signal: AbortSignal | undefined,
): Promise<"cache" | "built"> {
  const inputs = await repositoryInputsDigest(packages);
  const stamp = join(paths.repository, "kit-inputs.sha256");
  const expected = [
    "Release",
    "Release.gpg",
    "InRelease",
    "Release.key",
    "Packages",
    "Packages.gz",
    ...packages.map((pkg) => join(pkg.architecture, debFileName(pkg))),
  ];
  const current = await readFile(stamp, "utf8").catch(() => "");
  if (current.trim() === inputs && (await allExist(paths.repository, expected))) return "cache";

  const logPath = join(paths.logs, "apt-repository.log");
  const abort = signal ?? new AbortController().signal;
  await rm(paths.repository, { recursive: true, force: true });
  const debDir = join(paths.repository, debianArchitecture(arch));
  await mkdir(debDir, { recursive: true });
  const epoch = Math.floor(Date.now() / 1000);
  const indexed = [];
  for (const pkg of packages) {
    const deb = await buildDeb(pkg, { outDir: debDir, logPath, signal: abort, sourceDateEpoch: epoch });
    // The control text as the package holds it (Installed-Size computed at build time).
    const control = await runProcess("dpkg-deb", ["--field", deb], {
      timeoutMs: 60_000,
      signal: abort,
      logFile: logPath,
      label: `dpkg-deb --field ${basename(deb)}`,
    });
    indexed.push(await indexDeb(paths.repository, join(pkg.architecture, basename(deb)), control.stdout));
  }
  const key = await ensureSigningKey(paths.gnupgHome, { logPath, signal: abort });
  await writeRepository({
    dir: paths.repository,
    debs: indexed,
    architectures: [debianArchitecture(arch)],
    key,
    date: new Date(),
    logPath,
    signal: abort,
  });
  await writeFile(stamp, `${inputs}\n`);
  return "built";
}

async function repositoryInputsDigest(packages: readonly DebPackage[]): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`schema ${KIT_SCHEMA}\n`);
  for (const pkg of packages) {
    hash.update(controlFile(pkg, 0));
    hash.update(JSON.stringify({ conffiles: pkg.conffiles, postinst: pkg.postinst, prerm: pkg.prerm }));
    for (const file of pkg.files) {
      const content = file.source === undefined ? (file.text ?? "") : await recordedSha256(file.source);
      hash.update(JSON.stringify({ path: file.path, mode: file.mode, content }));
    }
  }
  return hash.digest("hex");
}

/** A cached binary's sha256 from its set's manifest.json; hashed here when there is none (KUBEBUILDER_ASSETS). */
async function recordedSha256(path: string): Promise<string> {
  try {
    const manifest = JSON.parse(await readFile(join(dirname(path), "manifest.json"), "utf8")) as {
      files?: Record<string, { sha256?: string }>;
    };
    const recorded = manifest.files?.[basename(path)]?.sha256;
    if (recorded !== undefined) return recorded;
  } catch {
    // no manifest: hash the file below
  }
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function allExist(dir: string, names: readonly string[]): Promise<boolean> {
  try {
    await Promise.all(names.map((name) => access(join(dir, name))));
    return true;
  } catch {
    return false;
  }
}
