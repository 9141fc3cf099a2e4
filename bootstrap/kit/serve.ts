// Serves a kit on a lab's podman network: the apt repository over HTTP and a registry mirror of the kit's images.
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { extract } from "tar";

import { CommandError } from "../errors.ts";
import { runProcess } from "../process.ts";
import { withStopRaceRetry } from "../providers/podman/objects.ts";
import { ensureRootfs, type RootfsSpec } from "./rootfs.ts";

/** The label every kubelab podman object carries: the lab's name. Stopping a lab's server goes by it. */
export const LAB_LABEL = "kubelab.dev/lab";
/** What the container is, among a lab's objects. */
export const ROLE_LABEL = "kubelab.dev/role";
const ROLE = "kit-server";

/** The registries the kit's mirror stands in for (containerd's hosts.toml names each one). */
export const KIT_MIRRORED_REGISTRIES = ["registry.k8s.io", "docker.io", "quay.io", "gcr.io"] as const;
/** The server's ports on the lab network: the apt repository and the registry mirror. */
export const KIT_APT_PORT = 80;
export const KIT_REGISTRY_PORT = 5000;
const APT_PORT = KIT_APT_PORT;
const REGISTRY_PORT = KIT_REGISTRY_PORT;
const REGISTRY_ROOT = "/var/lib/kubelab-registry";

/**
 * Debian's docker-registry (distribution 2.8) read-only over storage the kit writes itself: every image
 * is in place before the server starts, nothing can be pushed, and the storage is mounted read-only.
 */
const REGISTRY_CONFIG = `# kubelab kit: a read-only mirror of the kit's images under their upstream repository names.
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${REGISTRY_ROOT}
  delete:
    enabled: false
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: true
http:
  addr: ":${REGISTRY_PORT}"
`;

/** The server's entrypoint: both servers in the foreground; when either stops, the container stops. */
const ENTRYPOINT = `#!/bin/sh
# kubelab kit server: apt repository (busybox httpd) on :${APT_PORT}, registry mirror on :${REGISTRY_PORT}.
busybox httpd -f -p ${APT_PORT} -h /srv/apt &
httpd=$!
docker-registry serve /etc/kubelab/registry.yml &
registry=$!
trap 'kill $httpd $registry 2>/dev/null' TERM INT
while kill -0 $httpd 2>/dev/null && kill -0 $registry 2>/dev/null; do sleep 1; done
kill $httpd $registry 2>/dev/null
exit 1
`;

/** The kit server's root filesystem: Debian's docker-registry and busybox (its httpd serves the apt files). */
export const KIT_SERVER_ROOTFS: RootfsSpec = {
  name: "kit-server",
  variant: "minbase",
  packages: ["busybox", "docker-registry"],
  files: [
    { path: "/etc/kubelab/registry.yml", mode: 0o644, text: REGISTRY_CONFIG },
    { path: "/usr/local/bin/kubelab-kit-server", mode: 0o755, text: ENTRYPOINT },
  ],
};

/** The parts of a kit (kit.ts KitPaths) the server uses. */
export interface ServedKit {
  /** The registry storage is written to `<root>/registry/`. */
  readonly root: string;
  /** The apt HTTP root. */
  readonly apt: string;
  /** `core:/stable:/v1.36/deb/` */
  readonly repositoryPath: string;
  /** The OCI archives (`*.tar`) the mirror serves. */
  readonly images: string;
}

