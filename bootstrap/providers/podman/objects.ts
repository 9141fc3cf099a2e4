// The podman objects of kubelab labs (containers, volumes, networks) as podman lists them, found by label.
import { randomBytes } from "node:crypto";
import { join } from "node:path";

import { readTextIfExists, writeFileAtomic } from "../../files.ts";
import type { ProcessResult } from "../../process.ts";
import { LAB_ID_LABEL, LAB_LABEL, WORK_DIR_LABEL } from "./spec.ts";

/** Runs one podman command (the provider's runner: timeout, log, cancellation). */
export type Podman = (args: readonly string[], options?: { timeoutMs?: number }) => Promise<ProcessResult>;

export type ObjectKind = "container" | "volume" | "network";

/** One labelled object, whatever its kind. */
export interface LabObject {
  readonly kind: ObjectKind;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Containers only: podman's state ("running", "exited", "created", ...). */
  readonly state?: string;
}

/** Every container, volume and network carrying `label` (`key` or `key=value`), as podman lists them. */
export async function listLabelled(podman: Podman, label: string): Promise<LabObject[]> {
  const filter = ["--filter", `label=${label}`];
  const [containers, volumes, networks] = await Promise.all([
    podman(["ps", "--all", ...filter, "--format", "json"]),
    podman(["volume", "ls", ...filter, "--format", "json"]),
    podman(["network", "ls", ...filter, "--format", "json"]),
  ]);
  const parse = (text: string): Record<string, unknown>[] => {
    const value: unknown = JSON.parse(text.trim() === "" ? "[]" : text);
    return Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
  };
  const labelsOf = (value: unknown): Record<string, string> =>
    typeof value === "object" && value !== null ? (value as Record<string, string>) : {};
  return [
    ...parse(containers.stdout).map((entry) => ({
      kind: "container" as const,
      name: String((entry.Names as string[] | undefined)?.[0] ?? entry.Id),
      labels: labelsOf(entry.Labels),
      state: typeof entry.State === "string" ? entry.State : "unknown",
    })),
    ...parse(volumes.stdout).map((entry) => ({
      kind: "volume" as const,
      name: String(entry.Name),
      labels: labelsOf(entry.Labels),
    })),
    ...parse(networks.stdout).map((entry) => ({
      kind: "network" as const,
      name: String(entry.name),
      labels: labelsOf(entry.labels),
    })),
  ];
}

/**
 * Removes objects: containers first (forced, systemd given 10 s to stop), then volumes and networks, which
 * podman refuses to remove while a container uses them. An object that is already gone is not an error.
 */
export async function removeObjects(podman: Podman, objects: readonly LabObject[]): Promise<void> {
  const names = (kind: ObjectKind) =>
    objects.filter((object) => object.kind === kind).map((object) => object.name);
  const containers = names("container");
  if (containers.length > 0) {
    await withStopRaceRetry(() =>
      podman(["rm", "--force", "--ignore", "--time", "10", ...containers], { timeoutMs: 5 * 60_000 }),
    );
  }
  const volumes = names("volume");
  if (volumes.length > 0) await podman(["volume", "rm", "--force", ...volumes]).catch(ignoreMissing);
  for (const network of names("network"))
    await podman(["network", "rm", "--force", network]).catch(ignoreMissing);
}

/**
 * Runs a `podman rm --force` again when it lost podman 4.3's stop race: the container exited on its own while
 * podman was killing it ("could not be stopped ... container state improper: stopped"). The second attempt
 * finds it stopped and removes it; any other failure is passed on.
 */
export async function withStopRaceRetry<T>(remove: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await remove();
    } catch (error) {
      const race = error instanceof Error && /could not be stopped|state improper/i.test(error.message);
      if (!race || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function ignoreMissing(error: unknown): void {
  if (error instanceof Error && /no such|not found/i.test(error.message)) return;
  throw error;
}

/** Removes everything labelled as lab `labName`, whichever work dir made it: the test harness's cleanup. */
export async function removeLab(podman: Podman, labName: string): Promise<LabObject[]> {
  const objects = await listLabelled(podman, `${LAB_LABEL}=${labName}`);
  await removeObjects(podman, objects);
  return objects;
}

/** The file in a work dir that holds its lab id: the `kubelab.dev/lab-id` of everything its lab made. */
export function labIdPath(workDir: string): string {
  return join(workDir, "podman", "lab-id");
}

/** The work dir's lab id, made on first use (random: two folders with the same lab name never share one). */
export async function ensureLabId(workDir: string): Promise<string> {
  const known = (await readTextIfExists(labIdPath(workDir)))?.trim();
  if (known !== undefined && known !== "") return known;
  const id = randomBytes(8).toString("hex");
  await writeFileAtomic(labIdPath(workDir), `${id}\n`);
  return id;
}

/** The work dir's lab id when it has one. */
export async function readLabId(workDir: string): Promise<string | undefined> {
  const known = (await readTextIfExists(labIdPath(workDir)))?.trim();
  return known === undefined || known === "" ? undefined : known;
}

/**
 * Whether an object the podman provider made for a lab of this name, but under another lab id, is what an
 * earlier, interrupted run left (its work dir is gone, or now holds another id: the lab was made again)
 * rather than a live lab of the same name in another folder. Objects without a lab id were not made by
 * the provider (a kit server on the lab's network) and are never leftovers of it.
 */
export async function isLeftover(object: LabObject, labId: string): Promise<boolean> {
  const objectId = object.labels[LAB_ID_LABEL];
  if (objectId === undefined || objectId === labId) return false;
  const workDir = object.labels[WORK_DIR_LABEL];
  if (workDir === undefined || workDir === "") return true;
  return (await readLabId(workDir)) !== objectId;
}
