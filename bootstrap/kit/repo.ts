// A signed flat apt repository in pkgs.k8s.io's layout: debs, Packages(.gz), Release, Release.gpg, InRelease, Release.key.
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import { runProcess } from "../process.ts";

/**
 * The repository's path under the kit's apt/ root for a Kubernetes minor, as pkgs.k8s.io serves it:
 * `core:/stable:/v1.36/deb/`. A lab points `packages.repository` at `http://<kit>/<this path>`.
 */
export function repositoryPath(kubernetesMinor: string): string {
  return `core:/stable:/v${kubernetesMinor}/deb/`;
}

/** One package in the index: its control text (as in DEBIAN/control) and the .deb's place and digests. */
export interface IndexedDeb {
  readonly control: string;
  /** Path of the .deb relative to the repository directory (`amd64/kubeadm_1.36.5-1.1_amd64.deb`). */
  readonly filename: string;
  readonly size: number;
  readonly md5: string;
  readonly sha1: string;
  readonly sha256: string;
}

/** Size and the three digests apt checks, of a file's bytes. */
export function digests(bytes: Buffer): { size: number; md5: string; sha1: string; sha256: string } {
  const hex = (algorithm: string): string => createHash(algorithm).update(bytes).digest("hex");
  return { size: bytes.length, md5: hex("md5"), sha1: hex("sha1"), sha256: hex("sha256") };
}

/**
 * The Packages index: each stanza is the package's control fields with Filename, Size and digests added
 * after Architecture's block, as dpkg-scanpackages writes them; stanzas sorted by package, then filename.
 * Written here rather than with dpkg-scanpackages: the control text is already in hand, the index is a
 * pure function (unit tested), and the kit needs no dpkg-dev (Perl) on the machine.
 */
export function packagesIndex(debs: readonly IndexedDeb[]): string {
  const sorted = [...debs].sort(
    (a, b) => packageName(a).localeCompare(packageName(b)) || a.filename.localeCompare(b.filename),
  );
  return sorted
    .map((deb) => {
      const control = deb.control.endsWith("\n") ? deb.control : `${deb.control}\n`;
      const [head, description] = splitDescription(control);
      return (
        head +
        `Filename: ${deb.filename}\nSize: ${deb.size}\nMD5sum: ${deb.md5}\nSHA1: ${deb.sha1}\nSHA256: ${deb.sha256}\n` +
        description
      );
    })
    .join("\n");
}

function packageName(deb: IndexedDeb): string {
  return /^Package: (.+)$/m.exec(deb.control)?.[1] ?? "";
}

/** The control text before `Description:` and the description (with its continuation lines). */
function splitDescription(control: string): [string, string] {
  const at = control.search(/^Description:/m);
  return at < 0 ? [control, ""] : [control.slice(0, at), control.slice(at)];
}

export interface ReleaseFields {
  readonly origin: string;
  readonly label: string;
  readonly architectures: readonly string[];
  readonly date: Date;
  readonly description: string;
}

/**
 * The Release file of a flat repository (`deb [signed-by=...] URL /`): no Suite or Components (apt needs
 * neither for a flat repository), the Date apt compares with its clock, and the digests of every index.
 */
export function releaseFile(fields: ReleaseFields, indexes: Readonly<Record<string, Buffer>>): string {
  const entries = Object.entries(indexes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, bytes]) => ({ name, ...digests(bytes) }));
  const section = (title: string, pick: (entry: (typeof entries)[number]) => string): string =>
    `${title}:\n${entries.map((entry) => ` ${pick(entry)} ${String(entry.size).padStart(16)} ${entry.name}\n`).join("")}`;
  return (
    `Origin: ${fields.origin}\n` +
    `Label: ${fields.label}\n` +
    `Architectures: ${fields.architectures.join(" ")}\n` +
    `Date: ${fields.date.toUTCString().replace("GMT", "UTC")}\n` +
    `Description: ${fields.description}\n` +
    section("MD5Sum", (entry) => entry.md5) +
    section("SHA1", (entry) => entry.sha1) +
    section("SHA256", (entry) => entry.sha256)
  );
}

export interface SigningKey {
  /** The private GNUPGHOME (mode 0700) holding the kit's key; never leaves the kit directory. */
  readonly gnupgHome: string;
  readonly fingerprint: string;
}

export interface GpgOptions {
  readonly logPath: string;
  readonly signal: AbortSignal;
}

/**
 * Creates the kit's own signing key (ed25519, no passphrase, no expiry) in a fresh private GNUPGHOME, or
 * returns the one already there. A per-kit key, never a fixed key in the repository: whoever trusts the
 * kit's Release.key trusts exactly what this kit signed.
 */