export interface KitServerOptions {
  /** The lab's name: the container's label and name (`kubelab-<lab>-kit`). */
  readonly lab: string;
  /** A podman network the caller made (for CI, `--internal`). */
  readonly network: string;
  /** The server's address on it. */
  readonly ip: string;
  readonly kit: ServedKit;
  readonly logPath: string;
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
  /** How long to wait for both servers to answer. */
  readonly readyTimeoutMs?: number;
  /** More labels for the container (a provider's owner labels, so its destroy and leftover cleanup find it). */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface KitServer {
  readonly container: string;
  /** `http://<ip>/core:/stable:/v1.36/deb/`: lab.yaml's packages.repository. */
  readonly repository: string;
  /** `http://<ip>:5000` for each mirrored registry: lab.yaml's images.mirrors. */
  readonly mirrors: Readonly<Record<(typeof KIT_MIRRORED_REGISTRIES)[number], string>>;
  /** The upstream references the mirror holds. */
  readonly images: readonly string[];
}

/** The container's name for a lab. */
export function kitServerName(lab: string): string {
  return `kubelab-${lab}-kit`;
}

/**
 * Starts (or restarts) the lab's kit server at `ip` on `network`: the registry storage is (re)written from
 * the kit's images/*.tar, the server image is imported from its cached rootfs when podman lacks it, and the
 * call returns once the apt repository's Release and the registry's /v2/ answer inside the container.
 */
export async function startKitServer(options: KitServerOptions): Promise<KitServer> {
  const signal = options.signal ?? new AbortController().signal;
  const podman = (args: readonly string[], label: string) =>
    runProcess("podman", args, {
      timeoutMs: 5 * 60_000,
      signal,
      logFile: options.logPath,
      label,
      missingToolHint: "install podman (apt-get install podman): the kit server runs as a podman container",
    });
  const storage = join(options.kit.root, "registry");
  const images = await writeRegistryStorage(options.kit.images, storage);
  const image = await ensureKitServerImage({ ...options, signal });
  const name = kitServerName(options.lab);
  await stopKitServers(options.lab, { logPath: options.logPath, signal });
  await podman(
    [
      "run",
      "--detach",
      "--name",
      name,
      "--label",
      `${LAB_LABEL}=${options.lab}`,
      "--label",
      `${ROLE_LABEL}=${ROLE}`,
      ...Object.entries(options.labels ?? {})
        .filter(([key]) => key !== LAB_LABEL && key !== ROLE_LABEL)
        .flatMap(([key, value]) => ["--label", `${key}=${value}`]),
      "--network",
      options.network,
      "--ip",
      options.ip,
      // runc: crun 1.8 refuses hybrid cgroup v1 hosts; explicit ulimits: podman's defaults exceed what a
      // root without CAP_SYS_RESOURCE may set.
      "--runtime",
      "runc",
      "--ulimit",
      "nofile=4096:4096",
      "--ulimit",
      "nproc=1024:1024",
      "--read-only",
      "--tmpfs",
      "/tmp",
      "--volume",
      `${options.kit.apt}:/srv/apt:ro`,
      "--volume",
      `${storage}:${REGISTRY_ROOT}:ro`,
      image,
      "/usr/local/bin/kubelab-kit-server",
    ],
    `podman run ${name}`,
  );
  const release = `http://127.0.0.1:${APT_PORT}/${options.kit.repositoryPath}Release`;
  const registry = `http://127.0.0.1:${REGISTRY_PORT}/v2/`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    const probe = await runProcess(
      "podman",
      [
        "exec",
        name,
        "sh",
        "-c",
        `busybox wget -q -O /dev/null '${release}' && busybox wget -q -O /dev/null '${registry}'`,
      ],
      { timeoutMs: 30_000, signal, logFile: options.logPath, label: `probe ${name}` },
    ).then(
      () => true,
      (error: unknown) => {
        if (error instanceof CommandError) return false;
        throw error;
      },
    );
    if (probe) break;
    if (Date.now() > deadline) {
      throw new CommandError(`kit server ${name}`, "the apt repository or the registry did not answer", {
        logPath: options.logPath,
        hint: `see \`podman logs ${name}\``,
      });
    }
    await sleep(500, undefined, { signal });
  }
  const registryUrl = `http://${options.ip}:${REGISTRY_PORT}`;
  return {
    container: name,
    repository: `http://${options.ip}/${options.kit.repositoryPath}`,
    mirrors: Object.fromEntries(
      KIT_MIRRORED_REGISTRIES.map((host) => [host, registryUrl]),
    ) as KitServer["mirrors"],
    images,
  };
}

/** Removes every kit server of `lab` (by label, never by name pattern); returns how many there were. */
export async function stopKitServers(
  lab: string,
  options: { logPath: string; signal?: AbortSignal },
): Promise<number> {
  const signal = options.signal ?? new AbortController().signal;
  const listed = await runProcess(
    "podman",
    [
      "ps",
      "--all",
      "--quiet",
      "--filter",
      `label=${LAB_LABEL}=${lab}`,
      "--filter",
      `label=${ROLE_LABEL}=${ROLE}`,
    ],
    { timeoutMs: 60_000, signal, logFile: options.logPath, label: "podman ps (kit servers)" },
  );
  const ids = listed.stdout.split("\n").filter((id) => id.trim() !== "");
  if (ids.length > 0) {
    await withStopRaceRetry(() =>
      runProcess("podman", ["rm", "--force", "--ignore", "--time", "2", ...ids], {
        timeoutMs: 60_000,
        signal,
        logFile: options.logPath,
        label: "podman rm (kit servers)",
      }),
    );
  }
  return ids.length;
}

