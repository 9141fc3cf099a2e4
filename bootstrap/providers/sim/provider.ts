// The sim provider: a lab without VMs. A detached supervisor runs a real control plane (etcd, kube-apiserver,
// controller-manager, scheduler) with kwok simulating the lab's nodes; the rest of `up` is the same as on VMs.
import { openSync, closeSync, readFileSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

import type { Lab, LabNode } from "../../lab/config.ts";
import type { BinarySet } from "../../controlplane/binaries.ts";
import { COMPONENTS } from "../../controlplane/components.ts";
import { isRunning, killGroup, tailOfFile } from "../../controlplane/process.ts";
import { CommandError, InterruptedError, UsageError } from "../../errors.ts";
import { FileMode, pathExists, readTextIfExists, writeFileAtomic } from "../../files.ts";
import {
  INSTALLED_KUBEADM_VERSION,
  KUBEADM_PATCHES_DIR,
  renderInitConfiguration,
} from "../../provision/kubeadm.ts";
import { abortReason, runProcess } from "../../process.ts";
import { randomBootstrapToken } from "../../provision/token.ts";
import type { LocalLab, NodeStatus, Provider, ProviderContext } from "../provider.ts";
import { ensureSimOperator, simOperatorStatus } from "./operator.ts";
import {
  keptAcrossRestarts,
  labNodeSpecs,
  labSpec,
  readSpec,
  readSupervisorState,
  type SimPaths,
  simPaths,
  type SupervisorState,
  writeSpec,
} from "./spec.ts";

const SUPERVISOR = fileURLToPath(new URL("./supervisor.ts", import.meta.url));

/** Time limits of the sim provider. */
export const SIM_TIMEOUTS = {
  /** Supervisor start: the control plane with controllers and nodes takes ~10 s on 2 cores. */
  start: 240_000,
  /** Graceful stop before SIGKILL. */
  stop: 60_000,
  /** Each kubeadm phase (upload-config, addon coredns). */
  kubeadm: 120_000,
  /** API calls of status (a dead API server must not hang `bootstrap status`). */
  api: 5_000,
} as const;

export interface SimProviderOptions {
  /** Binaries to run; found or built (ensureBinaries, progress shown) when omitted. */
  readonly binaries?: BinarySet;
}

/**
 * Nodes are kwok-simulated Node objects of a real control plane, which runs in a supervisor process
 * detached from the CLI (state in .kubelab/sim/supervisor.json) until `bootstrap down`. Creating the
 * nodes starts the supervisor, or restarts a dead one from its data, and installs what `kubeadm init`
 * would have (kubeadm-config, kubelet-config, CoreDNS) with the real kubeadm of the binary set.
 */
export class SimProvider implements Provider {
  readonly name = "sim" as const;
  readonly capabilities = { shell: false, installsKubernetes: false } as const;
  /** KWOK only pretends to run pods: the operator and the etcd snapshots run on the host (sim/operator.ts, sim/etcd.ts). */
  readonly local: LocalLab = {
    runOperator: (_lab, spec, context) => ensureSimOperator(spec, context),
    operatorStatus: (_lab, context) => simOperatorStatus(context.workDir),
    backupEtcd: async (lab, options, context) => {
      const { simBackupEtcd } = await import("./etcd.ts");
      return simBackupEtcd(lab, options, context);
    },
    // Restores into a new etcd data dir and restarts the control plane on it.
    restoreEtcd: async (lab, snapshot, context) => {
      const { simRestoreEtcd } = await import("./etcd.ts");
      const control = {
        stop: (stopContext: ProviderContext) => this.#stop(stopContext),
        start: (startContext: ProviderContext) => this.createNodes(lab, lab.nodes, startContext),
      };
      return simRestoreEtcd(control, snapshot, context);
    },
    syncSnapshots: async (lab, options, context) => {
      const { simSyncSnapshots } = await import("./etcd.ts");
      await simSyncSnapshots(lab, options, context);
    },
    controlPlaneProcesses: async (context) => {
      const state = await readSupervisorState(simPaths(context.workDir).supervisor);
      if (state === undefined || !supervisorAlive(state, context.workDir)) return [];
      return COMPONENTS.map((component) => {
        const pid = state.components[component];
        return {
          component,
          ...(pid === undefined ? {} : { pid }),
          running: pid !== undefined && isRunning(pid),
        };
      });
    },
  };
  /** Found once per provider instance (a run calls createNodes once per node). */
  #binaries: Promise<BinarySet> | undefined;

  constructor(options: SimProviderOptions = {}) {
    if (options.binaries !== undefined) this.#binaries = Promise.resolve(options.binaries);
  }

  /** Nothing to check up front: the binaries are found or built when the nodes are created. */
  async preflight(): Promise<void> {}

  /** Sim renders nothing: no Vagrantfile, no node scripts. */
  renderFiles(): ReadonlyMap<string, string> {
    return new Map();
  }

  /**
   * `running` for nodes registered with a running supervisor's API server, `stopped` for every node when
   * the lab's data exists but its supervisor is gone (`up` restarts it), `not-created` otherwise.
   */
  async status(lab: Lab, context: ProviderContext): Promise<NodeStatus[]> {
    const paths = simPaths(context.workDir);
    const state = await readSupervisorState(paths.supervisor);
    const created = (await pathExists(paths.spec)) || state !== undefined;
    const all = (phase: NodeStatus["phase"], detail?: string): NodeStatus[] =>
      lab.nodes.map((node) => ({ name: node.name, phase, ...(detail === undefined ? {} : { detail }) }));
    if (!created) return all("not-created");
    if (state === undefined || !supervisorAlive(state, context.workDir)) {
      return all("stopped", "stopped (supervisor not running; `bootstrap up` restarts it)");
    }
    if (state.phase !== "running") return all("unknown", `supervisor pid ${state.pid} ${state.phase}`);
    const registered = await this.#registeredNodes(paths).catch(() => undefined);
    if (registered === undefined)
      return all("unknown", `supervisor pid ${state.pid}, API server not answering`);
    return lab.nodes.map((node) =>
      registered.has(node.name)
        ? { name: node.name, phase: "running", detail: `kwok (supervisor pid ${state.pid})` }
        : { name: node.name, phase: "not-created" },
    );
  }

  /**
   * Makes sure the supervisor runs (starting it, or restarting a dead one from its data), installs
   * kubeadm's objects once, and registers each of `nodes` that the API server does not know yet.
   */
  async createNodes(lab: Lab, nodes: readonly LabNode[], context: ProviderContext): Promise<void> {
    const paths = simPaths(context.workDir);
    const progress = (line: string): void => {
      context.logger.debug(`sim: ${line}`);
      context.progress?.(lab.controlPlane.name, line);
    };
    this.#binaries ??= this.#findBinaries(progress, context.signal);
    const binaries = await this.#binaries.catch((error: unknown) => {
      this.#binaries = undefined;
      throw error;
    });
    await this.#ensureSupervisor(lab, binaries, paths, context, progress);
    if (!(await pathExists(paths.kubeadmDone))) {
      await this.#installKubeadmObjects(lab, binaries, paths, context, progress);
    }
    const registered = await this.#registeredNodes(paths);
    const missing = nodes.filter((node) => !registered.has(node.name));
    if (missing.length > 0) {
      progress(`registering ${missing.map((node) => node.name).join(", ")}`);
      await this.#registerNodes(lab, missing, paths, binaries);
    }
  }

  /**
   * Stops the supervisor (SIGTERM: it stops the components in order; SIGKILL after SIM_TIMEOUTS.stop),
   * kills any component process of this lab that is still around, and removes .kubelab/sim.
   */
  async destroy(_lab: Lab, context: ProviderContext): Promise<void> {
    await this.#stop(context);
    await rm(simPaths(context.workDir).dir, { recursive: true, force: true });
  }

  /** Stops the supervisor and any component of the lab still around; the lab's data stays. */
  async #stop(context: ProviderContext): Promise<void> {
    const paths = simPaths(context.workDir);
    const state = await readSupervisorState(paths.supervisor);
    if (state !== undefined && supervisorAlive(state, context.workDir)) {
      context.progress?.("sim", `stopping the supervisor (pid ${state.pid})`);
      process.kill(state.pid, "SIGTERM");
      const deadline = Date.now() + SIM_TIMEOUTS.stop;
      while (isRunning(state.pid) && Date.now() < deadline) await sleep(200);
      if (isRunning(state.pid)) killGroup(state.pid, "SIGKILL");
    }
    await killLeftovers(paths, state);
  }

  runScript(node: LabNode): Promise<string> {
    return Promise.reject(noShell(node));
  }

  copyFromNode(node: LabNode): Promise<void> {
    return Promise.reject(noShell(node));
  }

  /** kwok nodes run no containers: the operator runs on the host (local), so there is nothing to load. */
  loadImage(lab: Lab): Promise<void> {
    return Promise.reject(noShell(lab.controlPlane));
  }

  ssh(node: LabNode): Promise<number> {
    return Promise.reject(noShell(node));
  }

  /** Copies the control plane's admin kubeconfig (API server on 127.0.0.1, embedded certificates). */
  async fetchAdminKubeconfig(_lab: Lab, localPath: string, context: ProviderContext): Promise<void> {
    const paths = simPaths(context.workDir);
    const kubeconfig = await readTextIfExists(paths.adminKubeconfig);
    if (kubeconfig === undefined) {
      throw new CommandError("sim", "the control plane has no admin kubeconfig yet", {
        hint: "run `bootstrap up` to create the lab",
      });
    }
    await writeFileAtomic(localPath, kubeconfig, FileMode.secret);
  }

  async #findBinaries(progress: (line: string) => void, signal: AbortSignal): Promise<BinarySet> {
    const { ensureBinaries } = await import("../../controlplane/binaries.ts");
    return ensureBinaries({ progress, signal });
  }

  async #ensureSupervisor(
    lab: Lab,
    binaries: BinarySet,
    paths: SimPaths,
    context: ProviderContext,
    progress: (line: string) => void,
  ): Promise<void> {
    const state = await readSupervisorState(paths.supervisor);
    if (state !== undefined && supervisorAlive(state, context.workDir)) {
      if (state.phase === "running") return;
      if (state.phase === "starting") {
        progress(`waiting for the supervisor (pid ${state.pid}) to start the control plane`);
        await this.#waitRunning(paths, state.pid, context);
        return;
      }
    }
    // A restart keeps the ports (and so the kubeconfig) of the lab's earlier runs.
    const previous = (await pathExists(paths.spec))
      ? await readSpec(paths.spec).catch(() => undefined)
      : undefined;
    await killLeftovers(paths, state);
    await mkdir(paths.dir, { recursive: true, mode: FileMode.secretDirectory });
    await writeSpec(paths.spec, { ...labSpec(lab, binaries.dir), ...keptAcrossRestarts(previous) });
    await rm(paths.supervisor, { force: true });
    progress(
      previous === undefined
        ? `starting the control plane and kwok nodes (log: ${paths.log})`
        : `restarting the control plane from its data in ${paths.cluster}`,
    );
    // A descriptor the detached supervisor keeps writing to after we exit. execa's types only accept
    // literal descriptor numbers; any open descriptor is passed to spawn() as it is.
    const log = openSync(paths.log, "a") as 3;
    let pid: number | undefined;
    try {
      const supervisor = execa(process.execPath, [SUPERVISOR, context.workDir], {
        detached: true,
        cleanup: false,
        stdin: "ignore",
        stdout: log,
        stderr: log,
        reject: false,
      });
      pid = supervisor.pid;
      supervisor.nodeChildProcess.unref();
      // Its outcome is read from supervisor.json; the promise only settles if it exits while we wait.
      void supervisor.then(() => undefined);
    } finally {
      closeSync(log);
    }
    if (pid === undefined) throw new CommandError("sim", `cannot start the supervisor (${SUPERVISOR})`);
    await this.#waitRunning(paths, pid, context);
  }

  /** Waits until supervisor `pid` reports running; stops it when interrupted, explains when it failed. */
  async #waitRunning(paths: SimPaths, pid: number, context: ProviderContext): Promise<void> {
    const deadline = Date.now() + SIM_TIMEOUTS.start;
    for (;;) {
      if (context.signal.aborted) {
        killGroup(pid, "SIGTERM");
        throw new InterruptedError(abortReason(context.signal));
      }
      const state = await readSupervisorState(paths.supervisor);
      if (state?.pid === pid && state.phase === "running") return;
      const failed = state?.pid === pid && state.phase === "failed";
      if (failed || !isRunning(pid) || Date.now() > deadline) {
        if (isRunning(pid)) killGroup(pid, "SIGTERM");
        const reason = failed
          ? (state.error ?? "failed")
          : isRunning(pid)
            ? `not running after ${SIM_TIMEOUTS.start / 1000}s`
            : "the supervisor exited";
        throw new CommandError("sim control plane", `${reason}\n${tailOfFile(paths.log, 15)}`, {
          logPath: paths.log,
          hint: `component logs are in ${join(paths.cluster, "logs")}; fix the cause and run \`bootstrap up\` again`,
        });
      }
      await sleep(250);
    }
  }

  /**
   * What `kubeadm init` installs besides the control plane, made by the real kubeadm of the binary set:
   * `upload-config all` (kubeadm-config and kubelet-config ConfigMaps with their RBAC) and `addon coredns`
   * (ServiceAccount, ClusterRole/Binding system:coredns, ConfigMap coredns, Deployment, Service kube-dns
   * at the 10th address of the service CIDR), from the same InitConfiguration the VMs would get.
   */
  async #installKubeadmObjects(
    lab: Lab,
    binaries: BinarySet,
    paths: SimPaths,
    context: ProviderContext,
    progress: (line: string) => void,
  ): Promise<void> {
    progress("installing kubeadm-config, kubelet-config and CoreDNS with kubeadm");
    // The token of this config is never registered (upload-config stores the ClusterConfiguration only).
    // The config names the nodes' patch directory; on the host kubeadm reads an empty one of the lab's instead
    // (the patches tune the kubelet, which sim nodes do not run).
    const patches = join(paths.dir, "kubeadm-patches");
    await mkdir(patches, { recursive: true, mode: 0o700 });
    const config = renderInitConfiguration(lab, randomBootstrapToken())
      .replaceAll(INSTALLED_KUBEADM_VERSION, binaries.versions.kubernetes)
      .replaceAll(KUBEADM_PATCHES_DIR, patches);
    const configPath = join(paths.dir, "kubeadm-init.yaml");
    await writeFileAtomic(configPath, config, FileMode.secret);
    try {
      for (const phase of [
        ["upload-config", "all"],
        ["addon", "coredns"],
      ]) {
        await runProcess(
          binaries.path("kubeadm"),
          ["init", "phase", ...phase, "--config", configPath, "--kubeconfig", paths.adminKubeconfig],
          {
            timeoutMs: SIM_TIMEOUTS.kubeadm,
            signal: context.signal,
            logFile: join(context.workDir, "logs", "sim.log"),
            label: `kubeadm init phase ${phase.join(" ")}`,
            onLine: (line) => progress(line),
          },
        );
      }
    } finally {
      await rm(configPath, { force: true });
    }
    await writeFileAtomic(paths.kubeadmDone, `${new Date().toISOString()}\n`);
  }

  async #registeredNodes(paths: SimPaths): Promise<Set<string>> {
    const { CoreV1Api } = await import("@kubernetes/client-node");
    const { loadKubeConfig } = await import("../../kube/client.ts");
    const core = loadKubeConfig(paths.adminKubeconfig).makeApiClient(CoreV1Api);
    const list = await Promise.race([
      core.listNode(),
      sleep(SIM_TIMEOUTS.api).then(() => {
        throw new Error(`no answer within ${SIM_TIMEOUTS.api / 1000}s`);
      }),
    ]);
    return new Set(list.items.map((node) => node.metadata?.name ?? ""));
  }

  /** Registers nodes added to the lab after its creation; kwok (in the supervisor) makes them Ready. */
  async #registerNodes(
    lab: Lab,
    nodes: readonly LabNode[],
    paths: SimPaths,
    binaries: BinarySet,
  ): Promise<void> {
    const { CoreV1Api } = await import("@kubernetes/client-node");
    const { loadKubeConfig } = await import("../../kube/client.ts");
    const { nodeObject } = await import("../../controlplane/kwok.ts");
    const { goPlatform } = await import("../../controlplane/versions.ts");
    const core = loadKubeConfig(paths.adminKubeconfig).makeApiClient(CoreV1Api);
    const specs = labNodeSpecs(lab);
    for (const node of nodes) {
      const index = specs.findIndex((spec) => spec.name === node.name);
      const spec = specs[index] ?? { name: node.name };
      try {
        await core.createNode({ body: nodeObject(spec, index, binaries.versions, goPlatform().arch) });
      } catch (error) {
        if ((error as { code?: number }).code !== 409) throw error;
      }
    }
  }
}

