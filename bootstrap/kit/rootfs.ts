// Debian root filesystems made with debootstrap, cached by the content of their inputs as tarballs `podman import` takes.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

import { cacheRoot } from "../controlplane/binaries.ts";
import { acquireFileLock } from "../controlplane/filelock.ts";
import { goPlatform } from "../controlplane/versions.ts";
import { runProcess } from "../process.ts";
import { debianArchitecture, KIT_VERSIONS } from "./versions.ts";

/** Debian's mirror (the only package host this machine reaches besides the Go and npm registries). */
export const DEBIAN_MIRROR = "http://deb.debian.org/debian";

/** A file written into the rootfs after debootstrap, before the post-step. */
export interface RootfsFile {
  /** Absolute path inside the rootfs. */
  readonly path: string;
  readonly mode: number;
  readonly text: string;
}

/** Everything a rootfs is made from: its digest names the cache entry, so equal specs share one build. */
export interface RootfsSpec {
  /** A short name for logs and progress ("node", "kit-server", "iptables-base"). */
  readonly name: string;
  /** debootstrap --variant: `minbase` (essential packages and apt) is the small one. */
  readonly variant: "minbase" | "buildd" | "fakechroot" | "default";
  /** Packages added with --include (their dependencies come along). */
  readonly packages: readonly string[];
  readonly files?: readonly RootfsFile[];
  /**
   * A shell script run with `chroot <rootfs> /bin/sh -e` after the files are written (no network inside:
   * install packages through `packages`, not here). For users, links, cleanup.
   */
  readonly postStep?: string;
  /** Debian suite; the kit's pinned release by default. */
  readonly suite?: string;
  /** GOARCH; this machine's by default. A foreign one needs qemu-user-static and binfmt (not set up here). */
  readonly arch?: string;
  readonly mirror?: string;
}

export interface Rootfs {
  /** `<cache>/kit/rootfs/<digest>/rootfs.tar`: a tarball of `/` that `podman import` takes. */
  readonly tarball: string;
  /** sha256 of the normalized spec (the cache key); also a fine image tag. */
  readonly digest: string;
  readonly source: "cache" | "built";
  readonly sizeBytes: number;
}

export interface EnsureRootfsOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** debootstrap downloads a few hundred packages; generous by default. */
  readonly timeoutMs?: number;
}

/**
 * Schema of the cache entry: bump when the way a rootfs is made changes (what is cleaned, how it is
 * tarred), so old entries are not taken for new ones.
 */
const ROOTFS_SCHEMA = 2;

/** The cache key of a spec: every input, packages sorted and deduplicated (their order changes nothing). */
export function rootfsDigest(spec: RootfsSpec): string {
  const normalized = {
    schema: ROOTFS_SCHEMA,
    variant: spec.variant,
    packages: [...new Set(spec.packages)].sort(),
    files: [...(spec.files ?? [])].sort((a, b) => a.path.localeCompare(b.path)),
    postStep: spec.postStep ?? "",
    suite: spec.suite ?? KIT_VERSIONS.debian,
    arch: spec.arch ?? goPlatform().arch,
    mirror: spec.mirror ?? DEBIAN_MIRROR,
  };
  return createHash("sha256").update(JSON.stringify(normalized)).digest("hex");
}

/** The debootstrap command line of a spec into `target` (pure, for the log and the tests). */
export function debootstrapArgs(spec: RootfsSpec, target: string): string[] {
  const packages = [...new Set(spec.packages)].sort();
  return [
    `--variant=${spec.variant}`,
    `--arch=${debianArchitecture(spec.arch ?? goPlatform().arch)}`,
    ...(packages.length === 0 ? [] : [`--include=${packages.join(",")}`]),
    spec.suite ?? KIT_VERSIONS.debian,
    target,
    spec.mirror ?? DEBIAN_MIRROR,
  ];
}

/**
 * Returns the rootfs tarball of `spec`, running debootstrap only when the cache has no complete entry for
 * its digest (an entry is complete once its manifest.json names the tarball's size and sha256, written
 * last). Builds run under a lock per digest, in a temporary directory renamed into place. The rootfs's
 * apt package cache and lists are emptied (the tarball is for images); /etc/resolv.conf and
 * /etc/hostname are left for the container runtime to provide. Needs root (debootstrap, chroot).
 */