/** `localhost/kubelab-kit-server:<rootfs digest>`, imported from the cached rootfs when podman lacks it. */
export async function ensureKitServerImage(
  options: Pick<KitServerOptions, "logPath" | "progress" | "env"> & { signal: AbortSignal },
): Promise<string> {
  const rootfs = await ensureRootfs(KIT_SERVER_ROOTFS, options);
  const reference = `localhost/kubelab-kit-server:${rootfs.digest.slice(0, 16)}`;
  const run = (args: readonly string[], label: string) =>
    runProcess("podman", args, {
      timeoutMs: 5 * 60_000,
      signal: options.signal,
      logFile: options.logPath,
      label,
    });
  const exists = await run(["image", "exists", reference], "podman image exists").then(
    () => true,
    () => false,
  );
  if (!exists) {
    await run(
      ["import", "--quiet", "--change", `LABEL ${ROLE_LABEL}=${ROLE}`, rootfs.tarball, reference],
      "podman import",
    );
  }
  return reference;
}

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

/**
 * The repository and tag an upstream reference is mirrored under: the registry host is dropped, since
 * containerd asks a mirror for `/v2/<repository>/manifests/<tag>` with the upstream path
 * (`registry.k8s.io/kube-apiserver:v1.36.5` -> `kube-apiserver`, `v1.36.5`; `docker.io/library/x:1` ->
 * `library/x`).
 */
export function mirroredName(reference: string): { repository: string; tag: string } {
  const match = /^([^/]+\.[^/]+|localhost(?::\d+)?)\/(.+):([\w][\w.-]{0,127})$/.exec(reference);
  if (match === null) throw new RangeError(`not a full reference with a registry and a tag: ${reference}`);
  return { repository: match[2]!, tag: match[3]! };
}

/**
 * Writes distribution's filesystem storage (`docker/registry/v2/`) for every image of every OCI archive in
 * `imagesDir`, each under the upstream reference its index.json annotates (io.containerd.image.name, else
 * org.opencontainers.image.ref.name): blobs by digest, each repository's layer and manifest links, tags.
 * The registry then serves them read-only; nothing is pushed over the network. Returns the references.
 */
export async function writeRegistryStorage(imagesDir: string, storageDir: string): Promise<string[]> {
  const archives = (await readdir(imagesDir).catch(() => [] as string[]))
    .filter((name) => name.endsWith(".tar"))
    .sort();
  const staging = await mkdtemp(`${storageDir}.tmp-`);
  const references: string[] = [];
  try {
    const v2 = join(staging, "docker", "registry", "v2");
    await mkdir(join(v2, "repositories"), { recursive: true });
    for (const archive of archives) {
      const layout = join(staging, "layout");
      await mkdir(layout);
      await extract({ file: join(imagesDir, archive), cwd: layout });
      const blob = (digest: string) => join(layout, "blobs", ...digest.split(":"));
      const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
        manifests: Descriptor[];
      };
      for (const top of index.manifests) {
        const reference =
          top.annotations?.["io.containerd.image.name"] ??
          top.annotations?.["org.opencontainers.image.ref.name"];
        if (reference === undefined) continue;
        const { repository, tag } = mirroredName(reference);
        const repo = join(v2, "repositories", repository);
        const link = async (path: string, digest: string) => {
          await mkdir(join(repo, path), { recursive: true });
          await writeFile(join(repo, path, "link"), digest);
        };
        const store = async (digest: string) => {
          const [algorithm, hex] = digest.split(":") as [string, string];
          const target = join(v2, "blobs", algorithm, hex.slice(0, 2), hex);
          await mkdir(target, { recursive: true });
          await cp(blob(digest), join(target, "data"));
        };
        const walk = async (descriptor: Descriptor): Promise<void> => {
          await store(descriptor.digest);
          await link(join("_manifests", "revisions", ...descriptor.digest.split(":")), descriptor.digest);
          const body = JSON.parse(await readFile(blob(descriptor.digest), "utf8")) as {
            manifests?: Descriptor[];
            config?: Descriptor;
            layers?: Descriptor[];
          };
          if (INDEX_TYPES.has(descriptor.mediaType)) {
            for (const child of body.manifests ?? []) {
              // An index may name platforms the archive does not carry; mirror what is there.
              if (
                await readFile(blob(child.digest)).then(
                  () => true,
                  () => false,
                )
              )
                await walk(child);
            }
            return;
          }
          for (const part of [body.config, ...(body.layers ?? [])]) {
            if (part === undefined) continue;
            await store(part.digest);
            await link(join("_layers", ...part.digest.split(":")), part.digest);
          }
        };
        await walk(top);
        await link(join("_manifests", "tags", tag, "current"), top.digest);
        await link(join("_manifests", "tags", tag, "index", ...top.digest.split(":")), top.digest);
        references.push(reference);
      }
      await rm(layout, { recursive: true, force: true });
    }
    await writeFile(join(staging, "images.json"), `${JSON.stringify(references, null, 2)}\n`);
    await rm(storageDir, { recursive: true, force: true });
    await rename(staging, storageDir);
    return references;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
