// The sim lab's operator: a local process run by the supervisor, acting as the operator's ServiceAccount.
//
// kwok only pretends to run pods, so the Deployment of manifests/ would do nothing on a sim lab. The
// operator of this checkout runs on the host instead, beside the control plane, under the supervisor
// (restarted when it dies, stopped with the lab). Its kubeconfig is the admin's certificate with
// impersonation of system:serviceaccount:kubelab-system:kubelab-operator and the ServiceAccount's groups, so
// every request it makes is authorised by the RBAC of manifests/, exactly as in a real cluster.
//
// Files (all in .kubelab/sim/): operator.json (what to run: written by `up`, read by the supervisor),
// operator-state.json (what runs: pid, ports, restarts; written by the supervisor), operator.log (its output),
// cluster/operator.kubeconfig (0600; under cluster/ so the leftover sweep of the lab's processes finds it).
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { z } from "zod";

import { isRunning, ManagedProcess, tailOfFile } from "../../controlplane/process.ts";
import { freePorts } from "../../controlplane/ports.ts";
import { CommandError, InterruptedError } from "../../errors.ts";
import { FileMode, readTextIfExists, writeFileAtomic } from "../../files.ts";
import { digestOf } from "../../lab/state.ts";
import { abortReason } from "../../process.ts";
import type { LocalOperatorSpec, LocalOperatorStatus, ProviderContext } from "../provider.ts";
import { simPaths } from "./spec.ts";

/**
 * The operator's bin, run as its own process (the local operator, the snapshot agent), exactly as the
 * operator image runs it, so bootstrap never imports the operator's code.
 */
export const OPERATOR_BIN = fileURLToPath(new URL("../../../bin/kubelab-operator.js", import.meta.url));

/** The delay before restart number `attempt` of a process that keeps dying: 1 s, 2 s, 4 s... up to a minute. */
export function restartDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), 60_000);
}
/** An operator that ran this long before dying starts its restart backoff over. */
const HEALTHY_RUN_MS = 60_000;
/** How often the supervisor looks at operator.json. */
const POLL_MS = 1000;
/** How long `up` waits for the operator to answer /healthz. */
const START_TIMEOUT_MS = 90_000;

/** Paths of the sim operator, under .kubelab/sim/. */
export function simOperatorPaths(workDir: string) {
  const paths = simPaths(workDir);
  return {
    spec: join(paths.dir, "operator.json"),
    state: join(paths.dir, "operator-state.json"),
    log: join(paths.dir, "operator.log"),
    kubeconfig: join(paths.cluster, "operator.kubeconfig"),
  };
}

const desiredSchema = z.object({
  /** Changes whenever anything below changes: the supervisor restarts the operator on a new digest. */
  digest: z.string(),
  command: z.string(),
  args: z.array(z.string()),
  env: z.record(z.string(), z.string()),
});
type DesiredOperator = z.infer<typeof desiredSchema>;

const stateSchema = z.object({
  pid: z.number().int(),
  digest: z.string(),
  healthPort: z.number().int(),
  metricsPort: z.number().int(),
  startedAt: z.string(),
  restarts: z.number().int(),
});
type OperatorState = z.infer<typeof stateSchema>;

/** The user the operator acts as, and its groups, as the API server would authenticate its token. */
export function serviceAccountIdentity(spec: Pick<LocalOperatorSpec, "namespace" | "serviceAccount">): {
  user: string;
  groups: string[];
} {
  return {
    user: `system:serviceaccount:${spec.namespace}:${spec.serviceAccount}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${spec.namespace}`],
  };
}

interface KubeconfigDocument {
  "current-context"?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  users?: { name: string; user: Record<string, unknown> }[];
  [key: string]: unknown;
}

/**
 * The admin kubeconfig turned into one that impersonates `user` with `groups` (kubeconfig `as` and
 * `as-groups`): same server and CA, the admin's client certificate authenticates, and the API server then
 * authorises every request as the impersonated identity. Only the current context's user is kept.
 */
export function impersonatingKubeconfig(adminYaml: string, user: string, groups: readonly string[]): string {
  const document = parse(adminYaml) as KubeconfigDocument;
  const context = document.contexts?.find((entry) => entry.name === document["current-context"]);
  const admin = document.users?.find((entry) => entry.name === context?.context.user);
  if (context === undefined || admin === undefined) {
    throw new CommandError("sim operator", "the admin kubeconfig has no current context with a user");
  }
  const name = `${admin.name}-as-${user.split(":").at(-1) ?? "operator"}`;
  return stringify({
    ...document,
    contexts: [{ name, context: { ...context.context, user: name } }],
    "current-context": name,
    users: [{ name, user: { ...admin.user, as: user, "as-groups": [...groups] } }],
  });
}

