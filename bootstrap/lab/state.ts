// .kubelab/state.json: what `up` has done (so a second `up` resumes) and the lab as it was created.
import { createHash } from "node:crypto";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";

import type { Lab } from "./config.ts";
import { StateError, type ConfigProblem } from "../errors.ts";
import { readTextIfExists, writeFileAtomic } from "../files.ts";

/** A short fingerprint of some content, stored in state.json to notice that a step's input changed. */
export function digestOf(content: string): string {
  return createHash("sha256").update(content).digest("hex").slice(0, 16);
}

export const STATE_VERSION = 1;

/** A finished step (or a step on one node). `digest` identifies its input, when re-running it on change makes sense. */
export interface StepRecord {
  readonly doneAt: string;
  readonly digest?: string;
}

/** Facts about the running cluster that later steps need. None of them is secret. */
export interface ClusterFacts {
  /** `sha256:...` of the cluster CA's public key, pinned by joining workers. */
  readonly caCertHash?: string;
  /** When the bootstrap token in secrets/ stops working (ISO time); a later join mints a new one. */
  readonly joinTokenExpiresAt?: string;
}

interface StateFile {
  readonly version: typeof STATE_VERSION;
  /** The lab as its machines were created: what exists, what `down` destroys, what lab.yaml is checked against. */
  readonly lab?: Lab;
  /** Step key (`step` or `step:node`) -> record. */
  readonly steps: Readonly<Record<string, StepRecord>>;
  readonly cluster: ClusterFacts;
}

/**
 * The persisted progress of a lab. Every change is written at once, atomically (temp file + rename),
 * and writes are serialised, so Ctrl-C or a crash leaves either the old or the new state: a step is
 * recorded only after it finished, and an interrupted one simply runs again.
 */
export class LabState {
  readonly file: string;
  #data: StateFile;
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(file: string, data: StateFile) {
    this.file = file;
    this.#data = data;
  }

  /** Loads state.json; a missing file is an empty state. A damaged file is a StateError naming it. */
  static async load(file: string): Promise<LabState> {
    const text = await readTextIfExists(file);
    if (text === undefined) return new LabState(file, { version: STATE_VERSION, steps: {}, cluster: {} });
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new StateError(`${file} is not valid JSON`, {
        cause: error,
        hint: "it is written atomically, so something else changed it; remove it to start the lab's steps over",
      });
    }
    const candidate = data as Partial<StateFile>;
    if (candidate.version !== STATE_VERSION || typeof candidate.steps !== "object") {
      throw new StateError(`${file} has an unknown format (version ${String(candidate.version)})`, {
        hint: `it was written by another version of kubelab; this one reads version ${STATE_VERSION}`,
      });
    }
    return new LabState(file, {
      version: STATE_VERSION,
      steps: candidate.steps,
      cluster: candidate.cluster ?? {},
      ...(candidate.lab ? { lab: candidate.lab } : {}),
    });
  }

  /** The lab as created, or undefined before any machine was created. */
  get lab(): Lab | undefined {
    return this.#data.lab;
  }

  get cluster(): ClusterFacts {
    return this.#data.cluster;
  }

  /** Whether `key` finished, with the same input digest when one is given. */
  isDone(key: string, digest?: string): boolean {
    const record = this.#data.steps[key];
    if (record === undefined) return false;
    return digest === undefined || record.digest === digest;
  }

  record(key: string): StepRecord | undefined {
    return this.#data.steps[key];
  }

  /** True once any step that touches machines has finished (rendering files does not count). */
  get hasProgress(): boolean {
    return this.#data.lab !== undefined;
  }

  markDone(key: string, digest?: string, now = new Date()): Promise<void> {
    const record: StepRecord =
      digest === undefined ? { doneAt: now.toISOString() } : { doneAt: now.toISOString(), digest };
    return this.#update({ ...this.#data, steps: { ...this.#data.steps, [key]: record } });
  }

  /** Forgets the records whose key matches (a node that must be re-created loses its `step:node` records). */
  forget(matches: (key: string) => boolean): Promise<void> {
    const steps = Object.fromEntries(Object.entries(this.#data.steps).filter(([key]) => !matches(key)));
    return this.#update({ ...this.#data, steps });
  }

  setLab(lab: Lab): Promise<void> {
    return this.#update({ ...this.#data, lab });
  }

  setCluster(facts: Partial<ClusterFacts>): Promise<void> {
    return this.#update({ ...this.#data, cluster: { ...this.#data.cluster, ...facts } });
  }

  /** Deletes state.json (after `down`). */
  async remove(): Promise<void> {
    await this.#writes;
    this.#data = { version: STATE_VERSION, steps: {}, cluster: {} };
    await rm(this.file, { force: true });
  }

  #update(next: StateFile): Promise<void> {
    this.#data = next;
    const text = `${JSON.stringify(next, null, 2)}\n`;
    const write = this.#writes.then(() => writeFileAtomic(this.file, text));
    this.#writes = write.catch(() => undefined);
    return write.then(() => undefined);
  }
}