function noShell(node: LabNode): UsageError {
  return new UsageError(
    `${node.name} is a simulated (kwok) node of the sim provider: sim nodes have no shell`,
    {
      hint: "use kubectl to look at it (bootstrap kubeconfig), or a vagrant lab for machines you can log in to",
    },
  );
}

/** The supervisor of `state` is alive and is ours (its command line names this work dir), not a reused pid. */
function supervisorAlive(state: SupervisorState, workDir: string): boolean {
  if (!isRunning(state.pid)) return false;
  const command = commandLine(state.pid);
  return command === undefined || (command.includes(SUPERVISOR) && command.includes(workDir));
}

/**
 * Kills component processes of this lab that outlived their supervisor (killed with SIGKILL, or crashed):
 * the pids it recorded, and on Linux any process whose command line names the lab's cluster directory.
 */
async function killLeftovers(paths: SimPaths, state: SupervisorState | undefined): Promise<void> {
  const candidates = new Set<number>(Object.values(state?.components ?? {}));
  for (const pid of await processesMentioning(paths.cluster)) candidates.add(pid);
  const ours = [...candidates].filter(
    (pid) => isRunning(pid) && (commandLine(pid) ?? "").includes(paths.cluster),
  );
  for (const pid of ours) killGroup(pid, "SIGKILL");
  const deadline = Date.now() + 10_000;
  while (ours.some(isRunning) && Date.now() < deadline) await sleep(100);
}

/** The command line of a process (Linux /proc), or undefined when it cannot be read. */
function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return undefined;
  }
}

/** Pids whose command line contains `text` (Linux; elsewhere none: the recorded pids are used). */
async function processesMentioning(text: string): Promise<number[]> {
  const entries = await readdir("/proc").catch(() => [] as string[]);
  return entries
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .map(Number)
    .filter((pid) => (commandLine(pid) ?? "").includes(text));
}

/** @internal For tests: the supervisor's script. */
export const SUPERVISOR_SCRIPT = SUPERVISOR;

/** @internal Reads a sim lab's supervisor state (for tests and `status`). */
export async function simSupervisorState(workDir: string): Promise<SupervisorState | undefined> {
  return readSupervisorState(simPaths(workDir).supervisor);
}