export async function ensureSigningKey(gnupgHome: string, options: GpgOptions): Promise<SigningKey> {
  await mkdir(gnupgHome, { recursive: true, mode: 0o700 });
  await chmod(gnupgHome, 0o700);
  const existing = await secretKeyFingerprint(gnupgHome, options);
  if (existing !== undefined) return { gnupgHome, fingerprint: existing };
  await gpg(
    gnupgHome,
    [
      "--passphrase",
      "",
      "--quick-generate-key",
      "kubelab offline kit <kit@kubelab.invalid>",
      "ed25519",
      "sign",
      "never",
    ],
    options,
    "gpg --quick-generate-key (the kit's signing key)",
  );
  const created = await secretKeyFingerprint(gnupgHome, options);
  if (created === undefined)
    throw new Error(`gpg made no secret key in ${gnupgHome} (see ${options.logPath})`);
  return { gnupgHome, fingerprint: created };
}

async function secretKeyFingerprint(gnupgHome: string, options: GpgOptions): Promise<string | undefined> {
  const { stdout } = await gpg(
    gnupgHome,
    ["--with-colons", "--list-secret-keys"],
    options,
    "gpg --list-secret-keys",
  );
  return /^fpr:+([0-9A-F]{40}):/m.exec(stdout)?.[1];
}

/**
 * Runs gpg in batch mode on the kit's GNUPGHOME. gpg starts a gpg-agent for secret-key work; it is stopped
 * after every call (gpgconf --kill), so the kit leaves no process behind.
 */
async function gpg(
  gnupgHome: string,
  args: readonly string[],
  options: GpgOptions,
  label: string,
): Promise<{ stdout: string }> {
  const env = { GNUPGHOME: gnupgHome };
  try {
    return await runProcess("gpg", ["--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", ...args], {
      timeoutMs: 120_000,
      signal: options.signal,
      logFile: options.logPath,
      env,
      label,
      missingToolHint: "install gnupg (apt-get install gnupg): the kit signs its apt repository with gpg",
    });
  } finally {
    await runProcess("gpgconf", ["--kill", "gpg-agent"], {
      timeoutMs: 30_000,
      signal: new AbortController().signal,
      logFile: options.logPath,
      env,
      label: "gpgconf --kill gpg-agent",
    }).catch(() => undefined);
  }
}

export interface WriteRepositoryOptions extends GpgOptions {
  /** The repository directory (`<kit>/apt/core:/stable:/v1.36/deb/`), holding the debs already. */
  readonly dir: string;
  readonly debs: readonly IndexedDeb[];
  readonly architectures: readonly string[];
  readonly key: SigningKey;
  readonly date: Date;
}

/**
 * Writes the indexes and signatures of the repository in `dir`: Packages and Packages.gz, Release, its
 * detached signature Release.gpg, the inline-signed InRelease (what apt reads first) and Release.key (the
 * armored public key that install.sh fetches and dearmors into its keyring).
 */
export async function writeRepository(options: WriteRepositoryOptions): Promise<void> {
  const { dir } = options;
  const packages = Buffer.from(packagesIndex(options.debs));
  const packagesGz = gzipSync(packages, { level: 9 });
  await writeFile(join(dir, "Packages"), packages);
  await writeFile(join(dir, "Packages.gz"), packagesGz);
  const release = releaseFile(
    {
      origin: "kubelab kit",
      label: "kubelab kit",
      architectures: options.architectures,
      date: options.date,
      description: "kubeadm, kubelet, kubectl, cri-tools and kubernetes-cni built from upstream source",
    },
    { Packages: packages, "Packages.gz": packagesGz },
  );
  await writeFile(join(dir, "Release"), release);
  for (const name of ["Release.gpg", "InRelease", "Release.key"]) await rm(join(dir, name), { force: true });
  const signer = ["--local-user", options.key.fingerprint, "--digest-algo", "SHA512"];
  const gnupg = options.key.gnupgHome;
  await gpg(
    gnupg,
    [...signer, "--armor", "--detach-sign", "-o", join(dir, "Release.gpg"), join(dir, "Release")],
    options,
    "gpg --detach-sign Release",
  );
  await gpg(
    gnupg,
    [...signer, "--clearsign", "-o", join(dir, "InRelease"), join(dir, "Release")],
    options,
    "gpg --clearsign Release",
  );
  const exported = await gpg(
    gnupg,
    ["--armor", "--export", options.key.fingerprint],
    options,
    "gpg --export",
  );
  await writeFile(join(dir, "Release.key"), `${exported.stdout.trim()}\n`);
}

/** Reads a built .deb's control text and digests, for the index (dpkg-deb -f prints the control file). */
export async function indexDeb(
  repositoryDir: string,
  filename: string,
  control: string,
): Promise<IndexedDeb> {
  const bytes = await readFile(join(repositoryDir, filename));
  const { size } = await stat(join(repositoryDir, filename));
  return { control, filename, ...digests(bytes), size };
}
