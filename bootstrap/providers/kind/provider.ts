// The kind provider: the lab's nodes as kind containers (kind's node image runs kubeadm), where Docker exists.
import { mkdir, readFile, rm } from "node:fs/promises";
import { basename, join } from "node:path";

import { caCertHash } from "../../provision/cahash.ts";
import type { Lab, LabNode } from "../../lab/config.ts";
import { CommandError, StateError, UsageError } from "../../errors.ts";
import { FileMode, readTextIfExists, writeFileAtomic } from "../../files.ts";
import { loadIntoKindCluster } from "../../image/load.ts";
import { runProcess, type RunProcessOptions } from "../../process.ts";
import { shellQuote } from "../../provision/script.ts";
import { randomBootstrapToken, type TokenSource } from "../../provision/token.ts";
import { nodeLogPath } from "../../lab/workdir.ts";
import {
  KIND_CA_FILES,
  kindContainerName,
  kindNodeImage,
  renderKindConfig,
  TESTED_KIND_VERSION,
} from "./config.ts";
import { asStepFailure, runInteractive, scriptMarkers, writeCopiedFile } from "../node-io.ts";
import { hostBackupsDir } from "../provider.ts";
import type { NodePhase, NodeStatus, Provider, ProviderContext, RunScriptOptions } from "../provider.ts";

/** The one line a user without kind needs (kind builds from Go modules; it also needs a container engine). */
export const KIND_INSTALL_HINT = `install Docker and kind (go install sigs.k8s.io/kind@${TESTED_KIND_VERSION}, or https://kind.sigs.k8s.io/docs/user/quick-start/#installation), or run a lab without containers: bootstrap up --provider sim`;

/** Time limits of the kind and container-engine commands; `create` includes the node image pull. */
export const KIND_TIMEOUTS = {
  version: 30_000,
  engine: 60_000,
  list: 60_000,
  create: 30 * 60_000,
  update: 60_000,
  start: 2 * 60_000,
  copy: 120_000,
  destroy: 10 * 60_000,
} as const;

/** What a call of kind or the engine may set: its limit, log, live lines, secret stdout, short name. */
type CallOptions = Pick<RunProcessOptions, "timeoutMs" | "logFile" | "onLine" | "secretStdout" | "label">;

/** The readable config, rendered with the other files; the one kind gets (with secrets) is kind/cluster.yaml. */
export const KIND_CONFIG_FILE = "kind-config.yaml";
/** The provider's own folder in the work dir (0700): the exact cluster config and kind's kubeconfig. */
const KIND_DIR = "kind";

/** Lab node name -> kind container name, written when the cluster is made. */
const NODE_MAP_FILE = join(KIND_DIR, "nodes.json");

/** Where uploaded scripts land in a node container: root's home, which only root can read. */
const NODE_DROPBOX = "/root";

export interface KindProviderOptions {
  /** The kind program; `kind` from PATH by default. */
  readonly command?: string;
  /**
   * The container engine's CLI, for what kind does not do (sizing, start, exec, copy): `docker` by default,
   * or the engine kind itself is told to use with KIND_EXPERIMENTAL_PROVIDER (podman, nerdctl).
   */
  readonly engine?: string;
  /** KUBELAB_KIND_NODE_IMAGE: a node image other than `kindest/node:v<patch>`. */
  readonly nodeImage?: string;
  /** The join token's source; random by default. */
  readonly tokenSource?: TokenSource;
}

/**
 * Drives `kind` (create, get, delete) and the container engine (update, start, exec, cp) with the
 * config rendered from lab.yaml. kind makes the whole cluster in one `kind create cluster`, so creating
 * the first node creates them all; nodes cannot be added to an existing kind cluster. Every command runs
 * in the work dir (kind resolves the config's mount paths there) with kind's kubeconfig kept in
 * `kind/kubeconfig`, so the user's ~/.kube/config is never touched.
 */
export class KindProvider implements Provider {
  readonly name = "kind" as const;
  /** Node containers have a shell (`docker exec`), but kind runs kubeadm itself: no install scripts. */
  readonly capabilities = { shell: true, installsKubernetes: false } as const;
  readonly #command: string;
  readonly #engine: string;
  readonly #nodeImage: string | undefined;
  readonly #tokenSource: TokenSource;

  constructor(options: KindProviderOptions = {}) {
    this.#command = options.command ?? "kind";
    this.#engine = options.engine ?? "docker";
    this.#nodeImage = options.nodeImage;
    this.#tokenSource = options.tokenSource ?? randomBootstrapToken;
  }

