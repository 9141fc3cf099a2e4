// The kit's images, built here from what the kit builds from source: each named by its upstream reference
// (what kubeadm and the CNI manifest ask for, so nodes find them in the kit's mirror or their own store), plus
// the operator's two base images under our own names. Written as OCI archives, one per image.
import { execFile } from "node:child_process";
import { createReadStream, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Parser, type ReadEntry, x as extractTar } from "tar";
import type { Writable } from "node:stream";

import { cacheRoot } from "../controlplane/binaries.ts";
import { goPlatform } from "../controlplane/versions.ts";
import { ImageError } from "../errors.ts";
import { pathExists, readTextIfExists } from "../files.ts";
import { writeImage, writeIndex } from "../image/image.ts";
import {
  cachedLayer,
  digestOfParts,
  tarballLayer,
  treeEntries,
  writeLayer,
  type Layer,
} from "../image/layer.ts";
import { readImageArchive, writeOciArchive } from "../image/layout.ts";
import type { Architecture, ContainerConfig, Descriptor, Platform } from "../image/oci.ts";
import { formatReference, parseReference } from "../image/reference.ts";
import type { RegistryClient } from "../image/registry.ts";
import { BlobStore } from "../image/store.ts";
import { Capability, fileCapabilities, type LayerEntry } from "../image/tar.ts";
import { runProcess } from "../process.ts";
import { kitBinary, type KitBinaryName } from "./binaries.ts";
import { ensureRootfs, rootfsDigest, type RootfsSpec } from "./rootfs.ts";
import { bareVersion, KIT_VERSIONS, kubeadmImages, type KitVersions } from "./versions.ts";

/** The Node 24 the project runs on: the npm `node` package's binary, which the runtime base carries. */
/** This module's own text: a change to how the kit's images are made is a change of their inputs. */
const IMAGES_SOURCE = readFileSync(fileURLToPath(import.meta.url), "utf8");

export const NODE_BINARY = fileURLToPath(new URL("../../node_modules/node/bin/node", import.meta.url));
/** npm for the build base (the Dockerfile's dependencies stage runs `npm ci` in it), from the npm registry. */
export const NPM_VERSION = "11.19.1";

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** distroless's nonroot user, by number (Kubernetes checks runAsNonRoot against numbers only). */
const NONROOT = 65532;

/** Debian minbase: the runtime and build bases. */
const MINIMAL_ROOTFS: RootfsSpec = { name: "image-base", variant: "minbase", packages: [] };
/** What kube-proxy and kube-router run on a node's network: iptables (nft and legacy), ipset, IPVS, conntrack, ip. */
const NETWORK_ROOTFS: RootfsSpec = {
  name: "image-network-base",
  variant: "minbase",
  packages: ["conntrack", "iproute2", "ipset", "iptables", "ipvsadm", "nftables"],
};

/** The images' own names for the operator's bases: ours, not pretending to be distroless or node. */
export function operatorBaseImages(versions: KitVersions = KIT_VERSIONS): { runtime: string; build: string } {
  const node = nodeVersion();
  return {
    runtime: `localhost/kubelab/node-runtime:${node}-${versions.debian}`,
    build: `localhost/kubelab/node-build:${node}-${versions.debian}`,
  };
}

/** The kube-router image the CNI manifest names. */
export function kubeRouterImage(versions: KitVersions = KIT_VERSIONS): string {
  return `docker.io/cloudnativelabs/kube-router:${versions.kubeRouter}`;
}

/** One image of the kit: its reference, what it is built from, and how. */
export interface Recipe {
  readonly reference: string;
  /** For the README and the report: the sources, never a stand-in. */
  readonly builtFrom: string;
  /** "scratch": no base; "static": our passwd/group/tmp layer; a rootfs: a debootstrap Debian. */
  readonly base: "scratch" | "static" | RootfsSpec;
  readonly layers: (inputs: Inputs) => Promise<{ entries: LayerEntry[]; createdBy: string }[]>;
  readonly config: ContainerConfig;
}

