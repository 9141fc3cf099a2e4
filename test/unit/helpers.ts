// Shared test support: temp dirs, labs, the real `bootstrap` bin, and the fake vagrant world.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { stringify } from "yaml";

import { LAB_API_VERSION, LAB_KIND, parseLab, type Lab } from "../../bootstrap/lab/config.ts";
import { silentLogger } from "../../bootstrap/log.ts";
import { createRunContext, type OperatorImageBuilder } from "../../bootstrap/up/run-context.ts";
import type { RunContext } from "../../bootstrap/up/step.ts";
import type { Provider } from "../../bootstrap/providers/provider.ts";
import { LabState } from "../../bootstrap/lab/state.ts";
import { workDirAt } from "../../bootstrap/lab/workdir.ts";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
export const FAKE_VAGRANT_BIN_DIR = join(FIXTURES, "fake-vagrant");
export const CALICO_FIXTURE = join(FIXTURES, "calico", "calico.yaml");
export const CA_FIXTURE = join(FIXTURES, "pki", "ca.crt");
/** The project's Node 24 (the brief: tests run the bin exactly as users do). */
export const NODE = join(REPO, "node_modules", ".bin", "node");
export const BIN = join(REPO, "bin", "bootstrap.js");

/** A fixed token so golden files are stable; it has the real format. */
export const FIXED_TOKEN = "abcdef.0123456789abcdef";

const created: string[] = [];

