// Host prep for node containers on a hybrid cgroup v1 host: the v1 hierarchies the host lacks, mounted before
// any node starts and unmounted when the last lab is gone. A cgroup v2 host needs nothing: detected, not assumed.
import { mkdir, readFile, rm, rmdir } from "node:fs/promises";
import { join } from "node:path";

import { acquireFileLock } from "../../controlplane/filelock.ts";
import { StateError } from "../../errors.ts";
import { FileMode, readTextIfExists, writeFileAtomic } from "../../files.ts";
import { runProcess } from "../../process.ts";

/** A v1 hierarchy as mounted: its controllers and where. */
export interface V1Hierarchy {
  /** `["net_cls", "net_prio"]` for a hierarchy that carries both. */
  readonly controllers: readonly string[];
  readonly mountPoint: string;
}

/** What the host's cgroups look like: unified v2, or v1 (hybrid) with the hierarchies nobody mounted. */
export type CgroupLayout =
  { readonly version: 2 } | { readonly version: 1; readonly missing: readonly V1Hierarchy[] };

/** Controllers systemd mounts together on v1; kept together when both are missing. */
const JOINED_CONTROLLERS = [
  ["cpu", "cpuacct"],
  ["net_cls", "net_prio"],
] as const;

/** One mount of /proc/self/mountinfo: root inside its filesystem, mount point, type, super options. */
interface MountEntry {
  readonly root: string;
  readonly mountPoint: string;
  readonly type: string;
  readonly superOptions: readonly string[];
}

/** Parses /proc/self/mountinfo (fields 4 and 5 are root and mount point; type and options follow " - "). */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(" ");
    const separator = fields.indexOf("-", 6);
    if (fields.length < 10 || separator < 0) continue;
    entries.push({
      root: unescapeMountinfo(fields[3]!),
      mountPoint: unescapeMountinfo(fields[4]!),
      type: fields[separator + 1]!,
      superOptions: (fields[separator + 3] ?? "").split(","),
    });
  }
  return entries;
}