interface Inputs {
  readonly arch: Architecture;
  readonly binary: (name: KitBinaryName) => Promise<string>;
  readonly work: string;
  /** The rootfs's /etc/passwd and /etc/group with the nonroot user added (for the Debian-based images). */
  readonly usersOf: (spec: RootfsSpec) => Promise<LayerEntry[]>;
  readonly runLog: string;
  readonly signal: AbortSignal;
}

const file = (path: string, source: string, mode = 0o755, extra: Partial<LayerEntry> = {}): LayerEntry =>
  ({ type: "file", path, content: { fromFile: source }, mode, ...extra }) as LayerEntry;

function goBinaries(names: readonly KitBinaryName[], at = "usr/local/bin") {
  return async (inputs: Inputs) => [
    {
      entries: [
        ...directories(at),
        ...(await Promise.all(names.map(async (name) => file(`${at}/${name}`, await inputs.binary(name))))),
      ],
      createdBy: `COPY ${names.join(" ")} /${at}/ # built from source by the kit`,
    },
  ];
}

/** Every image of the kit, in a stable order: kubeadm's list, the CNI, the operator's bases. */
export function kitImageRecipes(versions: KitVersions = KIT_VERSIONS): Recipe[] {
  const [apiserver, controllerManager, scheduler, proxy, coredns, pause, etcd] = kubeadmImages(versions) as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const k8s = `k8s.io/kubernetes ${versions.kubernetes}`;
  const controlPlane = (reference: string, name: KitBinaryName): Recipe => ({
    reference,
    builtFrom: `${name} of ${k8s} (static Go binary) on our static base (passwd, group, /tmp)`,
    base: "static",
    layers: goBinaries([name]),
    config: { Env: [PATH_ENV], Entrypoint: [`/usr/local/bin/${name}`] },
  });
  const base = operatorBaseImages(versions);
  return [
    controlPlane(apiserver, "kube-apiserver"),
    controlPlane(controllerManager, "kube-controller-manager"),
    controlPlane(scheduler, "kube-scheduler"),
    {
      reference: proxy,
      builtFrom: `kube-proxy of ${k8s} on Debian ${versions.debian} minbase with ${NETWORK_ROOTFS.packages.join(", ")}`,
      base: NETWORK_ROOTFS,
      layers: goBinaries(["kube-proxy"]),
      config: { Env: [PATH_ENV], Entrypoint: ["/usr/local/bin/kube-proxy"] },
    },
    {
      reference: coredns,
      builtFrom: `github.com/coredns/coredns ${versions.coredns} with cap_net_bind_service as a file capability, on our static base`,
      base: "static",
      layers: async (inputs) => [
        {
          entries: [
            file("coredns", await inputs.binary("coredns"), 0o755, {
              xattrs: { "security.capability": fileCapabilities([Capability.netBindService]) },
            }),
          ],
          createdBy: "COPY coredns /coredns # setcap cap_net_bind_service=+ep",
        },
      ],
      config: {
        Env: [PATH_ENV],
        User: `${NONROOT}:${NONROOT}`,
        WorkingDir: "/",
        ExposedPorts: { "53/tcp": {}, "53/udp": {} },
        Entrypoint: ["/coredns"],
      },
    },
    {
      reference: pause,
      builtFrom: `build/pause/linux/pause.c of ${k8s}, gcc -static -DVERSION=v${versions.pause}`,
      base: "scratch",
      layers: async (inputs) => [
        {
          entries: [file("pause", await buildPause(versions, inputs))],
          createdBy: "ADD pause /pause # gcc -static",
        },
      ],
      config: { User: "65535:65535", Entrypoint: ["/pause"] },
    },
    {
      reference: etcd,
      builtFrom: `go.etcd.io/etcd ${versions.etcd}: etcd, etcdctl, etcdutl (static Go binaries) on our static base`,
      base: "static",
      layers: goBinaries(["etcd", "etcdctl", "etcdutl"]),
      config: { Env: [PATH_ENV], Cmd: ["/usr/local/bin/etcd"] },
    },
    {
      reference: kubeRouterImage(versions),
      builtFrom:
        `github.com/cloudnativelabs/kube-router/v2 ${versions.kubeRouter} on Debian ${versions.debian} minbase with ` +
        `${NETWORK_ROOTFS.packages.join(", ")} (upstream's Alpine image has the same tools; gobgp is left out)`,
      base: NETWORK_ROOTFS,
      layers: async (inputs) => [
        ...(await goBinaries(["kube-router"])(inputs)),
        { entries: directories("var/lib/gobgp"), createdBy: "RUN mkdir -p /var/lib/gobgp" },
      ],
      config: { Env: [PATH_ENV], WorkingDir: "/root", Entrypoint: ["/usr/local/bin/kube-router"] },
    },
    {
      reference: base.runtime,
      builtFrom: `Debian ${versions.debian} minbase + Node ${nodeVersion()} (the npm node package's binary) at /nodejs/bin/node, user ${NONROOT}`,
      base: MINIMAL_ROOTFS,
      layers: async (inputs) => [
        { entries: await inputs.usersOf(MINIMAL_ROOTFS), createdBy: `RUN useradd nonroot (${NONROOT})` },
        {
          entries: [...directories("nodejs/bin"), file("nodejs/bin/node", NODE_BINARY)],
          createdBy: "COPY node /nodejs/bin/node",
        },
      ],
      config: {
        Env: [PATH_ENV],
        User: `${NONROOT}`,
        WorkingDir: "/home/nonroot",
        Entrypoint: ["/nodejs/bin/node"],
      },
    },
    {
      reference: base.build,
      builtFrom: `Debian ${versions.debian} minbase + Node ${nodeVersion()} (the npm node package's binary) + npm ${NPM_VERSION} (npm registry)`,
      base: MINIMAL_ROOTFS,
      layers: async (inputs) => [
        {
          entries: [...directories("usr/local/bin"), file("usr/local/bin/node", NODE_BINARY)],
          createdBy: "COPY node /usr/local/bin/node",
        },
        {
          entries: await npmEntries(inputs),
          createdBy: `npm pack npm@${NPM_VERSION} into /usr/local/lib/node_modules/npm`,
        },
      ],
      config: { Env: [PATH_ENV], Cmd: ["node"] },
    },
  ];
}

