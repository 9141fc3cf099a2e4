// The fake kind world for tests: fake `kind` and `docker` first on PATH, readers for what they saw.
import { readFile, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";

import { FIXTURES, REPO, tempDir, useFakeOnPath } from "../helpers.ts";

export const FAKE_KIND_BIN_DIR = join(FIXTURES, "fake-kind");

/** One call the fakes recorded. */
export interface FakeKindCall {
  readonly program?: "kind" | "docker";
  readonly argv?: string[];
  readonly cwd?: string;
  readonly signal?: string;
}

export interface FakeCluster {
  readonly containers: Record<string, string>;
  readonly limits: Record<string, { cpus: string; memory: string }>;
  readonly config: {
    name: string;
    networking: Record<string, unknown>;
    kubeadmConfigPatches: string[];
    nodes: { role: string; image: string; kubeadmConfigPatches: string[]; extraMounts?: unknown[] }[];
  };
}

export interface FakeKind {
  readonly dir: string;
  readonly env: Record<string, string>;
  scenario(content: { rules?: object[]; files?: Record<string, string> }): Promise<void>;
  calls(): Promise<FakeKindCall[]>;
  clusters(): Promise<Record<string, FakeCluster>>;
  setContainerState(container: string, state: string): Promise<void>;
}

export async function fakeKind(): Promise<FakeKind> {
  const dir = await tempDir("kubelab-fake-kind-");
  await writeFile(join(dir, "scenario.json"), JSON.stringify({ rules: [], files: {} }));
  const clusters = async () =>
    JSON.parse(await readFile(join(dir, "clusters.json"), "utf8").catch(() => "{}")) as Record<
      string,
      FakeCluster
    >;
  return {
    dir,
    env: {
      FAKE_KIND_DIR: dir,
      // The fakes first; then the project's Node 24 (node_modules/.bin), which they run on.
      PATH: [FAKE_KIND_BIN_DIR, join(REPO, "node_modules", ".bin"), process.env.PATH ?? ""].join(delimiter),
    },
    async scenario(content) {
      await writeFile(join(dir, "scenario.json"), JSON.stringify({ rules: [], files: {}, ...content }));
    },
    async calls() {
      const text = await readFile(join(dir, "calls.jsonl"), "utf8").catch(() => "");
      return text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as FakeKindCall);
    },
    clusters,
    async setContainerState(container, state) {
      const all = await clusters();
      for (const cluster of Object.values(all)) {
        if (cluster.containers[container] !== undefined) cluster.containers[container] = state;
      }
      await writeFile(join(dir, "clusters.json"), JSON.stringify(all));
    },
  };
}

/** Fresh fake `kind` and `docker` first on PATH for each test of the enclosing describe. */
export function useFakeKindOnPath(): () => FakeKind {
  return useFakeOnPath(fakeKind);
}
