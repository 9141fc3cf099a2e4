// The control-plane engine: etcd, kube-apiserver and optionally kube-controller-manager, kube-scheduler and
// kwok-simulated nodes on loopback. The sim provider runs on it and the test harness is a thin layer over it.
import { randomBytes } from "node:crypto";
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Node,
} from "@kubernetes/client-node";
import { onExit } from "signal-exit";

import { CommandError, InterruptedError } from "../errors.ts";
import { runProcess } from "../process.ts";
import { type Logger, silentLogger } from "../log.ts";
import { type BinarySet, ensureBinaries } from "./binaries.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import {
  KWOK_MANAGED,
  KWOK_NODE_LABEL,
  KWOK_SILENCED,
  KWOK_USER,
  kwokRbac,
  kwokStages,
  type NodeSpec,
  nodeObject,
} from "./kwok.ts";
import { type ControlPlanePki, ensureControlPlanePki, pkiLayout } from "./cluster-pki.ts";
import {
  COMPONENTS,
  componentArgs,
  componentKubeconfigPath,
  type ComponentName,
  type ControlPlanePorts,
  type EtcdAccess,
  PORTS_OF,
} from "./components.ts";
import type { KeyPairPaths } from "./pki.ts";
import { freePorts, isPortFree } from "./ports.ts";
import { type ExitInfo, killGroup, ManagedProcess, waitForExitSync } from "./process.ts";
import { goPlatform } from "./versions.ts";

export type { NodeSpec } from "./kwok.ts";
export type { ControlPlanePki } from "./cluster-pki.ts";
export { COMPONENTS, type ComponentName, type ControlPlanePorts, type EtcdAccess } from "./components.ts";

export interface ControlPlaneOptions {
  /** Also run kube-controller-manager, kube-scheduler and kwok (Deployments, DaemonSets, Jobs work). */
  readonly controllers?: boolean;
  /** Simulated nodes, created before the start returns and Ready when it does (kwok runs for them). */
  readonly nodes?: readonly NodeSpec[];
  /**
   * Working directory (PKI, etcd data, kubeconfigs, logs). Given: it is kept, and an earlier run's PKI and
   * etcd data in it are reused (the sim provider restarts a lab this way). Omitted: a fresh temporary
   * directory, removed by stop().
   */
  readonly dir?: string;
  /** Keep a temporary directory after stop() (to read logs of a failed run). */
  readonly keepDir?: boolean;
  /** Binaries to run; found or built through ensureBinaries() when omitted. */
  readonly binaries?: BinarySet;
  readonly clusterName?: string;
  /** Default 10.96.0.0/12 (kubeadm's); the kubernetes Service gets its first address. */
  readonly serviceCidr?: string;
  /** Pod addresses kwok hands out. Default 10.244.0.0/16. */
  readonly podCidr?: string;
  readonly dnsDomain?: string;
  /**
   * The address kube-apiserver publishes in the `kubernetes` Endpoints. Nothing connects to it (clients use
   * 127.0.0.1); it must not be a loopback address, which Endpoints reject. Default 192.0.2.10 (TEST-NET-1).
   */
  readonly advertiseAddress?: string;
  /** Extra DNS names and IP addresses for the API server certificate. */
  readonly apiServerSans?: readonly string[];
  /** kube-controller-manager --node-monitor-grace-period (seconds); tests shorten it. */
  readonly nodeMonitorGracePeriodSeconds?: number;
  /** Node Lease duration kwok uses (renewed every quarter of it). Default 40, as the kubelet. */
  readonly nodeLeaseDurationSeconds?: number;
  /** etcd's data directory. Default `etcd` in the working directory; a restored one (bootstrap restore). */
  readonly etcdDataDir?: string;
  /** etcd --unsafe-no-fsync: faster, loses data on a host crash. For throwaway test clusters only. */
  readonly etcdUnsafeNoFsync?: boolean;
  /** Fixed ports (a restarted sim lab keeps its API server address); free ones are chosen otherwise. */
  readonly ports?: Partial<ControlPlanePorts>;
  /** Extra flags, appended (later flags win). */
  readonly extraArgs?: Partial<Record<ComponentName, readonly string[]>>;
  /** Whole start, binaries excluded. Default 120 s; on timeout the components' log tails are in the error. */
  readonly startTimeoutMs?: number;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
  /** Called when a component exits without being asked to (the sim supervisor restarts it). */
  readonly onUnexpectedExit?: (component: ComponentName, info: ExitInfo) => void;
  /** Progress lines for the binaries step (a cold build takes minutes). */
  readonly progress?: (line: string) => void;
}