  /**
   * kind must be installed and the container engine must answer (MissingToolError or UsageError, exit 2,
   * one line each); the lab's Kubernetes version must name a node image (UsageError). Changes nothing.
   */
  async preflight(lab: Lab, context: ProviderContext): Promise<void> {
    const logFile = this.#logFile(context);
    const { stdout } = await this.#kind(["version"], context, { timeoutMs: KIND_TIMEOUTS.version, logFile });
    const version = /\bv(\d+)\.(\d+)\.(\d+)/.exec(stdout);
    if (
      version !== null &&
      compareVersions(version.slice(1).map(Number), parseVersion(TESTED_KIND_VERSION)) < 0
    ) {
      context.logger.warn(
        `kind ${version[0]} is older than ${TESTED_KIND_VERSION}, the version kubelab is tested with; if its node image fails, run: go install sigs.k8s.io/kind@${TESTED_KIND_VERSION}`,
      );
    }
    try {
      await this.#engineCommand(["info", "--format", engineVersionTemplate(this.#engine)], context, {
        timeoutMs: KIND_TIMEOUTS.engine,
        logFile,
      });
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      throw new UsageError(
        `the container engine does not answer (${this.#engine} info failed); kind needs a running Docker (or Podman) engine`,
        { cause: error, hint: "start Docker, or run a lab without containers: bootstrap up --provider sim" },
      );
    }
    kindNodeImage(lab, this.#nodeImage);
  }

  renderFiles(lab: Lab): ReadonlyMap<string, string> {
    return new Map([
      [KIND_CONFIG_FILE, renderKindConfig(lab, { nodeImage: kindNodeImage(lab, this.#nodeImage) })],
    ]);
  }

  async status(lab: Lab, context: ProviderContext): Promise<NodeStatus[]> {
    const states = await this.#containerStates(lab, context);
    return lab.nodes.map((node) => {
      const container = kindContainerName(lab, node);
      const state = states.get(container);
      if (state === undefined) return { name: node.name, phase: "not-created" };
      return { name: node.name, phase: phaseOf(state), detail: `${this.#engine}: ${state} (${container})` };
    });
  }

  /**
   * Creates the whole cluster when it does not exist (whatever `nodes` holds: kind makes every node in one
   * go), then sizes the containers from lab.yaml; starts node containers that are stopped. A node that is
   * missing from an existing cluster cannot be added (StateError with the way out).
   */
  async createNodes(lab: Lab, nodes: readonly LabNode[], context: ProviderContext): Promise<void> {
    const states = await this.#containerStates(lab, context);
    if (states.size === 0) {
      await this.#createCluster(lab, context);
      return;
    }
    for (const node of nodes) {
      const container = kindContainerName(lab, node);
      const state = states.get(container);
      if (state === undefined) {
        throw new StateError(
          `the kind cluster ${lab.name} exists without ${node.name} (container ${container}): kind cannot add nodes to an existing cluster`,
          { hint: "recreate the lab with its new shape: bootstrap down, then bootstrap up" },
        );
      }
      if (phaseOf(state) === "running") continue;
      const logFile = nodeLogPath(context.workDir, node.name);
      try {
        await this.#engineCommand(["start", container], context, { timeoutMs: KIND_TIMEOUTS.start, logFile });
      } catch (error) {
        throw asStepFailure(error, "create-nodes", node.name, logFile);
      }
    }
  }

  async destroy(lab: Lab, context: ProviderContext): Promise<void> {
    await this.#kind(
      ["delete", "cluster", "--name", lab.name, "--kubeconfig", join(KIND_DIR, "kubeconfig")],
      context,
      {
        timeoutMs: KIND_TIMEOUTS.destroy,
        logFile: this.#logFile(context),
        onLine: (line) => context.progress?.(lab.controlPlane.name, line.trim()),
      },
    );
    await rm(join(context.workDir, KIND_DIR), { recursive: true, force: true });
    await rm(join(context.workDir, KIND_CONFIG_FILE), { force: true });
  }

  /** kind loads into every node of the cluster at once: `nodes` are all of them whenever up calls this. */
  async loadImage(
    lab: Lab,
    archive: string,
    _nodes: readonly LabNode[],
    context: ProviderContext,
  ): Promise<void> {
    context.progress?.(lab.controlPlane.name, `kind load image-archive ${basename(archive)}`);
    await loadIntoKindCluster(archive, lab.name, {
      kind: this.#command,
      workDir: context.workDir,
      logFile: nodeLogPath(context.workDir, lab.controlPlane.name),
      signal: context.signal,
    });
  }

  async runScript(
    node: LabNode,
    scriptPath: string,
    options: RunScriptOptions,
    context: ProviderContext,
  ): Promise<string> {
    const container = await this.#containerOf(node, context);
    const logFile = nodeLogPath(context.workDir, node.name);
    const remote = `${NODE_DROPBOX}/kubelab-${basename(scriptPath)}`;
    try {
      await this.#engineCommand(["cp", scriptPath, `${container}:${remote}`], context, {
        timeoutMs: KIND_TIMEOUTS.copy,
        logFile,
      });
      // The copy is removed whatever the outcome: scripts may embed secrets.
      const command = `bash ${shellQuote(remote)}; status=$?; rm -f ${shellQuote(remote)}; exit $status`;
      const { stdout } = await this.#engineCommand(["exec", container, "bash", "-c", command], context, {
        timeoutMs: options.timeoutMs,
        logFile,
        label: `${this.#engine} exec ${container} (${options.step})`,
        onLine: scriptMarkers(node.name, context),
      });
      return stdout;
    } catch (error) {
      throw asStepFailure(error, options.step, node.name, logFile);
    }
  }

  async copyFromNode(
    node: LabNode,
    remotePath: string,
    localPath: string,
    context: ProviderContext,
  ): Promise<void> {
    const container = await this.#containerOf(node, context);
    const logPath = nodeLogPath(context.workDir, node.name);
    const { stdout } = await this.#engineCommand(["exec", container, "cat", "--", remotePath], context, {
      timeoutMs: KIND_TIMEOUTS.copy,
      logFile: logPath,
      secretStdout: true,
      label: `${this.#engine} exec ${container} (copy ${remotePath})`,
    });
    await writeCopiedFile(stdout, localPath, { node: node.name, remotePath, logPath });
  }

  /** kind's kubeconfig names https://127.0.0.1:<port>, the API server port kind publishes on the host. */
  async fetchAdminKubeconfig(lab: Lab, localPath: string, context: ProviderContext): Promise<void> {
    const { stdout } = await this.#kind(["get", "kubeconfig", "--name", lab.name], context, {
      timeoutMs: KIND_TIMEOUTS.list,
      logFile: this.#logFile(context),
      secretStdout: true,
    });
    if (!/\bclusters:/.test(stdout)) {
      throw new CommandError(`kind get kubeconfig --name ${lab.name}`, "printed no kubeconfig", {
        logPath: this.#logFile(context),
      });
    }
    await writeFileAtomic(localPath, stdout.endsWith("\n") ? stdout : `${stdout}\n`, FileMode.secret);
  }

  async ssh(node: LabNode, command: readonly string[], context: ProviderContext): Promise<number> {
    const container = await this.#containerOf(node, context);
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
    const args = ["exec", "-i", ...(interactive ? ["-t"] : []), container];
    args.push(...(command.length > 0 ? command : ["bash", "-l"]));
    return runInteractive(this.#engine, args, context, { installHint: KIND_INSTALL_HINT });
  }

  /**
   * `kind create cluster` with the secret config: the lab CA is made first (or reused from an earlier,
   * interrupted attempt) so workers can pin it; then every container is capped at its lab.yaml size.
   */
  async #createCluster(lab: Lab, context: ProviderContext): Promise<void> {
    const kindDir = join(context.workDir, KIND_DIR);
    await mkdir(kindDir, { recursive: true, mode: FileMode.secretDirectory });
    // Mounted into the control plane (renderKindConfig); made here so docker does not create it as root.
    await mkdir(hostBackupsDir(context.workDir), { recursive: true, mode: 0o700 });
    const caPem = await ensureLabCa(context.workDir);
    const config = renderKindConfig(lab, {
      nodeImage: kindNodeImage(lab, this.#nodeImage),
      join: { token: this.#tokenSource(), caCertHash: caCertHash(caPem) },
    });
    const configPath = join(KIND_DIR, "cluster.yaml");
    await writeFileAtomic(join(context.workDir, configPath), config, FileMode.secret);
    const containers = Object.fromEntries(lab.nodes.map((node) => [node.name, kindContainerName(lab, node)]));
    await writeFileAtomic(
      join(context.workDir, NODE_MAP_FILE),
      `${JSON.stringify({ cluster: lab.name, nodes: containers }, null, 2)}\n`,
    );
    const logFile = this.#logFile(context);
    try {
      await this.#kind(
        [
          "create",
          "cluster",
          "--name",
          lab.name,
          "--config",
          configPath,
          "--kubeconfig",
          join(KIND_DIR, "kubeconfig"),
        ],
        context,
        {
          timeoutMs: KIND_TIMEOUTS.create,
          logFile,
          // kind draws its progress on stderr: " ✓ Preparing nodes 📦", " • Joining worker nodes 🚜 ...".
          onLine: (line) => {
            const text = line.replace(/[^\x20-\x7e]/g, "").trim();
            if (text !== "" && !text.startsWith("Creating cluster"))
              context.progress?.(lab.controlPlane.name, text);
          },
        },
      );
    } catch (error) {
      throw asStepFailure(error, "create-nodes", lab.controlPlane.name, logFile, {
        command: "kind create cluster",
        hint: "kind removed the half-made cluster; fix the cause and run bootstrap up again",
      });
    }
    for (const node of lab.nodes) {
      const container = kindContainerName(lab, node);
      const memory = `${node.memoryMiB}m`;
      await this.#engineCommand(
        ["update", "--cpus", String(node.cpus), "--memory", memory, "--memory-swap", memory, container],
        context,
        { timeoutMs: KIND_TIMEOUTS.update, logFile: nodeLogPath(context.workDir, node.name) },
      );
      context.progress?.(node.name, `${container}: ${node.cpus} CPU, ${node.memoryMiB} MiB`);
    }
  }

  /** Container name -> engine state ("running", "exited") of the lab's kind cluster; empty when none. */
  async #containerStates(lab: Lab, context: ProviderContext): Promise<Map<string, string>> {
    const logFile = this.#logFile(context);
    // kind prints "No kind nodes found for cluster ..." on stderr, nothing on stdout, when there is none.
    const { stdout } = await this.#kind(["get", "nodes", "--name", lab.name], context, {
      timeoutMs: KIND_TIMEOUTS.list,
      logFile,
    });
    const containers = stdout
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
    if (containers.length === 0) return new Map();
    const { stdout: inspected } = await this.#engineCommand(
      ["inspect", "--format", "{{.Name}} {{.State.Status}}", ...containers],
      context,
      { timeoutMs: KIND_TIMEOUTS.list, logFile },
    );
    const states = new Map<string, string>();
    for (const line of inspected.split("\n")) {
      const [name, state] = line.trim().split(/\s+/);
      if (name !== undefined && name !== "" && state !== undefined)
        states.set(name.replace(/^\//, ""), state);
    }
    return states;
  }

  /**
   * The container of `node`, from kind/nodes.json (written when the cluster was made): runScript, copy and
   * ssh get a node without its lab, and the container's name depends on the lab's name and order.
   */
  async #containerOf(node: LabNode, context: ProviderContext): Promise<string> {
    const text = await readTextIfExists(join(context.workDir, NODE_MAP_FILE));
    const containers =
      text === undefined ? {} : (JSON.parse(text) as { nodes?: Record<string, string> }).nodes;
    const container = containers?.[node.name];
    if (container === undefined) {
      throw new StateError(`${node.name} has no kind container: the lab's kind cluster was not created`, {
        hint: "run bootstrap up first",
      });
    }
    return container;
  }

  #logFile(context: ProviderContext): string {
    return join(context.workDir, "logs", "kind.log");
  }

  #kind(args: readonly string[], context: ProviderContext, options: CallOptions) {
    // kind deletes a half-made cluster when interrupted: SIGINT, and time to do so.
    return this.#run(this.#command, args, context, options, {
      killSignal: "SIGINT",
      forceKillAfterMs: 60_000,
    });
  }

  #engineCommand(args: readonly string[], context: ProviderContext, options: CallOptions) {
    return this.#run(this.#engine, args, context, options, {});
  }

  #run(
    program: string,
    args: readonly string[],
    context: ProviderContext,
    options: CallOptions,
    stopping: Pick<RunProcessOptions, "killSignal" | "forceKillAfterMs">,
  ) {
    return runProcess(program, args, {
      ...options,
      ...stopping,
      missingToolHint: KIND_INSTALL_HINT,
      label: options.label ?? `${basename(program)} ${args.join(" ")}`,
      cwd: context.workDir,
      signal: context.signal,
    });
  }
}