export interface KitImage {
  readonly reference: string;
  readonly archive: string;
  /** The digest the archive names the image by (a manifest, or an index over several platforms). */
  readonly digest: string;
  /** Compressed layer bytes of the first platform: what a node stores. */
  readonly sizeBytes: number;
  readonly builtFrom: string;
  readonly seconds: number;
  /** The archive was there already, for the same image digest: nothing was written. */
  readonly cached: boolean;
}

export interface BuildKitImagesOptions {
  /** The kit's images/ directory (kitPaths().images). */
  readonly outDir: string;
  /** Blobs by digest, shared by every kit (default ~/.cache/kubelab/kit/image-store). */
  readonly storeDir?: string;
  /** GOARCHs to build for; this machine's by default. A foreign one needs its rootfs (qemu) and cross-builds. */
  readonly architectures?: readonly Architecture[];
  readonly env?: NodeJS.ProcessEnv;
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Only these references (default all). */
  readonly only?: readonly string[];
}

/**
 * Builds every image of the kit that the store does not hold yet and writes `outDir/<name>.tar` for each.
 * Same inputs, same layers and digests: a second run gzips nothing again (layers are cached by input).
 */
export async function buildKitImages(options: BuildKitImagesOptions): Promise<KitImage[]> {
  const env = options.env ?? process.env;
  const signal = options.signal ?? new AbortController().signal;
  const progress = options.progress ?? (() => {});
  const store = new BlobStore(options.storeDir ?? join(cacheRoot(env), "kit", "image-store"));
  const architectures = options.architectures ?? [goPlatform().arch as Architecture];
  await mkdir(options.outDir, { recursive: true });
  const work = await mkdtemp(join(store.root, "..", "image-work-"));
  const runLog = join(options.outDir, "..", "logs", "images.log");
  await mkdir(dirname(runLog), { recursive: true });
  const results: KitImage[] = [];
  try {
    const recipes = kitImageRecipes().filter(
      (recipe) => options.only === undefined || options.only.includes(recipe.reference),
    );
    for (const recipe of recipes) {
      const started = Date.now();
      const archive = join(options.outDir, `${archiveName(recipe.reference)}.tar`);
      // Input-addressed: the recipe (versions, bases' rootfs digests), the architectures and this file's own
      // code. The same inputs and an archive recorded for them: nothing is read, hashed or written.
      const inputs = digestOfParts([
        "kit-image-inputs",
        IMAGES_SOURCE,
        JSON.stringify(KIT_VERSIONS),
        JSON.stringify(recipe),
        typeof recipe.base === "string" ? recipe.base : rootfsDigest(recipe.base),
        architectures.join(","),
      ]);
      const inputsFile = join(options.outDir, `${archiveName(recipe.reference)}.inputs`);
      const recordedDigest = (
        await readTextIfExists(join(options.outDir, `${archiveName(recipe.reference)}.digest`))
      )?.trim();
      if (
        recordedDigest !== undefined &&
        (await readTextIfExists(inputsFile))?.trim() === inputs &&
        (await pathExists(archive))
      ) {
        results.push({
          reference: recipe.reference,
          archive,
          digest: recordedDigest,
          sizeBytes: (await stat(archive)).size,
          builtFrom: recipe.builtFrom,
          seconds: (Date.now() - started) / 1000,
          cached: true,
        });
        continue;
      }
      const manifests: Descriptor[] = [];
      let sizeBytes = 0;
      for (const arch of architectures) {
        const platform: Platform = { os: "linux", architecture: arch };
        const rootfsOf = async (spec: RootfsSpec) =>
          (await ensureRootfs({ ...spec, arch }, { env, progress, signal })).tarball;
        const inputs: Inputs = {
          arch,
          binary: (name) => kitBinary(name, { arch, env, progress, signal }),
          work,
          usersOf: async (spec) => usersLayer(await rootfsOf(spec)),
          runLog,
          signal,
        };
        const baseLayers: { layer: Layer; createdBy: string }[] = [];
        if (recipe.base === "static") {
          baseLayers.push({
            layer: await writeLayer(store, staticBaseEntries()),
            createdBy: "kubelab static base: passwd, group, /tmp",
          });
        } else if (recipe.base !== "scratch") {
          const tarball = await rootfsOf(recipe.base);
          baseLayers.push({
            layer: await tarballLayer(store, tarball),
            createdBy: `debootstrap --variant=${recipe.base.variant} ${KIT_VERSIONS.debian}`,
          });
        }
        const own = await recipe.layers(inputs);
        const layers = [...baseLayers];
        for (const { entries, createdBy } of own) {
          const key = digestOfParts(["kit-layer", createdBy, JSON.stringify(await fingerprint(entries))]);
          layers.push({ layer: await cachedLayer(store, key, () => writeLayer(store, entries)), createdBy });
        }
        const manifest = await writeImage(store, { platform, layers, config: recipe.config });
        if (manifests.length === 0)
          sizeBytes = layers.reduce((sum, { layer }) => sum + layer.descriptor.size, 0);
        manifests.push(manifest);
      }
      const descriptor =
        manifests.length === 1 ? (manifests[0] as Descriptor) : await writeIndex(store, manifests);
      // The archive is written again only when the image changed: its digest is recorded beside it.
      const recorded = join(options.outDir, `${archiveName(recipe.reference)}.digest`);
      const cached =
        (await readTextIfExists(recorded))?.trim() === descriptor.digest && (await pathExists(archive));
      if (!cached) {
        await rm(recorded, { force: true });
        await writeOciArchive(archive, store, [{ reference: recipe.reference, descriptor }]);
        await writeFile(recorded, `${descriptor.digest}\n`);
      }
      await writeFile(inputsFile, `${inputs}\n`);
      const image = {
        cached,
        reference: recipe.reference,
        archive,
        digest: descriptor.digest,
        sizeBytes,
        builtFrom: recipe.builtFrom,
        seconds: (Date.now() - started) / 1000,
      };
      progress(
        `image ${image.reference}: ${image.digest.slice(0, 19)} ${Math.round(sizeBytes / 2 ** 20)} MiB (${image.seconds.toFixed(1)}s)`,
      );
      results.push(image);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return results;
}

/** "registry.k8s.io/kube-apiserver:v1.36.5" -> "registry.k8s.io_kube-apiserver_v1.36.5". */
export function archiveName(reference: string): string {
  return reference.replace(/[/:@]/g, "_");
}

/** What a layer's entries depend on: paths, modes, owners, and each file's size and mtime (not its bytes). */
async function fingerprint(entries: readonly LayerEntry[]): Promise<unknown[]> {
  return Promise.all(
    entries.map(async (entry) => {
      if (entry.type !== "file" || entry.content instanceof Uint8Array) {
        return {
          ...entry,
          content: entry.type === "file" ? digestOfParts([entry.content as Uint8Array]) : undefined,
        };
      }
      const info = await stat(entry.content.fromFile);
      return {
        ...entry,
        size: info.size,
        mtime: info.mtimeMs,
        xattrs: entry.xattrs === undefined ? undefined : Object.keys(entry.xattrs),
      };
    }),
  );
}

/** Our "static" base, the part of distroless/static the control plane needs: users, groups, a /tmp. */
function staticBaseEntries(): LayerEntry[] {
  const text = (path: string, content: string): LayerEntry => ({
    type: "file",
    path,
    content: Buffer.from(content),
    mode: 0o644,
  });
  return [
    { type: "directory", path: "etc" },
    text(
      "etc/passwd",
      `root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`,
    ),
    text("etc/group", `root:x:0:\nnobody:x:65534:\nnonroot:x:${NONROOT}:\n`),
    text("etc/nsswitch.conf", "hosts: files dns\n"),
    { type: "directory", path: "home" },
    { type: "directory", path: "home/nonroot", mode: 0o700, uid: NONROOT, gid: NONROOT },
    { type: "directory", path: "root", mode: 0o700 },
    { type: "directory", path: "tmp", mode: 0o1777 },
  ];
}

/** The rootfs's /etc/passwd and /etc/group with distroless's nonroot user and group appended, and its home. */
async function usersLayer(tarball: string): Promise<LayerEntry[]> {
  const files = await readTarFiles(tarball, ["etc/passwd", "etc/group"]);
  const passwd = files.get("etc/passwd");
  const group = files.get("etc/group");
  if (passwd === undefined || group === undefined)
    throw new ImageError(`${tarball} has no /etc/passwd or /etc/group`);
  return [
    { type: "directory", path: "etc" },
    {
      type: "file",
      path: "etc/passwd",
      content: Buffer.from(
        `${passwd.toString("utf8")}nonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/usr/sbin/nologin\n`,
      ),
      mode: 0o644,
    },
    {
      type: "file",
      path: "etc/group",
      content: Buffer.from(`${group.toString("utf8")}nonroot:x:${NONROOT}:\n`),
      mode: 0o644,
    },
    { type: "directory", path: "home" },
    { type: "directory", path: "home/nonroot", mode: 0o700, uid: NONROOT, gid: NONROOT },
  ];
}

async function readTarFiles(tarball: string, paths: readonly string[]): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const path = entry.path.replace(/^\.\//, "");
      if (!paths.includes(path) || entry.type !== "File") {
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on("data", (chunk: Buffer) => chunks.push(chunk));
      entry.on("end", () => found.set(path, Buffer.concat(chunks)));
    },
  });
  await pipeline(createReadStream(tarball), parser as unknown as Writable);
  return found;
}