/** What the supervisor should run for `spec` (ports are chosen by the supervisor at each start). */
function desiredOperator(workDir: string, spec: LocalOperatorSpec): DesiredOperator {
  const paths = simOperatorPaths(workDir);
  const args = [
    OPERATOR_BIN,
    "run",
    "--kubeconfig",
    paths.kubeconfig,
    "--namespace",
    spec.namespace,
    "--bind-address",
    "127.0.0.1",
    "--log-level",
    "info",
  ];
  // The backup Jobs the operator schedules run the lab's image (manifests/ sets it on the Deployment).
  const env = { KUBELAB_AGENT_IMAGE: spec.image };
  const partial = { command: process.execPath, args, env };
  return { digest: digestOf(JSON.stringify(partial)), ...partial };
}

/**
 * `up`'s side: writes the impersonating kubeconfig and operator.json, then waits until the supervisor runs
 * that operator and it answers /healthz. Idempotent: with nothing changed, it only checks.
 */
export async function ensureSimOperator(
  spec: LocalOperatorSpec,
  context: ProviderContext,
): Promise<LocalOperatorStatus> {
  const paths = simOperatorPaths(context.workDir);
  const admin = await readTextIfExists(simPaths(context.workDir).adminKubeconfig);
  if (admin === undefined) {
    throw new CommandError("sim operator", "the control plane has no admin kubeconfig yet", {
      hint: "run `bootstrap up` to create the lab",
    });
  }
  const identity = serviceAccountIdentity(spec);
  await writeFileAtomic(
    paths.kubeconfig,
    impersonatingKubeconfig(admin, identity.user, identity.groups),
    FileMode.secret,
  );
  const desired = desiredOperator(context.workDir, spec);
  await writeFileAtomic(paths.spec, `${JSON.stringify(desired, null, 2)}\n`, FileMode.public);
  const deadline = Date.now() + START_TIMEOUT_MS;
  let reported = false;
  for (;;) {
    if (context.signal.aborted) throw new InterruptedError(abortReason(context.signal));
    const state = await readOperatorState(paths.state);
    if (state !== undefined && state.digest === desired.digest && isRunning(state.pid)) {
      if (await healthy(state.healthPort)) return statusOf(state, paths.log);
    }
    if (!reported) {
      context.progress?.("operator", `waiting for the supervisor to start the operator (log: ${paths.log})`);
      reported = true;
    }
    if (Date.now() > deadline) {
      throw new CommandError(
        "sim operator",
        `not serving /healthz ${START_TIMEOUT_MS / 1000}s after it was asked for\n${tailOfFile(paths.log, 15)}`,
        {
          logPath: paths.log,
          hint: `the supervisor's log is ${simPaths(context.workDir).log}; fix the cause and run \`bootstrap up\` again`,
        },
      );
    }
    await sleep(500);
  }
}

/** The operator process as the supervisor reports it; undefined when none was ever asked for. */
export async function simOperatorStatus(workDir: string): Promise<LocalOperatorStatus | undefined> {
  const paths = simOperatorPaths(workDir);
  if ((await readTextIfExists(paths.spec)) === undefined) return undefined;
  const state = await readOperatorState(paths.state);
  if (state === undefined || !isRunning(state.pid)) {
    return { running: false, logPath: paths.log, detail: "not running" };
  }
  return statusOf(state, paths.log);
}

function statusOf(state: OperatorState, logPath: string): LocalOperatorStatus {
  return {
    running: true,
    pid: state.pid,
    logPath,
    detail:
      `local process pid ${state.pid} as the kubelab-operator ServiceAccount, metrics ` +
      `http://127.0.0.1:${state.metricsPort}/metrics` +
      (state.restarts > 0 ? `, restarted ${state.restarts} time(s)` : ""),
  };
}

async function readOperatorState(path: string): Promise<OperatorState | undefined> {
  try {
    return stateSchema.parse(JSON.parse(await readFile(path, "utf8")));
  } catch {
    return undefined;
  }
}

async function readDesired(path: string): Promise<DesiredOperator | undefined> {
  try {
    return desiredSchema.parse(JSON.parse(await readFile(path, "utf8")));
  } catch {
    return undefined;
  }
}

/** GET /healthz on loopback answers 200 within a second. */
function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const call = request({ host: "127.0.0.1", port, path: "/healthz", timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    call.on("error", () => resolve(false));
    call.on("timeout", () => {
      call.destroy();
      resolve(false);
    });
    call.end();
  });
}

/**
 * The supervisor's side: runs the operator operator.json describes, once the control plane runs. Looks at
 * operator.json every second (a new digest restarts the operator, a removed file stops it), restarts an
 * operator that exits on its own with exponential backoff, and records the running one in
 * operator-state.json. `stop()` stops it (SIGTERM: it releases its Lease) before the control plane stops.
 */