/**
 * The lab CA in the work dir's pki/ (ca.crt public, ca.key 0600), made once: kubeadm init in the control
 * plane container uses it, and its public-key hash is what the workers pin. Returns the certificate PEM.
 */
async function ensureLabCa(workDir: string): Promise<string> {
  const certPath = join(workDir, KIND_CA_FILES.cert);
  const keyPath = join(workDir, KIND_CA_FILES.key);
  const { allExist, CertificateAuthority } = await import("../../controlplane/pki.ts");
  if (!(await allExist([certPath, keyPath]))) {
    await rm(join(workDir, "pki"), { recursive: true, force: true });
    await CertificateAuthority.create(join(workDir, "pki"), "ca", "kubernetes");
  }
  return readFile(certPath, "utf8");
}

/** kind node containers' engine states, as the plan sees them. */
function phaseOf(state: string): NodePhase {
  if (state === "running") return "running";
  if (["exited", "created", "paused", "stopped", "dead"].includes(state)) return "stopped";
  return "unknown";
}

function parseVersion(version: string): number[] {
  return version.replace(/^v/, "").split(".").map(Number);
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/**
 * The `ENGINE info --format` template that prints the engine's version: Docker (and nerdctl) call it
 * ServerVersion; Podman's info has no such field (a template error, exit 125) and keeps it in Version.Version.
 */
export function engineVersionTemplate(engine: string): string {
  return basename(engine) === "podman" ? "{{.Version.Version}}" : "{{.ServerVersion}}";
}