/** A fresh temp dir, removed after the test run. */
export async function tempDir(prefix = "kubelab-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

after(async () => {
  await Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A resolved lab from lab.yaml settings (apiVersion and kind added). */
export function labOf(settings: Record<string, unknown> = {}): Lab {
  return parseLab(stringify({ apiVersion: LAB_API_VERSION, kind: LAB_KIND, ...settings }), "lab.yaml");
}

export interface BinResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved, as a user sees them in a terminal. */
  readonly output: string;
}

/** Runs the real CLI (`node_modules/.bin/node bin/bootstrap.js ...`) in `cwd`. */
export async function runBootstrap(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<BinResult> {
  const result = await execa(NODE, [BIN, ...args], {
    cwd: options.cwd,
    env: { CI: "1", ...options.env },
    reject: false,
    all: true,
    timeout: options.timeoutMs ?? 60_000,
    stdin: "ignore",
  });
  return {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    output: String(result.all),
  };
}

/** One call the fake vagrant recorded. */
export interface FakeCall {
  readonly argv?: string[];
  readonly signal?: string;
  readonly vagrantCwd?: string;
}

/** The fake vagrant's world: its folder, the PATH that finds it first, and readers for what it saw. */
export interface FakeVagrant {
  readonly dir: string;
  readonly env: Record<string, string>;
  scenario(content: { rules?: object[]; files?: Record<string, string> }): Promise<void>;
  calls(): Promise<FakeCall[]>;
  machines(): Promise<Record<string, string>>;
}

export async function fakeVagrant(): Promise<FakeVagrant> {
  const dir = await tempDir("kubelab-fake-vagrant-");
  await writeFile(join(dir, "scenario.json"), JSON.stringify({ rules: [], files: {} }));
  return {
    dir,
    env: {
      FAKE_VAGRANT_DIR: dir,
      // The fake first; then the project's Node 24 (node_modules/.bin), which the fake runs on.
      PATH: [FAKE_VAGRANT_BIN_DIR, join(REPO, "node_modules", ".bin"), process.env.PATH ?? ""].join(
        delimiter,
      ),
    },
    async scenario(content) {
      await writeFile(join(dir, "scenario.json"), JSON.stringify({ rules: [], files: {}, ...content }));
    },
    async calls() {
      const text = await readFile(join(dir, "calls.jsonl"), "utf8").catch(() => "");
      return text
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as FakeCall);
    },
    async machines() {
      const text = await readFile(join(dir, "machines.json"), "utf8").catch(() => "{}");
      return JSON.parse(text) as Record<string, string>;
    },
  };
}

/**
 * Puts a fresh fake vagrant first on this process's PATH before each test of the enclosing describe (and
 * restores PATH after it); returns a getter for the current fake. For in-process provider and step tests.
 */
export function useFakeVagrantOnPath(): () => FakeVagrant {
  return useFakeOnPath(fakeVagrant);
}

/**
 * Before each test of the enclosing describe: a fresh fake world from `make`, whose environment (PATH with
 * the fake programs first, the fake's folder) is set on this process; restored after the test.
 */
export function useFakeOnPath<T extends { readonly env: Record<string, string> }>(
  make: () => Promise<T>,
): () => T {
  let current: T | undefined;
  let saved: Record<string, string | undefined> = {};
  beforeEach(async () => {
    current = await make();
    saved = Object.fromEntries(Object.keys(current.env).map((name) => [name, process.env[name]]));
    Object.assign(process.env, current.env);
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  return () => {
    if (current === undefined) throw new Error("useFakeOnPath: no test is running");
    return current;
  };
}

/** Polls `condition` every 50 ms until it holds or `timeoutMs` passes (then throws). */
export async function waitFor(
  condition: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A RunContext over a fresh work dir (or `root`), for running steps and plans in-process. */
export async function testRunContext(options: {
  lab: Lab;
  provider?: Provider;
  root?: string;
  signal?: AbortSignal;
  now?: () => Date;
  tokenSource?: () => string;
  calico?: RunContext["calico"];
  /** The run's operator image, instead of assembling this checkout's. */
  operatorImage?: OperatorImageBuilder;
}): Promise<RunContext> {
  const root = options.root ?? (await tempDir());
  return createRunContext(
    {
      lab: options.lab,
      workDir: workDirAt(root),
      provider: options.provider ?? ({} as Provider),
      state: await LabState.load(join(root, "state.json")),
      logger: silentLogger(),
      signal: options.signal ?? new AbortController().signal,
      tokenSource: options.tokenSource ?? (() => FIXED_TOKEN),
      now: options.now ?? (() => new Date("2030-01-01T00:00:00Z")),
      calico: options.calico,
      apiTimeoutMs: 1000,
      readyTimeoutMs: 1000,
    },
    options.operatorImage === undefined ? {} : { operatorImage: options.operatorImage },
  );
}

/**
 * A kubeadm-like admin.conf with a real CA and client certificate, plus whatever `extra` a hostile node could
 * add: `user` fields (exec, token), `cluster` fields (proxy-url, insecure-skip-tls-verify), another server.
 */
export async function adminConfFixture(
  extra: { user?: Record<string, unknown>; cluster?: Record<string, unknown>; server?: string } = {},
): Promise<{ text: string; caData: string; certData: string; keyData: string }> {
  const { CertificateAuthority } = await import("../../bootstrap/controlplane/pki.ts");
  const { readFile } = await import("node:fs/promises");
  const { stringify } = await import("yaml");
  const dir = await tempDir();
  const ca = await CertificateAuthority.create(dir, "ca", "kubernetes");
  const client = await ca.issue({
    name: "admin",
    commonName: "kubernetes-admin",
    organizations: ["kubeadm:cluster-admins"],
    client: true,
  });
  const base64 = async (path: string) => (await readFile(path)).toString("base64");
  const [caData, certData, keyData] = [
    await base64(ca.certPath),
    await base64(client.certPath),
    await base64(client.keyPath),
  ];
  const text = stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "kubernetes",
        cluster: {
          server: extra.server ?? "https://192.168.56.10:6443",
          "certificate-authority-data": caData,
          ...extra.cluster,
        },
      },
    ],
    users: [
      {
        name: "kubernetes-admin",
        user: { "client-certificate-data": certData, "client-key-data": keyData, ...extra.user },
      },
    ],
    contexts: [
      { name: "kubernetes-admin@kubernetes", context: { cluster: "kubernetes", user: "kubernetes-admin" } },
    ],
    "current-context": "kubernetes-admin@kubernetes",
  });
  return { text, caData, certData, keyData };
}
