// The podman provider: each lab node a systemd container running the very node scripts the VMs run.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

import { ensureRootfs, rootfsDigest } from "../../kit/rootfs.ts";
import { kitServerAddress, type Lab, type LabNode } from "../../lab/config.ts";
import { usesKit } from "../../lab/sources.ts";
import { kitPaths, missingFromKit } from "../../kit/kit.ts";
import { kitServerName, startKitServer } from "../../kit/serve.ts";
import { CommandError, StateError, UsageError } from "../../errors.ts";
import { FileMode } from "../../files.ts";
import { networksOverlap, parseCidr } from "../../lab/ipv4.ts";
import { API_SERVER_PORT } from "../../provision/kubeadm.ts";
import { loadIntoPodmanNode } from "../../image/load.ts";
import { runProcess, type RunProcessOptions } from "../../process.ts";
import { shellQuote } from "../../provision/script.ts";
import { nodeLogPath } from "../../lab/workdir.ts";
import {
  asStepFailure,
  runInteractive,
  scriptMarkers,
  writeCopiedFile,
  writeHostKubeconfig,
} from "../node-io.ts";
import {
  hostBackupsDir,
  type NodePhase,
  type NodeStatus,
  type Provider,
  type ProviderContext,
  type RunScriptOptions,
} from "../provider.ts";
import { HOST_PATHS, prepareHostCgroups, releaseHostCgroups, type HostPaths } from "./host-cgroups.ts";
import {
  ENTRYPOINT_FILE,
  nodeContainerfile,
  nodeEntrypoint,
  nodeImageReference,
  nodeRootfsImage,
  nodeRootfsSpec,
} from "./node-image.ts";
import {
  ensureLabId,
  isLeftover,
  listLabelled,
  readLabId,
  removeObjects,
  type LabObject,
  type Podman,
} from "./objects.ts";
import {
  containerdVolumeName,
  containerName,
  LAB_ID_LABEL,
  LAB_LABEL,
  networkCreateArgs,
  networkName,
  NODE_LABEL,
  nodeCreateArgs,
  nodeLimits,
  ownerLabels,
  volumeCreateArgs,
  type LabOwner,
} from "./spec.ts";

/** The one line a user without podman needs. */
export const PODMAN_INSTALL_HINT =
  "install podman and runc (Debian/Ubuntu: sudo apt-get install podman runc debootstrap), or run a lab without containers: bootstrap up --provider sim";

/** Time limits of the podman commands; `import` includes a first node image of ~400 MB. */
export const PODMAN_TIMEOUTS = {
  version: 30_000,
  list: 60_000,
  create: 2 * 60_000,
  start: 2 * 60_000,
  boot: 3 * 60_000,
  import: 10 * 60_000,
  copy: 2 * 60_000,
} as const;

/** Where uploaded scripts land in a node container: root's home, which only root can read. */
const NODE_DROPBOX = "/root";

export interface PodmanProviderOptions {
  /** The podman program; `podman` from PATH by default. */
  readonly command?: string;
  /** The host files the cgroup prep reads and writes (tests point them elsewhere). */
  readonly hostPaths?: HostPaths;
}

/**
 * Drives rootful podman: one privileged systemd container per lab node, from a node image built here
 * (debootstrap) and cached by content, on an --internal network of the lab's host-only CIDR where each
 * node has its lab.yaml address and the host its first one, so the host reaches the API server at the
 * control plane's address as on VirtualBox. Everything made carries the lab's labels (spec.ts); objects
 * an interrupted earlier run of the same lab left are found by label and removed before new ones are made.
 */
export class PodmanProvider implements Provider {
  readonly name = "podman" as const;
  /** Nodes are real kubeadm nodes with a shell (podman exec): the plan runs every node script. */
  readonly capabilities = { shell: true, installsKubernetes: true } as const;
  readonly #command: string;
  readonly #hostPaths: HostPaths;

  constructor(options: PodmanProviderOptions = {}) {
    this.#command = options.command ?? "podman";
    this.#hostPaths = options.hostPaths ?? HOST_PATHS;
  }