/** The pause binary: upstream's pause.c from the k8s.io/kubernetes module, compiled static as its Makefile does. */
async function buildPause(versions: KitVersions, inputs: Inputs): Promise<string> {
  if (inputs.arch !== goPlatform().arch)
    throw new ImageError(`pause for ${inputs.arch} needs a cross gcc, which the kit does not set up`);
  const { stdout } = await promisify(execFile)(
    "go",
    ["mod", "download", "-json", `k8s.io/kubernetes@${versions.kubernetes}`],
    {
      cwd: inputs.work,
      env: { ...process.env, GOFLAGS: "-mod=mod" },
    },
  );
  const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (moduleDir === undefined)
    throw new ImageError(`go mod download did not give the k8s.io/kubernetes ${versions.kubernetes} source`);
  const output = join(inputs.work, `pause-${inputs.arch}`);
  await runProcess(
    "gcc",
    [
      "-Os",
      "-Wall",
      "-Werror",
      "-static",
      `-DVERSION=v${versions.pause}`,
      "-o",
      output,
      join(moduleDir, "build", "pause", "linux", "pause.c"),
    ],
    {
      timeoutMs: 120_000,
      signal: inputs.signal,
      logFile: inputs.runLog,
      missingToolHint: "install gcc (apt-get install gcc): the kit compiles pause.c",
      label: "gcc pause.c",
    },
  );
  return output;
}