export class SimOperatorSupervisor {
  readonly #workDir: string;
  readonly #log: (line: string) => void;
  readonly #onChange: () => void;
  #process: ManagedProcess | undefined;
  #digest: string | undefined;
  #restarts = 0;
  #nextStartAt = 0;
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  /** `onChange` is called after the operator's pid changed (the supervisor reports its components). */
  constructor(workDir: string, log: (line: string) => void, onChange: () => void) {
    this.#workDir = workDir;
    this.#log = log;
    this.#onChange = onChange;
  }

  /** The running operator's pid, for supervisor.json's components (the leftover sweep kills it). */
  get pids(): Record<string, number> {
    return this.#process?.running === true ? { operator: this.#process.pid } : {};
  }

  start(): void {
    const tick = async (): Promise<void> => {
      if (this.#busy || this.#stopping) return;
      this.#busy = true;
      try {
        await this.#reconcile();
      } catch (error) {
        this.#log(`operator: ${(error as Error).message}`);
      } finally {
        this.#busy = false;
      }
    };
    void tick();
    this.#timer = setInterval(() => void tick(), POLL_MS);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    while (this.#busy) await sleep(50);
    await this.#stopProcess();
  }

  async #reconcile(): Promise<void> {
    const paths = simOperatorPaths(this.#workDir);
    const desired = await readDesired(paths.spec);
    if (desired === undefined) {
      if (this.#process !== undefined) {
        this.#log("operator: operator.json is gone; stopping the operator");
        await this.#stopProcess();
      }
      return;
    }
    if (this.#process?.running === true && this.#digest === desired.digest) return;
    if (this.#process?.running === true) {
      this.#log("operator: operator.json changed; restarting the operator");
      await this.#stopProcess();
      this.#restarts = 0;
      this.#nextStartAt = 0;
    }
    if (Date.now() < this.#nextStartAt) return;
    try {
      await this.#startProcess(desired);
    } catch (error) {
      this.#scheduleRestart(`could not be started: ${(error as Error).message}`);
    }
  }

  /** Counts a failed start or an unexpected exit and sets when to try again (exponential backoff). */
  #scheduleRestart(why: string): void {
    this.#restarts++;
    const delay = restartDelayMs(this.#restarts);
    this.#nextStartAt = Date.now() + delay;
    this.#log(
      `operator: ${why}; restart ${this.#restarts} in ${delay / 1000}s (log: ${simOperatorPaths(this.#workDir).log})`,
    );
  }

  async #startProcess(desired: DesiredOperator): Promise<void> {
    const paths = simOperatorPaths(this.#workDir);
    const [healthPort, metricsPort] = (await freePorts(2)) as [number, number];
    const child = await ManagedProcess.start({
      name: "kubelab-operator",
      command: desired.command,
      args: [...desired.args, "--health-port", String(healthPort), "--metrics-port", String(metricsPort)],
      env: { ...inheritedEnvironment(), ...desired.env },
      logPath: paths.log,
      // SIGTERM: the operator finishes in-flight work and releases its Lease.
      stopGraceMs: 30_000,
    });
    const startedAt = Date.now();
    this.#process = child;
    this.#digest = desired.digest;
    await writeFileAtomic(
      paths.state,
      `${JSON.stringify(
        {
          pid: child.pid,
          digest: desired.digest,
          healthPort,
          metricsPort,
          startedAt: new Date(startedAt).toISOString(),
          restarts: this.#restarts,
        } satisfies OperatorState,
        null,
        2,
      )}\n`,
      FileMode.public,
    );
    this.#log(
      `operator: started pid ${child.pid} (health :${healthPort}, metrics :${metricsPort}, log ${paths.log})`,
    );
    this.#onChange();
    void child.exited.then((exit) => {
      if (exit.requested || this.#stopping || this.#process !== child) return;
      this.#process = undefined;
      if (Date.now() - startedAt > HEALTHY_RUN_MS) this.#restarts = 0;
      this.#scheduleRestart(
        `pid ${child.pid} exited (code ${exit.code ?? "-"}, signal ${exit.signal ?? "-"})`,
      );
      this.#onChange();
    });
  }

  async #stopProcess(): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    this.#process = undefined;
    const exit = await child.stop();
    this.#log(`operator: pid ${child.pid} stopped (code ${exit.code ?? "-"}, signal ${exit.signal ?? "-"})`);
    this.#onChange();
  }
}

/** The supervisor's environment without a KUBECONFIG (the operator's is the impersonating one, by flag). */
function inheritedEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && key !== "KUBECONFIG") env[key] = value;
  }
  return env;
}
