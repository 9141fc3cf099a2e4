// The vagrant provider: the classic lab on VirtualBox or libvirt VMs, driven through the `vagrant` CLI.
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";

import type { Lab, LabNode } from "../../lab/config.ts";
import { CommandError, StepError, UsageError } from "../../errors.ts";
import { pathExists, readTextIfExists, writeFileAtomic } from "../../files.ts";
import { formatIpv4, parseCidr } from "../../lab/ipv4.ts";
import { loadIntoVagrantNode } from "../../image/load.ts";
import { runProcess } from "../../process.ts";
import { shellQuote } from "../../provision/script.ts";
import { BACKUPS_DIR_NAME, nodeLogPath } from "../../lab/workdir.ts";
import {
  asStepFailure,
  runInteractive,
  scriptMarkers,
  writeCopiedFile,
  writeHostKubeconfig,
} from "../node-io.ts";
import {
  hostBackupsDir,
  NODE_BACKUPS_DIR,
  type NodeStatus,
  type Provider,
  type ProviderContext,
  type RunScriptOptions,
} from "../provider.ts";
import {
  allowedHostOnlyRanges,
  hostOnlyCidrAllowed,
  hostOnlyRangeAdvice,
  VIRTUALBOX_NETWORKS_CONF,
} from "./host-only.ts";
import {
  errorMessage,
  machineStates,
  parseRecord,
  phaseOf,
  progressLine,
  type VagrantRecord,
} from "./machine-readable.ts";

/** The one line a user without Vagrant needs. */
export const VAGRANT_INSTALL_HINT =
  "install Vagrant (https://developer.hashicorp.com/vagrant/install) and VirtualBox 7 (https://www.virtualbox.org/wiki/Downloads), or run a lab without VMs: bootstrap up --provider sim";

/** Time limits of the vagrant commands; `up` includes the first download of the box. */
export const VAGRANT_TIMEOUTS = {
  version: 30_000,
  status: 120_000,
  up: 30 * 60_000,
  upload: 120_000,
  copy: 120_000,
  destroy: 15 * 60_000,
} as const;

/** Where uploaded scripts land on a node: created 0700 for the vagrant user by the Vagrantfile. */
const NODE_DROPBOX = "/home/vagrant/.kubelab";

const VAGRANTFILE = readFileSync(new URL("./Vagrantfile", import.meta.url), "utf8");

export interface VagrantProviderOptions {
  /** The vagrant program; `vagrant` from PATH by default. */
  readonly command?: string;
  /** VirtualBox's network allow-list; read to check the host-only range before any VM is made. */
  readonly networksConfPath?: string;
  /** The host OS; VirtualBox restricts host-only ranges on every OS but Windows. */
  readonly platform?: NodeJS.Platform;
  /**
   * The URL the host reaches the API server at, when the host-only address is not routable from the host
   * (a port forward to 127.0.0.1): KUBELAB_VAGRANT_API_SERVER. Default https://CONTROL_PLANE_IP:6443.
   */
  readonly apiServer?: string;
}

/** The node list the Vagrantfile reads (nodes.json). */
export interface VagrantNodeList {
  readonly lab: string;
  readonly box: string;
  readonly boxVersion: string | null;
  readonly provider: "virtualbox" | "libvirt";
  readonly hostOnlyCidr: string;
  readonly netmask: string;
  readonly nodes: readonly { name: string; role: string; ip: string; cpus: number; memoryMiB: number }[];
  /**
   * The control plane's etcd backup directory (the LabCluster's spec.etcdBackup.hostPath, default
   * /var/lib/kubelab/etcd-backups) as a synced folder of `backups/` next to the Vagrantfile (.kubelab/):
   * the snapshots live on the host, so they outlive `bootstrap down` and a new lab can be restored.
   */
  readonly backups: { readonly hostDir: string; readonly guestDir: string };
}

/**
 * Drives `vagrant` with the Vagrantfile and nodes.json rendered into the work dir (VAGRANT_CWD), so the
 * project's own `.vagrant/` stays inside `.kubelab/`. Machines are created one at a time: VirtualBox
 * cannot import one box into several VMs at once. Each node's commands and output go to logs/NODE.log.
 */
export class VagrantProvider implements Provider {
  readonly name = "vagrant" as const;
  readonly capabilities = { shell: true, installsKubernetes: true } as const;
  readonly #command: string;
  readonly #networksConfPath: string;
  readonly #platform: NodeJS.Platform;

  readonly #apiServer: string | undefined;