function unescapeMountinfo(value: string): string {
  return value.replaceAll(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * The host's layout from /proc/self/mountinfo and /proc/cgroups. v2 when /sys/fs/cgroup itself is cgroup2.
 * v1 when v1 hierarchies are mounted under it; then `missing` lists each enabled controller of
 * /proc/cgroups that no v1 mount of the host carries, joined as systemd joins them, to be mounted at
 * `<cgroupRoot>/<controllers>`. Without those, a node's systemd (privileged, seeing the host's
 * /proc/cgroups) mounts them itself, host-wide: every node then shares one /kubepods.slice in them.
 */
export function cgroupLayout(
  mountinfo: string,
  procCgroups: string,
  cgroupRoot = "/sys/fs/cgroup",
): CgroupLayout {
  const mounts = parseMountinfo(mountinfo);
  if (mounts.some((mount) => mount.mountPoint === cgroupRoot && mount.type === "cgroup2"))
    return { version: 2 };
  if (!mounts.some((mount) => mount.type === "cgroup" && mount.mountPoint.startsWith(`${cgroupRoot}/`))) {
    throw new StateError(`cannot tell this host's cgroup layout: nothing is mounted at ${cgroupRoot}`, {
      hint: "the podman provider needs a host with cgroup v2, or cgroup v1 hierarchies under /sys/fs/cgroup",
    });
  }
  // A hierarchy outlives its mount while it holds cgroups (/proc/cgroups still numbers it): "mounted" is
  // read from the host's own mounts, whose super options name their controllers.
  const mounted = new Set(
    mounts.filter((mount) => mount.type === "cgroup").flatMap((mount) => mount.superOptions),
  );
  const unmounted: string[] = [];
  for (const line of procCgroups.split("\n")) {
    if (line.startsWith("#")) continue;
    const [name, , , enabled] = line.trim().split(/\s+/);
    if (name !== undefined && name !== "" && enabled === "1" && !mounted.has(name)) unmounted.push(name);
  }
  const missing: V1Hierarchy[] = [];
  const placed = new Set<string>();
  for (const group of JOINED_CONTROLLERS) {
    if (group.every((controller) => unmounted.includes(controller))) {
      missing.push({ controllers: group, mountPoint: `${cgroupRoot}/${group.join(",")}` });
      for (const controller of group) placed.add(controller);
    }
  }
  for (const controller of unmounted) {
    if (!placed.has(controller))
      missing.push({ controllers: [controller], mountPoint: `${cgroupRoot}/${controller}` });
  }
  missing.sort((a, b) => (a.mountPoint < b.mountPoint ? -1 : 1));
  return { version: 1, missing };
}

/** Where the host prep keeps its lock and its record; on tmpfs, so both go when the mounts go (reboot). */
export interface HostPaths {
  readonly mountinfo: string;
  readonly procCgroups: string;
  readonly cgroupRoot: string;
  readonly stateDir: string;
}

export const HOST_PATHS: HostPaths = {
  mountinfo: "/proc/self/mountinfo",
  procCgroups: "/proc/cgroups",
  cgroupRoot: "/sys/fs/cgroup",
  stateDir: "/run/kubelab",
};

/** The record of what kubelab mounted on this host, shared by every lab on it. */
interface HostRecord {
  readonly mounted: readonly V1Hierarchy[];
}

export interface HostPrepOptions {
  readonly signal: AbortSignal;
  readonly logFile: string;
  readonly paths?: HostPaths;
}

const MOUNT_TIMEOUT_MS = 30_000;
const LOCK_TIMEOUT_MS = 5 * 60_000;

/**
 * Mounts the v1 hierarchies the host lacks and records them (cgroup v2 host: does nothing). Idempotent;
 * serialised with other labs' prep and release by a lock. Resolves with what this call mounted.
 */
export async function prepareHostCgroups(options: HostPrepOptions): Promise<V1Hierarchy[]> {
  const paths = options.paths ?? HOST_PATHS;
  return withHostLock(paths, options, async () => {
    const layout = cgroupLayout(
      await readFile(paths.mountinfo, "utf8"),
      await readFile(paths.procCgroups, "utf8"),
      paths.cgroupRoot,
    );
    if (layout.version === 2 || layout.missing.length === 0) return [];
    const record = await readRecord(paths);
    const mounted: V1Hierarchy[] = [];
    for (const hierarchy of layout.missing) {
      await mkdir(hierarchy.mountPoint, { recursive: true });
      await mountCommand(
        ["-t", "cgroup", "-o", hierarchy.controllers.join(","), "cgroup", hierarchy.mountPoint],
        options,
      );
      mounted.push(hierarchy);
      // Recorded after each mount: an interrupted prep still knows what to undo.
      await writeRecord(paths, { mounted: mergeHierarchies(record.mounted, mounted) });
    }
    return mounted;
  });
}

/**
 * Undoes the host prep when `stillNeeded` says no node container of any lab remains: unmounts exactly the
 * hierarchies the record lists that are still mounted there, removes their directories and the record.
 * Never touches a mount kubelab did not make. Resolves with what it unmounted.
 */
export async function releaseHostCgroups(
  options: HostPrepOptions & { readonly stillNeeded: () => Promise<boolean> },
): Promise<V1Hierarchy[]> {
  const paths = options.paths ?? HOST_PATHS;
  if ((await readTextIfExists(recordPath(paths))) === undefined) return [];
  return withHostLock(paths, options, async () => {
    const record = await readRecord(paths);
    if (record.mounted.length === 0 || (await options.stillNeeded())) return [];
    const mounts = parseMountinfo(await readFile(paths.mountinfo, "utf8"));
    const released: V1Hierarchy[] = [];
    for (const hierarchy of [...record.mounted].reverse()) {
      const here = mounts.some(
        (mount) => mount.mountPoint === hierarchy.mountPoint && mount.type === "cgroup",
      );
      if (here) await mountCommand([hierarchy.mountPoint], options, "umount");
      await rmdir(hierarchy.mountPoint).catch(() => undefined);
      released.push(hierarchy);
    }
    await rm(recordPath(paths), { force: true });
    return released;
  });
}

function mergeHierarchies(a: readonly V1Hierarchy[], b: readonly V1Hierarchy[]): V1Hierarchy[] {
  const byMountPoint = new Map([...a, ...b].map((hierarchy) => [hierarchy.mountPoint, hierarchy]));
  return [...byMountPoint.values()];
}

function recordPath(paths: HostPaths): string {
  return join(paths.stateDir, "podman-host-cgroups.json");
}

async function readRecord(paths: HostPaths): Promise<HostRecord> {
  const text = await readTextIfExists(recordPath(paths));
  return text === undefined ? { mounted: [] } : (JSON.parse(text) as HostRecord);
}

async function writeRecord(paths: HostPaths, record: HostRecord): Promise<void> {
  await writeFileAtomic(recordPath(paths), `${JSON.stringify(record, null, 2)}\n`, FileMode.public);
}

async function withHostLock<T>(
  paths: HostPaths,
  options: HostPrepOptions,
  action: () => Promise<T>,
): Promise<T> {
  await mkdir(paths.stateDir, { recursive: true, mode: FileMode.secretDirectory });
  const lock = await acquireFileLock(join(paths.stateDir, "podman-host-cgroups.lock"), {
    signal: options.signal,
    timeoutMs: LOCK_TIMEOUT_MS,
  });
  try {
    return await action();
  } finally {
    await lock.release();
  }
}

function mountCommand(args: readonly string[], options: HostPrepOptions, program = "mount") {
  return runProcess(program, args, {
    timeoutMs: MOUNT_TIMEOUT_MS,
    signal: options.signal,
    logFile: options.logFile,
    label: `${program} ${args.join(" ")} (host prep for node containers)`,
  });
}