export interface StartupTimings {
  readonly binariesMs: number;
  readonly etcdMs: number;
  readonly apiServerMs: number;
  /** Controllers, scheduler, kwok and nodes Ready; 0 without controllers or nodes. */
  readonly controllersMs: number;
  readonly totalMs: number;
}

/** Defaults of the options; no port or path is fixed: everything else is per instance. */
const DEFAULTS = {
  clusterName: "kubelab",
  serviceCidr: "10.96.0.0/12",
  podCidr: "10.244.0.0/16",
  dnsDomain: "cluster.local",
  advertiseAddress: "192.0.2.10",
  nodeLeaseDurationSeconds: 40,
  startTimeoutMs: 120_000,
  etcdName: "kubelab",
} as const;

/**
 * Starts a control plane and resolves when it is usable: etcd healthy, /readyz ok, and with controllers
 * the controller-manager and scheduler healthy, the `default` ServiceAccount present and every node Ready.
 * On any failure everything started so far is stopped before the error is thrown.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const binaries =
    options.binaries ?? (await ensureBinaries({ progress: options.progress, signal: options.signal }));
  const binariesMs = Date.now() - started;
  const persistent = options.dir !== undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "kubelab-cp-")));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const plane = new ControlPlane(options, binaries, dir, persistent);
  try {
    await plane.start(binariesMs, started);
  } catch (error) {
    await plane.stop().catch(() => {});
    throw error;
  }
  return plane;
}

/** A running control plane. `stop()` tears everything down and is safe to call more than once. */
export class ControlPlane {
  readonly dir: string;
  readonly binaries: BinarySet;
  readonly clusterName: string;
  /** The admin kubeconfig (system:masters), credentials embedded. */
  readonly kubeconfigPath: string;
  readonly logsDir: string;
  readonly pki: ControlPlanePki;
  readonly serviceCidr: string;
  readonly podCidr: string;
  readonly dnsDomain: string;
  #options: ControlPlaneOptions;
  #logger: Logger;
  #persistent: boolean;
  #ports: ControlPlanePorts | undefined;
  #etcdDataDir: string;
  #processes = new Map<ComponentName, ManagedProcess>();
  #nodes: NodeSpec[] = [];
  #kubeConfig: KubeConfig | undefined;
  #timings: StartupTimings | undefined;
  #stopping: Promise<void> | undefined;
  #removeExitHook: () => void;