  /**
   * podman and runc must be installed, and debootstrap until the node image exists (MissingToolError);
   * bootstrap must run as root (rootful podman: the nodes are privileged and the host's cgroups are
   * prepared; UsageError), and no other podman network may hold the lab's host-only CIDR (UsageError
   * naming network.hostOnlyCidr). Changes nothing.
   */
  async preflight(lab: Lab, context: ProviderContext): Promise<void> {
    if (process.getuid?.() !== 0) {
      throw new UsageError(
        "the podman provider runs rootful podman (its nodes are privileged systemd containers and the host's cgroups are prepared for them): run bootstrap as root",
        {
          hint: "sudo npx bootstrap up --provider podman, or run a lab without containers: bootstrap up --provider sim",
        },
      );
    }
    const podman = this.#podman(context);
    await podman(["version", "--format", "{{.Client.Version}}"], { timeoutMs: PODMAN_TIMEOUTS.version });
    if (usesKit(lab)) {
      const missing = await missingFromKit();
      if (missing.length > 0) {
        throw new UsageError(
          `the offline kit is not built (${missing.length} piece(s) missing, such as ${missing[0]}): a podman lab takes its packages and images from it`,
          {
            hint: "build it once with npm run kit (Go module proxy and Debian's mirror needed, ~20 min cold), or set podman.kit: false with packages.repository and images.mirrors",
          },
        );
      }
    }
    const tools = ["runc"];
    // The node image is made with debootstrap the first time; afterwards podman has it.
    if (!(await this.#imageExists(nodeImageReference(rootfsDigest(nodeRootfsSpec())), context))) {
      tools.push("debootstrap");
    }
    for (const tool of tools) {
      await runProcess(tool, ["--version"], {
        timeoutMs: PODMAN_TIMEOUTS.version,
        signal: context.signal,
        logFile: this.#logFile(context),
        missingToolHint: PODMAN_INSTALL_HINT,
      });
    }
    const labId = await readLabId(context.workDir);
    const { stdout } = await podman(["network", "ls", "--format", "json"]);
    const networks = JSON.parse(stdout.trim() === "" ? "[]" : stdout) as {
      name: string;
      subnets?: { subnet: string }[];
      labels?: Record<string, string>;
    }[];
    const ours = parseCidr(lab.network.hostOnlyCidr);
    for (const network of networks) {
      const mine = labId !== undefined && network.labels?.[LAB_ID_LABEL] === labId;
      const clash = (network.subnets ?? []).some(
        (subnet) => subnet.subnet.includes(".") && networksOverlap(parseCidr(subnet.subnet), ours),
      );
      if (clash && !mine) {
        throw new UsageError(
          `network.hostOnlyCidr ${lab.network.hostOnlyCidr} overlaps the podman network ${network.name}; two labs on one host need different host-only networks`,
          {
            hint: "set network.hostOnlyCidr (and the node addresses) in lab.yaml to a free range, or remove that network",
          },
        );
      }
    }
  }

  renderFiles(): ReadonlyMap<string, string> {
    return new Map();
  }

  async status(lab: Lab, context: ProviderContext): Promise<NodeStatus[]> {
    const labId = await readLabId(context.workDir);
    const containers =
      labId === undefined ? [] : await this.#containers(lab, context, `${LAB_ID_LABEL}=${labId}`);
    return lab.nodes.map((node) => {
      const container = containers.find((object) => object.labels[NODE_LABEL] === node.name);
      if (container === undefined) return { name: node.name, phase: "not-created" };
      return {
        name: node.name,
        phase: phaseOf(container.state ?? "unknown"),
        detail: `podman: ${container.state ?? "unknown"} (${container.name})`,
      };
    });
  }

  /**
   * Makes what the lab needs once (leftovers of an interrupted earlier run removed, the host's cgroups
   * prepared, the node image built or found, the network), then creates and starts each node of `nodes`
   * that does not run, and waits until its systemd has booted (running or degraded).
   */
  async createNodes(lab: Lab, nodes: readonly LabNode[], context: ProviderContext): Promise<void> {
    const owner = await this.#owner(lab, context);
    const podman = this.#podman(context);
    const objects = await listLabelled(podman, `${LAB_LABEL}=${lab.name}`);
    await this.#removeLeftovers(lab, objects, owner, context);
    await prepareHostCgroups({
      signal: context.signal,
      logFile: this.#logFile(context),
      paths: this.#hostPaths,
    });
    const image = await this.#ensureImage(lab, context);
    const ownObjects = objects.filter((object) => object.labels[LAB_ID_LABEL] === owner.labId);
    if (!ownObjects.some((object) => object.kind === "network")) {
      await podman(networkCreateArgs(lab, owner));
      context.progress?.(
        lab.controlPlane.name,
        `network ${networkName(lab)} (${lab.network.hostOnlyCidr}, internal)`,
      );
    }
    if (usesKit(lab)) await this.#ensureKitServer(lab, owner, ownObjects, context);
    // Mounted into the control plane; made here so it is ours, owner-only (snapshots hold Secrets).
    await mkdir(hostBackupsDir(context.workDir), { recursive: true, mode: FileMode.secretDirectory });
    const limits = nodeLimits(
      await readFile("/proc/self/limits", "utf8"),
      await readFile("/proc/sys/kernel/pid_max", "utf8"),
    );
    for (const node of nodes) {
      const logFile = nodeLogPath(context.workDir, node.name);
      const name = containerName(lab, node);
      const container = ownObjects.find((object) => object.kind === "container" && object.name === name);
      try {
        if (container?.state === "running") continue;
        if (container === undefined) {
          if (
            !ownObjects.some(
              (object) => object.kind === "volume" && object.name === containerdVolumeName(lab, node),
            )
          ) {
            await podman(volumeCreateArgs(lab, node, owner), { logFile });
          }
          await podman(
            nodeCreateArgs({
              lab,
              node,
              owner,
              image,
              limits,
              hostBackupsDir: hostBackupsDir(context.workDir),
            }),
            { timeoutMs: PODMAN_TIMEOUTS.create, logFile },
          );
        }
        context.progress?.(node.name, `starting ${name}`);
        await podman(["start", name], { timeoutMs: PODMAN_TIMEOUTS.start, logFile });
        const state = await this.#waitForBoot(name, context, logFile);
        context.progress?.(node.name, `${name}: systemd ${state}`);
      } catch (error) {
        throw asStepFailure(error, "create-nodes", node.name, logFile);
      }
    }
  }

  /**
   * Removes the lab's containers, volumes and network (and leftovers of the same lab whose work dir is
   * gone), then undoes the host's cgroup prep when no node container of any lab remains. The backups in
   * `.kubelab/backups/` are kept.
   */
  async destroy(lab: Lab, context: ProviderContext): Promise<void> {
    const podman = this.#podman(context);
    const labId = await readLabId(context.workDir);
    const objects = await listLabelled(podman, `${LAB_LABEL}=${lab.name}`);
    const doomed: LabObject[] = [];
    for (const object of objects) {
      if (
        (labId !== undefined && object.labels[LAB_ID_LABEL] === labId) ||
        (await isLeftover(object, labId ?? ""))
      ) {
        doomed.push(object);
      }
    }
    for (const object of doomed.filter((entry) => entry.kind === "container")) {
      context.progress?.(object.labels[NODE_LABEL] ?? lab.controlPlane.name, `removing ${object.name}`);
    }
    await removeObjects(podman, doomed);
    const released = await releaseHostCgroups({
      signal: context.signal,
      logFile: this.#logFile(context),
      paths: this.#hostPaths,
      stillNeeded: async () =>
        (await listLabelled(podman, LAB_ID_LABEL)).some((object) => object.kind === "container"),
    });
    if (released.length > 0) {
      context.logger.info(
        `host prep undone: unmounted ${released.map((hierarchy) => hierarchy.mountPoint).join(", ")}`,
      );
    }
    await rm(join(context.workDir, "podman"), { recursive: true, force: true });
  }

  async loadImage(
    _lab: Lab,
    archive: string,
    nodes: readonly LabNode[],
    context: ProviderContext,
  ): Promise<void> {
    for (const node of nodes) {
      const container = await this.#containerOf(node, context);
      context.progress?.(node.name, `importing ${basename(archive)} into containerd`);
      await loadIntoPodmanNode(archive, container, {
        podman: this.#command,
        logFile: nodeLogPath(context.workDir, node.name),
        signal: context.signal,
      });
    }
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
    const podman = this.#podman(context);
    try {
      await podman(["cp", scriptPath, `${container}:${remote}`], {
        timeoutMs: PODMAN_TIMEOUTS.copy,
        logFile,
      });
      // The copy is removed whatever the outcome: scripts may embed secrets.
      const command = `bash ${shellQuote(remote)}; status=$?; rm -f ${shellQuote(remote)}; exit $status`;
      const { stdout } = await podman(["exec", container, "bash", "-c", command], {
        timeoutMs: options.timeoutMs,
        logFile,
        label: `podman exec ${container} (${options.step})`,
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
    const content = await this.#readFromNode(node, remotePath, context);
    await writeCopiedFile(content, localPath, {
      node: node.name,
      remotePath,
      logPath: nodeLogPath(context.workDir, node.name),
    });
  }

  /**
   * The host kubeconfig from admin.conf's CA, client certificate and key only, with the server set to
   * https://CONTROL_PLANE_IP:6443: the host reaches node addresses directly over the lab's bridge, whose
   * first address is its own (measured on rootful podman with netavark). Never logs the content.
   */
  async fetchAdminKubeconfig(lab: Lab, localPath: string, context: ProviderContext): Promise<void> {
    const remotePath = "/etc/kubernetes/admin.conf";
    await writeHostKubeconfig(await this.#readFromNode(lab.controlPlane, remotePath, context), localPath, {
      server: `https://${lab.controlPlane.ip}:${API_SERVER_PORT}`,
      clusterName: lab.name,
      from: {
        node: lab.controlPlane.name,
        remotePath,
        logPath: nodeLogPath(context.workDir, lab.controlPlane.name),
      },
    });
  }

  async ssh(node: LabNode, command: readonly string[], context: ProviderContext): Promise<number> {
    const container = await this.#containerOf(node, context);
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
    const args = ["exec", "-i", ...(interactive ? ["-t"] : []), container];
    args.push(...(command.length > 0 ? command : ["bash", "-l"]));
    return runInteractive(this.#command, args, context, { installHint: PODMAN_INSTALL_HINT });
  }

  /**
   * The node image: the kit's rootfs (debootstrap, cached by content) imported once as the base, and the
   * entrypoint layer built on it (seconds). Later calls find the image by its content tag.
   */
  async #ensureImage(lab: Lab, context: ProviderContext): Promise<string> {
    const podman = this.#podman(context);
    const spec = nodeRootfsSpec();
    const digest = rootfsDigest(spec);
    const reference = nodeImageReference(digest);
    if (await this.#imageExists(reference, context)) return reference;
    const progress = (line: string) => context.progress?.(lab.controlPlane.name, `node image: ${line}`);
    const started = Date.now();
    const base = nodeRootfsImage(digest);
    let rootfsSource = "imported before";
    if (!(await this.#imageExists(base, context))) {
      const rootfs = await ensureRootfs(spec, { signal: context.signal, progress });
      progress(`podman import ${base}`);
      await podman(["import", rootfs.tarball, base], { timeoutMs: PODMAN_TIMEOUTS.import });
      rootfsSource = `rootfs ${rootfs.source}`;
    }
    progress(`podman build ${reference}`);
    const buildContext = await mkdtemp(join(tmpdir(), "kubelab-node-image-"));
    try {
      await writeFile(join(buildContext, "Containerfile"), nodeContainerfile(base));
      await writeFile(join(buildContext, ENTRYPOINT_FILE), nodeEntrypoint(), { mode: 0o755 });
      await podman(["build", "--pull=never", "--network=none", "--tag", reference, buildContext], {
        timeoutMs: PODMAN_TIMEOUTS.import,
      });
    } finally {
      await rm(buildContext, { recursive: true, force: true });
    }
    context.logger.info(
      `node image ${reference} made in ${((Date.now() - started) / 1000).toFixed(0)}s (${rootfsSource})`,
    );
    return reference;
  }

  async #imageExists(reference: string, context: ProviderContext): Promise<boolean> {
    return this.#podman(context)(["image", "exists", reference]).then(
      () => true,
      (error: unknown) => {
        if (error instanceof CommandError) return false;
        throw error;
      },
    );
  }

  /** Removes what an earlier run of this lab left; a live lab of the same name elsewhere is a StateError. */
  async #removeLeftovers(lab: Lab, objects: readonly LabObject[], owner: LabOwner, context: ProviderContext) {
    const leftovers: LabObject[] = [];
    for (const object of objects) {
      if (object.labels[LAB_ID_LABEL] === undefined || object.labels[LAB_ID_LABEL] === owner.labId) continue;
      if (!(await isLeftover(object, owner.labId))) {
        throw new StateError(
          `another lab named ${lab.name} runs on this host (podman ${object.kind} ${object.name}, from ${object.labels["kubelab.dev/workdir"] ?? "?"})`,
          { hint: "run bootstrap down in that lab's folder, or give this lab another name in lab.yaml" },
        );
      }
      leftovers.push(object);
    }
    if (leftovers.length === 0) return;
    context.logger.info(
      `removing what an interrupted earlier run of lab ${lab.name} left: ${leftovers.map((object) => `${object.kind} ${object.name}`).join(", ")}`,
    );
    await removeObjects(this.#podman(context), leftovers);
  }

  /**
   * Waits until the container's systemd finished booting; resolves with "running" or "degraded". Right
   * after `podman start` it may not answer yet ("offline"): asked again each second until the boot limit.
   */
  async #waitForBoot(container: string, context: ProviderContext, logFile: string): Promise<string> {
    const seconds = PODMAN_TIMEOUTS.boot / 1000 - 10;
    const poll = `for _ in $(seq 1 ${seconds}); do state=$(systemctl is-system-running --wait 2>/dev/null); case $state in running | degraded) break ;; esac; sleep 1; done; echo "$state"`;
    const { stdout } = await this.#podman(context)(["exec", container, "bash", "-c", poll], {
      timeoutMs: PODMAN_TIMEOUTS.boot,
      logFile,
      label: `podman exec ${container} (wait for systemd)`,
    });
    const state = stdout.trim().split("\n").at(-1) ?? "";
    if (state !== "running" && state !== "degraded") {
      throw new CommandError(`systemd in ${container}`, `did not boot (state: ${state || "unknown"})`, {
        logPath: logFile,
        hint: `see: podman logs ${container}; podman exec ${container} systemctl --failed`,
      });
    }
    return state;
  }