  constructor(options: VagrantProviderOptions = {}) {
    this.#command = options.command ?? "vagrant";
    this.#networksConfPath = options.networksConfPath ?? VIRTUALBOX_NETWORKS_CONF;
    this.#platform = options.platform ?? process.platform;
    this.#apiServer = options.apiServer;
  }

  /**
   * Vagrant must be installed (MissingToolError, exit 2, with the install line). VirtualBox refuses
   * host-only networks outside its allow-list with an obscure error late in `vagrant up`, so the range is
   * checked here, with the fix (UsageError, exit 2).
   */
  async preflight(lab: Lab, context: ProviderContext): Promise<void> {
    await this.#vagrant(["--version"], context, {
      timeoutMs: VAGRANT_TIMEOUTS.version,
      logFile: join(context.workDir, "logs", "vagrant.log"),
    });
    if (lab.vagrant.provider !== "virtualbox" || this.#platform === "win32") return;
    const conf = await readTextIfExists(this.#networksConfPath);
    if (!hostOnlyCidrAllowed(lab.network.hostOnlyCidr, allowedHostOnlyRanges(conf))) {
      throw new UsageError(hostOnlyRangeAdvice(lab.network.hostOnlyCidr, conf !== undefined));
    }
  }

  renderFiles(lab: Lab): ReadonlyMap<string, string> {
    return new Map([
      ["Vagrantfile", VAGRANTFILE],
      ["nodes.json", `${JSON.stringify(vagrantNodeList(lab), null, 2)}\n`],
    ]);
  }

  async status(lab: Lab, context: ProviderContext): Promise<NodeStatus[]> {
    const notCreated = (node: LabNode): NodeStatus => ({ name: node.name, phase: "not-created" });
    if (!(await pathExists(join(context.workDir, "Vagrantfile")))) return lab.nodes.map(notCreated);
    const { stdout } = await this.#vagrant(["status", "--machine-readable"], context, {
      timeoutMs: VAGRANT_TIMEOUTS.status,
      logFile: join(context.workDir, "logs", "vagrant.log"),
    });
    const states = machineStates(stdout);
    return lab.nodes.map((node) => {
      const state = states.get(node.name);
      if (state === undefined) return notCreated(node);
      return { name: node.name, phase: phaseOf(state), detail: `${lab.vagrant.provider}: ${state}` };
    });
  }

  async createNodes(lab: Lab, nodes: readonly LabNode[], context: ProviderContext): Promise<void> {
    await this.#writeFiles(lab, context);
    for (const node of nodes) {
      const logFile = nodeLogPath(context.workDir, node.name);
      const records: VagrantRecord[] = [];
      try {
        await this.#vagrant(
          ["up", node.name, "--provider", lab.vagrant.provider, "--machine-readable"],
          context,
          {
            timeoutMs: VAGRANT_TIMEOUTS.up,
            logFile,
            onLine: (line) => {
              const record = parseRecord(line);
              if (record === undefined) return;
              records.push(record);
              const progress = progressLine(record);
              if (progress !== undefined) context.progress?.(node.name, progress);
            },
          },
        );
      } catch (error) {
        if (!(error instanceof CommandError)) throw error;
        const reason = errorMessage(records) ?? error.message;
        throw new StepError("create-nodes", `vagrant up: ${reason}`, {
          node: node.name,
          logPath: logFile,
          cause: error,
        });
      }
    }
  }

  async destroy(lab: Lab, context: ProviderContext): Promise<void> {
    if (!(await pathExists(join(context.workDir, ".vagrant")))) return;
    await this.#writeFiles(lab, context);
    await this.#vagrant(["destroy", "--force", "--machine-readable"], context, {
      timeoutMs: VAGRANT_TIMEOUTS.destroy,
      logFile: join(context.workDir, "logs", "vagrant.log"),
      onLine: (line) => {
        const record = parseRecord(line);
        const progress = record === undefined ? undefined : progressLine(record);
        if (record !== undefined && progress !== undefined) context.progress?.(record.target, progress);
      },
    });
  }

  async loadImage(
    _lab: Lab,
    archive: string,
    nodes: readonly LabNode[],
    context: ProviderContext,
  ): Promise<void> {
    for (const node of nodes) {
      context.progress?.(node.name, `importing ${basename(archive)} into containerd`);
      await loadIntoVagrantNode(archive, node.name, {
        vagrant: this.#command,
        workDir: context.workDir,
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
    const logFile = nodeLogPath(context.workDir, node.name);
    const remote = `${NODE_DROPBOX}/${basename(scriptPath)}`;
    try {
      await this.#vagrant(["upload", scriptPath, remote, node.name], context, {
        timeoutMs: VAGRANT_TIMEOUTS.upload,
        logFile,
      });
      // The uploaded copy is removed whatever the outcome: some scripts embed the join token.
      const command = `sudo bash ${shellQuote(remote)}; status=$?; rm -f ${shellQuote(remote)}; exit $status`;
      const { stdout } = await this.#vagrant(["ssh", node.name, "-c", command], context, {
        timeoutMs: options.timeoutMs,
        logFile,
        label: `vagrant ssh ${node.name} (${options.step})`,
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

  /** The host's kubeconfig from admin.conf's CA, certificate and key only, to the host-only address. */
  async fetchAdminKubeconfig(lab: Lab, localPath: string, context: ProviderContext): Promise<void> {
    const remotePath = "/etc/kubernetes/admin.conf";
    const node = lab.controlPlane;
    await writeHostKubeconfig(await this.#readFromNode(node, remotePath, context), localPath, {
      server: this.#apiServer ?? `https://${node.ip}:6443`,
      clusterName: lab.name,
      from: { node: node.name, remotePath, logPath: nodeLogPath(context.workDir, node.name) },
    });
  }

  /** A file of a node (as root), never logged: callers read secrets such as admin.conf. */
  async #readFromNode(node: LabNode, remotePath: string, context: ProviderContext): Promise<string> {
    const { stdout } = await this.#vagrant(
      ["ssh", node.name, "-c", `sudo cat -- ${shellQuote(remotePath)}`],
      context,
      {
        timeoutMs: VAGRANT_TIMEOUTS.copy,
        logFile: nodeLogPath(context.workDir, node.name),
        secretStdout: true,
        label: `vagrant ssh ${node.name} (copy ${remotePath})`,
      },
    );
    return stdout;
  }

  async ssh(node: LabNode, command: readonly string[], context: ProviderContext): Promise<number> {
    const args = ["ssh", node.name];
    if (command.length > 0) args.push("-c", command.map(shellQuote).join(" "));
    return runInteractive(this.#command, args, context, {
      installHint: VAGRANT_INSTALL_HINT,
      env: { VAGRANT_CWD: context.workDir },
    });
  }

  async #writeFiles(lab: Lab, context: ProviderContext): Promise<void> {
    for (const [name, content] of this.renderFiles(lab)) {
      await writeFileAtomic(join(context.workDir, name), content);
    }
    // The synced folder's host side must exist before `vagrant up`; owner-only (snapshots hold Secrets).
    await mkdir(hostBackupsDir(context.workDir), { recursive: true, mode: 0o700 });
  }

  #vagrant(
    args: readonly string[],
    context: ProviderContext,
    options: {
      timeoutMs: number;
      logFile: string;
      onLine?: (line: string) => void;
      secretStdout?: boolean;
      missingToolHint?: string;
      label?: string;
    },
  ) {
    return runProcess(this.#command, args, {
      ...options,
      missingToolHint: options.missingToolHint ?? VAGRANT_INSTALL_HINT,
      label: options.label ?? `vagrant ${args.join(" ")}`,
      cwd: context.workDir,
      env: { VAGRANT_CWD: context.workDir, VAGRANT_NO_COLOR: "1" },
      signal: context.signal,
      // Vagrant rolls back a half-created VM when interrupted with SIGINT; give it time to do so.
      killSignal: "SIGINT",
      forceKillAfterMs: 60_000,
    });
  }
}

/** nodes.json: what the Vagrantfile needs, nothing else. */
export function vagrantNodeList(lab: Lab): VagrantNodeList {
  const network = parseCidr(lab.network.hostOnlyCidr);
  return {
    lab: lab.name,
    box: lab.vagrant.box,
    boxVersion: lab.vagrant.boxVersion ?? null,
    provider: lab.vagrant.provider,
    hostOnlyCidr: lab.network.hostOnlyCidr,
    netmask: formatIpv4(2 ** 32 - 2 ** (32 - network.prefix)),
    nodes: lab.nodes.map((node) => ({
      name: node.name,
      role: node.role,
      ip: node.ip,
      cpus: node.cpus,
      memoryMiB: node.memoryMiB,
    })),
    backups: { hostDir: BACKUPS_DIR_NAME, guestDir: NODE_BACKUPS_DIR },
  };
}