  constructor(options: ControlPlaneOptions, binaries: BinarySet, dir: string, persistent: boolean) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger();
    this.#persistent = persistent;
    this.binaries = binaries;
    this.dir = dir;
    this.clusterName = options.clusterName ?? DEFAULTS.clusterName;
    this.serviceCidr = options.serviceCidr ?? DEFAULTS.serviceCidr;
    this.podCidr = options.podCidr ?? DEFAULTS.podCidr;
    this.dnsDomain = options.dnsDomain ?? DEFAULTS.dnsDomain;
    this.kubeconfigPath = join(dir, "admin.kubeconfig");
    this.logsDir = join(dir, "logs");
    this.#etcdDataDir = options.etcdDataDir ?? join(dir, "etcd");
    this.pki = pkiLayout(join(dir, "pki"));
    // Last resort for a crash, Ctrl-C or SIGTERM: kill every component, wait until they are gone (so no
    // file is written any more), then remove a temporary directory. stop() is the orderly path.
    this.#removeExitHook = onExit(() => {
      const pids = [...this.#processes.values()]
        .filter((process) => process.running)
        .map((process) => process.pid);
      for (const pid of pids) killGroup(pid, "SIGKILL");
      waitForExitSync(pids, 3_000);
      if (!persistent && options.keepDir !== true)
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    });
  }

  get #advertiseAddress(): string {
    return this.#options.advertiseAddress ?? DEFAULTS.advertiseAddress;
  }

  /** The API server URL (`https://127.0.0.1:<port>`). */
  get server(): string {
    return `https://127.0.0.1:${this.ports.apiServer}`;
  }

  get ports(): ControlPlanePorts {
    if (this.#ports === undefined) throw new Error("the control plane has not been started");
    return this.#ports;
  }

  /** A client configuration for the admin kubeconfig (`kubeConfig.makeApiClient(CoreV1Api)`). */
  get kubeConfig(): KubeConfig {
    if (this.#kubeConfig === undefined) throw new Error("the control plane has not been started");
    return this.#kubeConfig;
  }

  get timings(): StartupTimings {
    if (this.#timings === undefined) throw new Error("the control plane has not been started");
    return this.#timings;
  }

  get etcd(): EtcdAccess {
    const peerUrl = `https://127.0.0.1:${this.ports.etcdPeer}`;
    return {
      endpoint: `https://127.0.0.1:${this.ports.etcdClient}`,
      caCertPath: this.pki.etcdCa.certPath,
      certPath: this.pki.etcdHealthcheckClient.certPath,
      keyPath: this.pki.etcdHealthcheckClient.keyPath,
      dataDir: this.#etcdDataDir,
      name: DEFAULTS.etcdName,
      peerUrl,
      initialCluster: `${DEFAULTS.etcdName}=${peerUrl}`,
    };
  }

  /** Names of the simulated nodes. */
  get nodeNames(): string[] {
    return this.#nodes.map((node) => node.name);
  }

  /** Process ids of the running components (the sim provider records them to clean up after a crash). */
  get pids(): Partial<Record<ComponentName, number>> {
    const pids: Partial<Record<ComponentName, number>> = {};
    for (const [name, process] of this.#processes) if (process.running) pids[name] = process.pid;
    return pids;
  }

  /** Log file of a component (kept under `logsDir`). */
  logPath(component: ComponentName): string {
    return join(this.logsDir, `${component}.log`);
  }

  /** @internal Called once by startControlPlane. */
  async start(binariesMs: number, startedAt: number): Promise<void> {
    const deadline = Date.now() + (this.#options.startTimeoutMs ?? DEFAULTS.startTimeoutMs);
    await mkdir(this.logsDir, { recursive: true });
    await ensureControlPlanePki(this.pki, {
      serviceCidr: this.serviceCidr,
      dnsDomain: this.dnsDomain,
      advertiseAddress: this.#advertiseAddress,
      apiServerSans: this.#options.apiServerSans ?? [],
    });
    this.#ports = await this.#choosePorts();
    await this.#writeKubeconfigs();

    let mark = Date.now();
    await this.#startComponent("etcd", deadline);
    const etcdMs = Date.now() - mark;
    mark = Date.now();
    await this.#startComponent("kube-apiserver", deadline);
    const apiServerMs = Date.now() - mark;
    mark = Date.now();
    const withKwok = this.#options.controllers === true || (this.#options.nodes?.length ?? 0) > 0;
    if (withKwok) {
      await this.#applyKwokRbac();
      await this.#createNodes(this.#options.nodes ?? []);
      const starts: Promise<void>[] = [this.#startComponent("kwok", deadline)];
      if (this.#options.controllers === true) {
        starts.push(this.#startComponent("kube-controller-manager", deadline));
        starts.push(this.#startComponent("kube-scheduler", deadline));
      }
      await Promise.all(starts);
      await this.#waitNodesReady(this.nodeNames, deadline);
      if (this.#options.controllers === true) await this.#waitDefaultServiceAccount(deadline);
    }
    const controllersMs = withKwok ? Date.now() - mark : 0;
    this.#timings = { binariesMs, etcdMs, apiServerMs, controllersMs, totalMs: Date.now() - startedAt };
    this.#logger.debug(`control plane ${this.server} ready`, { timings: this.#timings, dir: this.dir });
  }

  /**
   * Stops every component (kwok, scheduler and controller-manager, then kube-apiserver, then etcd; SIGTERM,
   * SIGKILL after 10 s) and removes a temporary directory. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const stopAll = async (names: readonly ComponentName[]): Promise<void> => {
        await Promise.all(names.map(async (name) => this.#processes.get(name)?.stop()));
      };
      await stopAll(["kwok", "kube-scheduler", "kube-controller-manager"]);
      await stopAll(["kube-apiserver"]);
      await stopAll(["etcd"]);
      if (!this.#persistent && this.#options.keepDir !== true) {
        await rm(this.dir, { recursive: true, force: true });
      }
      this.#removeExitHook();
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Stops components and leaves the rest running (a restore drill stops kube-apiserver and etcd).
   * Stopped in the reverse of the start order.
   */
  async stopComponents(names: readonly ComponentName[]): Promise<void> {
    for (const name of [...COMPONENTS].reverse()) {
      if (names.includes(name)) await this.#processes.get(name)?.stop();
    }
  }

  /**
   * Starts stopped components again on the same ports and waits until they are healthy. `etcdDataDir`
   * switches etcd to another data directory first (one written by `etcdutl snapshot restore`).
   */
  async startComponents(
    names: readonly ComponentName[],
    options: { etcdDataDir?: string; timeoutMs?: number } = {},
  ): Promise<void> {
    if (options.etcdDataDir !== undefined) this.#etcdDataDir = options.etcdDataDir;
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULTS.startTimeoutMs);
    for (const name of COMPONENTS) {
      if (names.includes(name) && this.#processes.get(name)?.running !== true) {
        await this.#startComponent(name, deadline);
      }
    }
  }

  /** Creates more simulated nodes and waits until they are Ready. Needs kwok (controllers or nodes at start). */
  async addNodes(specs: readonly NodeSpec[], timeoutMs = 60_000): Promise<void> {
    if (!this.#processes.has("kwok")) {
      throw new Error("this control plane runs no kwok: start it with controllers or nodes");
    }
    await this.#createNodes(specs);
    await this.#waitNodesReady(
      specs.map((spec) => spec.name),
      Date.now() + timeoutMs,
    );
  }

  /**
   * Silences a node: kwok stops renewing its Lease and updating its status, as when a kubelet dies. With
   * controllers the controller-manager marks it NotReady after its node-monitor grace period.
   */
  async stopHeartbeats(node: string): Promise<void> {
    await this.#setKwokLabel(node, KWOK_SILENCED);
  }

  /** Lets kwok manage a silenced node again: its Lease is renewed and its Ready condition set True. */
  async startHeartbeats(node: string): Promise<void> {
    await this.#setKwokLabel(node, KWOK_MANAGED);
  }

  /**
   * Runs the set's kubectl against this control plane (admin kubeconfig) and resolves with its stdout;
   * a CommandError carries the last line of output. Everything is appended to logs/kubectl.log.
   */
  async kubectl(
    args: readonly string[],
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    const result = await runProcess(
      this.binaries.path("kubectl"),
      ["--kubeconfig", this.kubeconfigPath, ...args],
      {
        timeoutMs: options.timeoutMs ?? 60_000,
        signal: options.signal ?? this.#options.signal ?? new AbortController().signal,
        logFile: join(this.logsDir, "kubectl.log"),
        label: `kubectl ${args.join(" ")}`,
      },
    );
    return result.stdout;
  }

  async #setKwokLabel(node: string, value: string): Promise<void> {
    await this.kubeConfig
      .makeApiClient(CoreV1Api)
      .patchNode(
        { name: node, body: { metadata: { labels: { [KWOK_NODE_LABEL]: value } } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
  }

  async #choosePorts(): Promise<ControlPlanePorts> {
    const fixed = this.#options.ports ?? {};
    const keys = ["etcdClient", "etcdPeer", "apiServer", "controllerManager", "scheduler"] as const;
    const fresh = await freePorts(keys.length);
    const ports: Record<(typeof keys)[number], number> = {
      etcdClient: 0,
      etcdPeer: 0,
      apiServer: 0,
      controllerManager: 0,
      scheduler: 0,
    };
    keys.forEach((key, index) => {
      ports[key] = fixed[key] ?? fresh[index]!;
    });
    for (const key of keys) {
      if (fixed[key] !== undefined && !(await isPortFree(fixed[key]))) {
        throw new CommandError(
          this.clusterName,
          `port ${fixed[key]} (${key}) is in use by another program on 127.0.0.1`,
          { hint: "stop that program, or remove the lab and create it again to get new ports" },
        );
      }
    }
    return ports;
  }

  async #writeKubeconfigs(): Promise<void> {
    this.#kubeConfig = undefined;
    const write = async (file: string, user: string, pair: KeyPairPaths): Promise<void> => {
      await writeKubeconfig(file, {
        server: this.server,
        caCertPath: this.pki.ca.certPath,
        clientCertPath: pair.certPath,
        clientKeyPath: pair.keyPath,
        user,
        clusterName: this.clusterName,
      });
      await chmod(file, 0o600);
    };
    await mkdir(join(this.dir, "kubeconfigs"), { recursive: true, mode: 0o700 });
    await write(this.kubeconfigPath, "kubernetes-admin", this.pki.admin);
    await write(
      componentKubeconfigPath(this.dir, "kube-controller-manager"),
      "system:kube-controller-manager",
      this.pki.controllerManager,
    );
    await write(
      componentKubeconfigPath(this.dir, "kube-scheduler"),
      "system:kube-scheduler",
      this.pki.scheduler,
    );
    await write(componentKubeconfigPath(this.dir, "kwok"), KWOK_USER, this.pki.kwok);
    await writeFile(join(this.dir, "kwok.yaml"), await kwokStages());
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(this.kubeconfigPath);
    this.#kubeConfig = kubeConfig;
  }

  /**
   * Starts one component and waits until it is healthy, or throws with its log tail. A port chosen by us
   * that another program took in the meantime ("address already in use") is replaced and the start retried.
   */
  async #startComponent(component: ComponentName, deadline: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const logPath = this.logPath(component);
      const offset = await stat(logPath).then(
        (info) => info.size,
        () => 0,
      );
      try {
        await this.#startComponentOnce(component, deadline);
        return;
      } catch (error) {
        const output = await readFile(logPath, "utf8").then(
          (text) => text.slice(offset),
          () => "",
        );
        const ports = PORTS_OF[component].filter((key) => this.#options.ports?.[key] === undefined);
        if (attempt >= 3 || ports.length === 0 || !/address already in use/i.test(output)) throw error;
        this.#logger.debug(`${component}: a port was taken by another program; retrying on new ports`);
        const fresh = await freePorts(ports.length);
        this.#ports = {
          ...this.ports,
          ...Object.fromEntries(ports.map((key, index) => [key, fresh[index]!])),
        };
        if (component === "kube-apiserver") await this.#writeKubeconfigs();
      }
    }
  }

  async #startComponentOnce(component: ComponentName, deadline: number): Promise<void> {
    this.#options.signal?.throwIfAborted();
    const logPath = this.logPath(component);
    await appendFile(logPath, `\n=== ${new Date().toISOString()} starting ${component}\n`);
    const process = await ManagedProcess.start({
      name: component,
      command: this.binaries.path(component),
      args: componentArgs(component, {
        dir: this.dir,
        clusterName: this.clusterName,
        serviceCidr: this.serviceCidr,
        podCidr: this.podCidr,
        dnsDomain: this.dnsDomain,
        advertiseAddress: this.#advertiseAddress,
        ports: this.ports,
        pki: this.pki,
        etcd: this.etcd,
        etcdClusterToken: `${this.clusterName}-${randomBytes(4).toString("hex")}`,
        etcdUnsafeNoFsync: this.#options.etcdUnsafeNoFsync === true,
        nodeMonitorGracePeriodSeconds: this.#options.nodeMonitorGracePeriodSeconds,
        nodeLeaseDurationSeconds: this.#options.nodeLeaseDurationSeconds ?? DEFAULTS.nodeLeaseDurationSeconds,
        extraArgs: this.#options.extraArgs?.[component] ?? [],
      }),
      logPath,
    });
    this.#processes.set(component, process);
    void process.exited.then((info) => {
      if (!info.requested && this.#stopping === undefined) {
        this.#logger.warn(`${component} exited unexpectedly (${info.code ?? info.signal}); log: ${logPath}`);
        this.#options.onUnexpectedExit?.(component, info);
      }
    });
    const started = Date.now();
    await this.#pollUntil(`${component} to become healthy`, deadline, [process], () =>
      this.#healthy(component),
    );
    this.#logger.debug(`${component} healthy after ${Date.now() - started} ms (pid ${process.pid})`);
  }

  async #healthy(component: ComponentName): Promise<boolean> {
    const ports = this.ports;
    const pki = this.pki;
    switch (component) {
      case "etcd": {
        const response = await httpsGet(`${this.etcd.endpoint}/health`, {
          ca: pki.etcdCa.certPath,
          cert: pki.etcdHealthcheckClient.certPath,
          key: pki.etcdHealthcheckClient.keyPath,
        });
        return response.status === 200 && /"health":\s*"true"/.test(response.body);
      }
      case "kube-apiserver": {
        const response = await httpsGet(`${this.server}/readyz`, {
          ca: pki.ca.certPath,
          cert: pki.admin.certPath,
          key: pki.admin.keyPath,
        });
        return response.status === 200;
      }
      case "kube-controller-manager":
        return (
          (await httpsGet(`https://127.0.0.1:${ports.controllerManager}/healthz`, { ca: pki.ca.certPath }))
            .status === 200
        );
      case "kube-scheduler":
        return (
          (await httpsGet(`https://127.0.0.1:${ports.scheduler}/healthz`, { ca: pki.ca.certPath })).status ===
          200
        );
      case "kwok":
        // kwok serves nothing; it is healthy once it made the nodes Ready, checked by the caller.
        return true;
    }
  }

  async #applyKwokRbac(): Promise<void> {
    const rbac = this.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const { role, binding } = kwokRbac();
    await ignoreConflict(rbac.createClusterRole({ body: role }));
    await ignoreConflict(rbac.createClusterRoleBinding({ body: binding }));
  }

  async #createNodes(specs: readonly NodeSpec[]): Promise<void> {
    const core = this.kubeConfig.makeApiClient(CoreV1Api);
    const arch = goPlatform().arch;
    for (const spec of specs) {
      const index = this.#nodes.length;
      if (!this.#nodes.some((node) => node.name === spec.name)) this.#nodes.push(spec);
      const node: V1Node = nodeObject(spec, index, this.binaries.versions, arch);
      await ignoreConflict(core.createNode({ body: node }));
    }
  }

  async #waitNodesReady(names: readonly string[], deadline: number): Promise<void> {
    if (names.length === 0) return;
    const core = this.kubeConfig.makeApiClient(CoreV1Api);
    const watched = [...this.#processes.values()];
    await this.#pollUntil(`nodes ${names.join(", ")} to become Ready`, deadline, watched, async () => {
      const list = await core.listNode({ labelSelector: `${KWOK_NODE_LABEL}=${KWOK_MANAGED}` });
      const ready = new Set(
        list.items
          .filter((node) => node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
          .map((node) => node.metadata?.name),
      );
      return names.every((name) => ready.has(name));
    });
  }

  async #waitDefaultServiceAccount(deadline: number): Promise<void> {
    const core = this.kubeConfig.makeApiClient(CoreV1Api);
    const watched = [...this.#processes.values()];
    await this.#pollUntil("the default ServiceAccount", deadline, watched, async () => {
      try {
        await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
        return true;
      } catch {
        return false;
      }
    });
  }

  /**
   * Polls `check` until it returns true. Fails early when a watched process exits, and at the deadline;
   * both errors carry the tail of every component's log so a failed start explains itself.
   */
  async #pollUntil(
    what: string,
    deadline: number,
    watched: readonly ManagedProcess[],
    check: () => Promise<boolean>,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.#options.signal?.aborted === true) throw new InterruptedError("abort");
      const dead = watched.find((process) => !process.running);
      if (dead !== undefined) {
        const info = dead.exitInfo;
        throw new CommandError(
          dead.name,
          `exited (${info?.code ?? info?.signal}) while waiting for ${what}\n${this.#logTails([dead.name as ComponentName])}`,
          { logPath: dead.logPath, hint: `read ${this.logsDir} for every component's log` },
        );
      }
      try {
        if (await check()) return;
      } catch {
        // Not up yet (connection refused, 503...): keep polling until the deadline.
      }
      if (Date.now() > deadline) {
        throw new CommandError(
          this.clusterName,
          `timed out waiting for ${what}\n${this.#logTails([...this.#processes.keys()])}`,
          {
            logPath: this.logsDir,
            hint: "the machine may be overloaded; raise startTimeoutMs or read the logs above",
          },
        );
      }
      await sleep(Math.min(100 * 2 ** Math.min(attempt, 3), 500));
    }
  }

  #logTails(components: readonly ComponentName[]): string {
    return components
      .map((name) => {
        const process = this.#processes.get(name);
        const tail = process?.logTail(15) ?? "";
        return `--- ${name} (${this.logPath(name)}) ---\n${tail}`;
      })
      .join("\n");
  }
}

async function ignoreConflict(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
}

/** GET over TLS with our CA (never skipping verification) and an optional client certificate. */
function httpsGet(
  url: string,
  tls: { ca: string; cert?: string; key?: string },
  timeoutMs = 5_000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "GET",
        ca: readFileSync(tls.ca),
        cert: tls.cert === undefined ? undefined : readFileSync(tls.cert),
        key: tls.key === undefined ? undefined : readFileSync(tls.key),
        timeout: timeoutMs,
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
        response.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}