  async #readFromNode(node: LabNode, remotePath: string, context: ProviderContext): Promise<string> {
    const container = await this.#containerOf(node, context);
    const { stdout } = await this.#podman(context)(["exec", container, "cat", "--", remotePath], {
      timeoutMs: PODMAN_TIMEOUTS.copy,
      logFile: nodeLogPath(context.workDir, node.name),
      secretStdout: true,
      label: `podman exec ${container} (copy ${remotePath})`,
    });
    return stdout;
  }

  /** The node's container, by the labels of this work dir's lab: runScript and ssh get a node without its lab. */
  async #containerOf(node: LabNode, context: ProviderContext): Promise<string> {
    const labId = await readLabId(context.workDir);
    const containers =
      labId === undefined
        ? []
        : (await listLabelled(this.#podman(context), `${LAB_ID_LABEL}=${labId}`)).filter(
            (object) => object.kind === "container" && object.labels[NODE_LABEL] === node.name,
          );
    const container = containers[0];
    if (container === undefined) {
      throw new StateError(`${node.name} has no podman container: the lab's nodes were not created`, {
        hint: "run bootstrap up first",
      });
    }
    return container.name;
  }

  async #containers(lab: Lab, context: ProviderContext, label: string): Promise<LabObject[]> {
    const objects = await listLabelled(this.#podman(context), label);
    return objects.filter((object) => object.kind === "container" && object.labels[LAB_LABEL] === lab.name);
  }

  /**
   * The offline kit served on the lab's network (podman.kit): its apt repository and registry mirror, at the
   * address lab.yaml leaves for it, labelled as the lab's, so destroy and the leftover cleanup remove it too.
   * A running server of this lab is left alone.
   */
  async #ensureKitServer(
    lab: Lab,
    owner: LabOwner,
    objects: readonly LabObject[],
    context: ProviderContext,
  ): Promise<void> {
    const running = objects.some(
      (object) =>
        object.kind === "container" && object.name === kitServerName(lab.name) && object.state === "running",
    );
    if (running) return;
    const address = kitServerAddress(lab.network.hostOnlyCidr);
    context.progress?.(
      lab.controlPlane.name,
      `offline kit server at ${address} (apt repository, registry mirror)`,
    );
    await startKitServer({
      lab: lab.name,
      network: networkName(lab),
      ip: address,
      kit: kitPaths(),
      logPath: this.#logFile(context),
      labels: ownerLabels(owner),
      signal: context.signal,
      ...(context.progress
        ? { progress: (line: string) => context.progress?.(lab.controlPlane.name, line) }
        : {}),
    });
  }

  async #owner(lab: Lab, context: ProviderContext): Promise<LabOwner> {
    return { lab: lab.name, labId: await ensureLabId(context.workDir), workDir: context.workDir };
  }

  #logFile(context: ProviderContext): string {
    return join(context.workDir, "logs", "podman.log");
  }

  /** A podman runner bound to this call's context: podman.log unless a node's log is given. */
  #podman(
    context: ProviderContext,
  ): (
    args: readonly string[],
    options?: Partial<Pick<RunProcessOptions, "timeoutMs" | "logFile" | "onLine" | "secretStdout" | "label">>,
  ) => ReturnType<Podman> {
    return (args, options = {}) =>
      runProcess(this.#command, args, {
        timeoutMs: options.timeoutMs ?? PODMAN_TIMEOUTS.list,
        signal: context.signal,
        logFile: options.logFile ?? this.#logFile(context),
        missingToolHint: PODMAN_INSTALL_HINT,
        label: options.label ?? `podman ${args.join(" ")}`,
        cwd: context.workDir,
        ...(options.onLine === undefined ? {} : { onLine: options.onLine }),
        ...(options.secretStdout === undefined ? {} : { secretStdout: options.secretStdout }),
      });
  }
}

/** podman container states, as the plan sees them. */
export function phaseOf(state: string): NodePhase {
  if (state === "running") return "running";
  if (["exited", "created", "configured", "stopped", "paused", "dead"].includes(state)) return "stopped";
  return "unknown";
}