/** npm's own package (it bundles its dependencies) unpacked at /usr/local/lib/node_modules/npm, with its bin links. */
async function npmEntries(inputs: Inputs): Promise<LayerEntry[]> {
  const dir = join(inputs.work, `npm-${NPM_VERSION}`);
  await mkdir(dir, { recursive: true });
  const { stdout } = await runProcess("npm", ["pack", `npm@${NPM_VERSION}`, "--silent"], {
    cwd: dir,
    timeoutMs: 5 * 60_000,
    signal: inputs.signal,
    logFile: inputs.runLog,
    label: `npm pack npm@${NPM_VERSION}`,
  });
  const tgz = join(dir, stdout.trim().split("\n").pop() ?? "");
  await mkdir(join(dir, "unpacked"), { recursive: true });
  await extractTar({ file: tgz, cwd: join(dir, "unpacked") });
  const version = JSON.parse(await readFile(join(dir, "unpacked", "package", "package.json"), "utf8")) as {
    version: string;
  };
  if (version.version !== NPM_VERSION)
    throw new ImageError(`npm pack gave npm ${version.version}, not ${NPM_VERSION}`);
  return uniqueEntries([
    ...directories("usr/local/lib/node_modules"),
    ...(await treeEntries(join(dir, "unpacked", "package"), { at: "usr/local/lib/node_modules/npm" })),
    ...directories("usr/local/bin"),
    { type: "symlink", path: "usr/local/bin/npm", target: "../lib/node_modules/npm/bin/npm-cli.js" },
    { type: "symlink", path: "usr/local/bin/npx", target: "../lib/node_modules/npm/bin/npx-cli.js" },
  ]);
}