/** The key of a step's record on one node. */
export function nodeStepKey(step: string, node: string): string {
  return `${step}:${node}`;
}

/**
 * Which lab.yaml edits an existing lab cannot follow, each with the YAML path. Workers may be added
 * (new VMs join with a fresh token); Calico settings may change (re-applied); backup settings are free.
 * Everything the machines or the cluster were built from is fixed until `bootstrap down`.
 */
export function incompatibleChanges(created: Lab, wanted: Lab): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const fixed = (path: string, before: unknown, after: unknown): void => {
    if (JSON.stringify(before) === JSON.stringify(after)) return;
    problems.push({
      path,
      message: `was ${show(before)} when the lab was created, now ${show(after)}: an existing lab cannot change it`,
    });
  };
  fixed("provider", created.provider, wanted.provider);
  fixed("name", created.name, wanted.name);
  fixed("kubernetes.version", created.kubernetes.version, wanted.kubernetes.version);
  fixed("vagrant.provider", created.vagrant.provider, wanted.vagrant.provider);
  fixed("vagrant.box", created.vagrant.box, wanted.vagrant.box);
  fixed("vagrant.boxVersion", created.vagrant.boxVersion, wanted.vagrant.boxVersion);
  for (const field of ["name", "ip", "cpus", "memoryMiB"] as const) {
    fixed(`controlPlane.${field}`, created.controlPlane[field], wanted.controlPlane[field]);
  }
  for (const field of ["hostOnlyCidr", "podCidr", "serviceCidr", "dnsDomain"] as const) {
    fixed(`network.${field}`, created.network[field], wanted.network[field]);
  }
  fixed("containerd.package", created.containerd.package, wanted.containerd.package);
  if (wanted.workers.length < created.workers.length) {
    problems.push({
      path: "workers.count",
      message: `the lab has ${created.workers.length} workers and lab.yaml asks for ${wanted.workers.length}: removing workers is not supported`,
    });
  }
  created.workers.forEach((worker, index) => {
    const now = wanted.workers[index];
    if (now === undefined) return;
    for (const field of ["name", "ip", "cpus", "memoryMiB"] as const) {
      fixed(`workers[${index}].${field} (${worker.name})`, worker[field], now[field]);
    }
  });
  return problems;
}

function show(value: unknown): string {
  return value === undefined ? "unset" : JSON.stringify(value);
}

/**
 * Takes `.kubelab/lock` for the duration of a command that changes the lab, so two `bootstrap up` in one
 * folder never interleave. A lock left by a process that no longer runs is taken over.
 */
export async function acquireLock(workDir: string, command: string): Promise<() => Promise<void>> {
  const path = join(workDir, "lock");
  await mkdir(workDir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid} ${command}\n`);
      await handle.close();
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = (await readTextIfExists(path))?.trim() ?? "";
      const pid = Number(owner.split(" ")[0]);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
        throw new StateError(`another bootstrap command is working on this lab (pid ${pid}: ${owner})`, {
          hint: `wait for it to finish, or stop it; the lock is ${path}`,
        });
      }
      await rm(path, { force: true });
    }
  }
  throw new StateError(`cannot take the lock ${path}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