export async function ensureRootfs(spec: RootfsSpec, options: EnsureRootfsOptions = {}): Promise<Rootfs> {
  const env = options.env ?? process.env;
  const progress = options.progress ?? (() => {});
  const digest = rootfsDigest(spec);
  const dir = join(cacheRoot(env), "kit", "rootfs", digest);
  const cached = await readEntry(dir, digest);
  if (cached !== undefined) return cached;

  await mkdir(dirname(dir), { recursive: true });
  const lock = await acquireFileLock(`${dir}.lock`, {
    signal: options.signal,
    onWait: (holder) => progress(`rootfs ${spec.name}: waiting for another kubelab run (${holder})`),
  });
  try {
    const again = await readEntry(dir, digest);
    if (again !== undefined) return again;
    const staging = await mkdtemp(`${dir}.tmp-`);
    try {
      const logPath = join(staging, "build.log");
      const target = join(staging, "root");
      const run = (file: string, args: readonly string[], label: string, timeoutMs = 10 * 60_000) =>
        runProcess(file, args, {
          timeoutMs,
          signal: options.signal ?? new AbortController().signal,
          logFile: logPath,
          label,
          ...(file === "debootstrap"
            ? {
                missingToolHint:
                  "install debootstrap (apt-get install debootstrap): the kit's root filesystems are made with it",
              }
            : {}),
        });
      const started = Date.now();
      progress(
        `rootfs ${spec.name}: debootstrap ${spec.variant} with ${spec.packages.length} packages (log: ${logPath})`,
      );
      await run(
        "debootstrap",
        debootstrapArgs(spec, target),
        `debootstrap (${spec.name})`,
        options.timeoutMs ?? 30 * 60_000,
      );
      for (const file of spec.files ?? []) {
        const path = join(target, file.path);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, file.text);
        await chmod(path, file.mode);
      }
      if (spec.postStep !== undefined) {
        const script = join(target, "kubelab-post-step.sh");
        await writeFile(script, spec.postStep);
        await run("chroot", [target, "/bin/sh", "-e", "/kubelab-post-step.sh"], `post-step (${spec.name})`);
        await rm(script);
      }
      // Image hygiene: no downloaded debs or package lists, no build host's resolver or name.
      for (const path of ["var/cache/apt/archives", "var/lib/apt/lists"]) {
        await run(
          "find",
          [
            join(target, path),
            "-mindepth",
            "1",
            "-not",
            "-name",
            "lock",
            "-not",
            "-name",
            "partial",
            "-delete",
          ],
          `clean ${path}`,
        );
      }
      for (const path of ["etc/resolv.conf", "etc/hostname"]) await rm(join(target, path), { force: true });
      const tarball = join(staging, "rootfs.tar");
      await run(
        "tar",
        [
          "--numeric-owner",
          "--xattrs",
          "--xattrs-include=*",
          "--sort=name",
          "-C",
          target,
          "-cf",
          tarball,
          ".",
        ],
        `tar (${spec.name})`,
      );
      await rm(target, { recursive: true, force: true });
      const { size } = await stat(tarball);
      const sha256 = await sha256File(tarball);
      await writeFile(
        join(staging, "manifest.json"),
        `${JSON.stringify({ schema: ROOTFS_SCHEMA, digest, spec, size, sha256, createdAt: new Date().toISOString() }, null, 2)}\n`,
      );
      await rm(dir, { recursive: true, force: true });
      await rename(staging, dir);
      progress(
        `rootfs ${spec.name}: built in ${Math.round((Date.now() - started) / 1000)}s (${Math.round(size / 2 ** 20)} MiB)`,
      );
      return { tarball: join(dir, "rootfs.tar"), digest, source: "built", sizeBytes: size };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  } finally {
    await lock.release();
  }
}

/**
 * A complete cache entry, or undefined. The tarball's size is checked, not its sha256: hashing a few hundred
 * MB on every call would make the warm path slow, and the entry is written by rename, never in place.
 */
async function readEntry(dir: string, digest: string): Promise<Rootfs | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as {
      schema: number;
      digest: string;
      size: number;
    };
    if (manifest.schema !== ROOTFS_SCHEMA || manifest.digest !== digest) return undefined;
    const tarball = join(dir, "rootfs.tar");
    if ((await stat(tarball)).size !== manifest.size) return undefined;
    return { tarball, digest, source: "cache", sizeBytes: manifest.size };
  } catch {
    return undefined;
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