/** The directory entries of `path` and its parents, root 0755. */
function directories(path: string): LayerEntry[] {
  const parts = path.split("/");
  return parts.map((_, index) => ({ type: "directory", path: parts.slice(0, index + 1).join("/") }));
}

/** The version of the project's Node binary, from the npm `node` package (what NODE_BINARY is). */
function nodeVersion(): string {
  const packageJson = fileURLToPath(new URL("../../node_modules/node/package.json", import.meta.url));
  return bareVersion((JSON.parse(readFileSync(packageJson, "utf8")) as { version: string }).version);
}

/** Entries with each path once (the first wins): layers built from several lists share parent directories. */
function uniqueEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const seen = new Set<string>();
  return entries.filter((entry) => !seen.has(entry.path) && seen.add(entry.path) !== undefined);
}

/**
 * Pushes the kit's images to a registry serving as the lab's mirror: each under its upstream repository and
 * tag (registry.k8s.io/etcd:3.6.8-0 -> MIRROR/etcd:3.6.8-0), which is the path containerd asks a mirror for
 * when hosts.toml names it for the upstream registry. `client` must have push credentials if the mirror
 * asks for them; `mirror` is the registry's name as the client's endpoints know it ("10.89.0.1:5000").
 */
export async function pushToMirror(
  images: readonly Pick<KitImage, "reference" | "archive">[],
  mirror: string,
  client: RegistryClient,
  storeDir: string,
): Promise<string[]> {
  const store = new BlobStore(storeDir);
  const pushed: string[] = [];
  for (const image of images) {
    const named = (await readImageArchive(image.archive, store)).find(
      (candidate) => candidate.reference === image.reference,
    );
    if (named === undefined) throw new ImageError(`${image.archive} does not hold ${image.reference}`);
    const upstream = parseReference(image.reference);
    const target = formatReference({ ...upstream, registry: mirror, digest: undefined });
    await client.push(store, named.descriptor, target);
    pushed.push(target);
  }
  return pushed;
}
