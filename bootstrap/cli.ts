// The `bootstrap` command table, its help, and the one place where errors become messages and exit codes.
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";

import packageJson from "../package.json" with { type: "json" };
// Each command's module is imported when the command runs: --help and --version load none of them (the
// Kubernetes client alone costs ~0.7 s and ~130 MB).
import type { CommandIo, GlobalOptions } from "./commands/common.ts";
import { PROVIDERS, type ProviderName } from "./lab/provider-names.ts";
import { ExitCode, KubelabError } from "./errors.ts";
import { WORK_DIR_NAME } from "./lab/workdir.ts";

const VERSION = packageJson.version;

const EXIT_CODES_HELP = `
Exit codes:
  0    done (or nothing to do)
  1    failed while running: a node step, a provider command, the API server (the message names the
       node, the step and the log file to read)
  2    bad input, nothing was changed: lab.yaml (every problem listed with its YAML path), flags, or a
       missing tool (the message says what to install)
  130  interrupted (Ctrl-C): child processes were stopped and the progress kept; run the command again`;

const FILES_HELP = `
Files:
  lab.yaml             the lab (-c); \`bootstrap init\` writes a commented one, a missing file means defaults
  ${WORK_DIR_NAME}/             next to lab.yaml, everything bootstrap writes:
    state.json         progress of \`up\` (a second \`up\` resumes) and the lab as created
    kubeconfig         admin kubeconfig (0600)
    Vagrantfile, nodes.json, nodes/NODE/*.sh, nodes/NODE/kubeadm-*.yaml   rendered files
    addons/calico.yaml the Calico objects exactly as applied
    logs/bootstrap.log, logs/NODE.log   what ran, with its output (tokens redacted)
    cache/             downloads (the Calico manifest), kept by \`down\``;

const ENVIRONMENT_HELP = `
Environment:
  KUBELAB_API_TIMEOUT_SECONDS    how long to wait for the API server (default 300)
  KUBELAB_READY_TIMEOUT_SECONDS  how long to wait for nodes to be Ready (default 900)
  KUBELAB_VAGRANT_API_SERVER     the API server URL the host's kubeconfig names on vagrant, for a host that
                                 reaches it through a port forward (default https://CONTROL_PLANE_IP:6443)`;

const RESTORE_HELP = `
The kubeadm procedure on the control plane: the snapshot file is checked first (sha256 as recorded,
etcdutl snapshot status; a bad file changes nothing), the four static pods stop (etcd, kube-apiserver,
controller-manager, scheduler), etcdutl restores the snapshot into a NEW data directory with its revision
bumped, etcd is pointed at it, they start again (kubelet restarted), and the command waits until the API
server answers and every node is Ready. Objects created since the snapshot are gone; the old data
directory stays (vagrant, kind: /var/lib/etcd on the control plane; sim: ${WORK_DIR_NAME}/sim/cluster/etcd).
Snapshots that were never verified by a trial restore are refused.

Examples:
  bootstrap backups                               the snapshots, newest first
  bootstrap restore                               the newest verified snapshot, after a question
  bootstrap restore --snapshot latest --yes       the same, without asking (scripts, CI)
  bootstrap restore --snapshot etcd-20261126-230000-ab12
Exit codes: 0 restored (or declined), 1 the restore failed (the message names the step and the log),
  2 unknown or unverified snapshot, or no terminal and no --yes (nothing changed), 130 interrupted`;

/** Parses a positive whole number of seconds (`--timeout`). */
function parseSeconds(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError("must be a whole number of seconds, at least 1");
  return Number(value);
}

/** The namespace `trace --new` uses (kube/trace/new-deployment.ts; not imported here: --help loads no command). */
const TRACE_NAMESPACE_HELP = "kubelab-trace";

/** Parses `--workers N`: a whole number from 0 to 50 (lab.yaml's limit). */
function parseWorkers(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 50) {
    throw new InvalidArgumentError("must be a whole number from 0 to 50");
  }
  return Number(value);
}

function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** The command table. `setExitCode` receives the status of commands that have one of their own (ssh). */
export function buildProgram(io: CommandIo, setExitCode: (code: number) => void): Command {
  const program = new Command("bootstrap")
    .description(
      "Bring up a kubeadm Kubernetes lab from one lab.yaml: a control plane (m-k8s) and workers (w1-k8s, ...) " +
        "on Vagrant VMs, or simulated nodes with --provider sim.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .option("-c, --config <file>", "the lab definition", "lab.yaml")
    .option("-v, --verbose", "more detail on the console (the log file always has everything)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      `
Examples:
  bootstrap init                      write lab.yaml with every default, commented
  bootstrap up --dry-run              show the plan and render the files, change nothing
  bootstrap up                        create the lab (or resume it after a failure or Ctrl-C)
  bootstrap up --workers 1 --k8s-version 1.36.5
  bootstrap status                    nodes, VMs and readiness
  bootstrap status --components       the component map: kubelet, runtime, CNI, static pods, CoreDNS, etcd
  bootstrap trace --new nginx:1.27 --rm  a new pod's path through the components, step by step
  bootstrap ssh m-k8s -- kubectl get pods -A
  bootstrap kubeconfig --merge        add the lab to ~/.kube/config
  bootstrap down --yes                destroy the lab
${EXIT_CODES_HELP}
${FILES_HELP}
${ENVIRONMENT_HELP}`,
    );

  program
    .command("init")
    .description("write a commented lab.yaml with the default lab (refuses to overwrite without --force)")
    .option("--force", "replace an existing lab.yaml")
    .addHelpText(
      "after",
      `
Examples:
  bootstrap init                      ./lab.yaml
  bootstrap -c labs/small.yaml init   another file; its ${WORK_DIR_NAME}/ goes next to it
Exit codes: 0 written, 2 the file exists (use --force)`,
    )
    .action(async (options: { force?: boolean }, command: Command) => {
      const { init } = await import("./commands/init.ts");
      await init(globalOptions(command), options, io);
    });

  program
    .command("up")
    .description("create the lab, or resume it: runs the steps of the plan that are not done yet")
    .option("--dry-run", `print the plan and render every file into ${WORK_DIR_NAME}/; create nothing`)
    .option("--workers <n>", "number of workers (overrides workers.count)", parseWorkers)
    .option("--k8s-version <version>", "Kubernetes X.Y or X.Y.Z (overrides kubernetes.version)")
    .addOption(
      new Option("--provider <name>", "where the nodes run (overrides provider)").choices([...PROVIDERS]),
    )
    .option(
      "--calico-manifest <file>",
      "a local copy of Calico's calico.yaml, for offline labs (overrides calico.manifest)",
    )
    .addHelpText(
      "after",
      `
Steps: render files, create VMs, prepare nodes, install packages, kubeadm init, fetch the kubeconfig,
Calico, workers join (in parallel), wait for Ready. Each is recorded in ${WORK_DIR_NAME}/state.json when done, so
\`up\` after a failure or Ctrl-C resumes, and \`up\` on a finished lab does nothing. Steps a provider cannot do
are shown as skipped. Workers can be added later (--workers or lab.yaml); other changes need \`down\` first.

Examples:
  bootstrap up --dry-run
  bootstrap up
  bootstrap up --workers 1 --k8s-version 1.36
  bootstrap up --calico-manifest ./calico.yaml      offline: no download of the Calico manifest
  bootstrap up --provider sim                       no VMs: simulated nodes
${EXIT_CODES_HELP}`,
    )
    .action(
      async (
        options: {
          dryRun?: boolean;
          workers?: number;
          k8sVersion?: string;
          provider?: ProviderName;
          calicoManifest?: string;
        },
        command: Command,
      ) => {
        const { up } = await import("./commands/up.ts");
        await up(
          globalOptions(command),
          {
            ...options,
            ...(options.calicoManifest !== undefined
              ? { calicoManifest: resolve(options.calicoManifest) }
              : {}),
          },
          io,
        );
      },
    );

  program
    .command("down")
    .description("destroy the lab's machines and its state (asks first; the download cache and logs stay)")
    .option("-y, --yes", "do not ask (needed when there is no terminal)")
    .option(
      "--purge-backups",
      "also delete backups/: the etcd snapshots, which hold every Secret of the cluster",
    )
    .addHelpText(
      "after",
      `
The machines destroyed are those recorded when the lab was created, whatever lab.yaml says now.
Removed from ${WORK_DIR_NAME}/: state.json, kubeconfig, secrets/, nodes/, addons/, pki/, the Vagrantfile and
nodes.json. Kept: cache/ (downloads), logs/ and backups/ (etcd snapshots: every Secret of the cluster, in
clear, owner-only; they restore the lab) unless --purge-backups.

Examples:
  bootstrap down
  bootstrap down --yes
  bootstrap down --yes --purge-backups
Exit codes: 0 destroyed (or declined), 1 the provider failed, 2 no terminal and no --yes`,
    )
    .action(async (options: { yes?: boolean; purgeBackups?: boolean }, command: Command) => {
      const { down } = await import("./commands/down.ts");
      await down(globalOptions(command), options, io);
    });

  program
    .command("status")
    .description("show each node: role, address, its VM, and whether Kubernetes sees it Ready")
    .option(
      "--components",
      "also the component map: kubelet, runtime and CNI per node, the control plane's static pods, CoreDNS, " +
        "kube-proxy, etcd's size and revision, what the operator guards",
    )
    .addHelpText(
      "after",
      `
Examples:
  bootstrap status
  bootstrap status --components       the lab's components, read from the API (nothing is changed)
Exit codes: 0 shown, 1 the provider failed or the API server failed while reading the components, 2 bad
  lab.yaml or a missing tool`,
    )
    .action(async (options: { components?: boolean }, command: Command) => {
      const { status } = await import("./commands/status.ts");
      await status(globalOptions(command), io, options);
    });

  program
    .command("trace")
    .description(
      "show a pod's path through the components: API server, etcd, controllers, scheduler, kubelet",
    )
    .argument("[target...]", "pod NAME or deployment NAME (also pod/NAME, deploy/NAME)")
    .option(
      "-n, --namespace <namespace>",
      `the object's namespace (default: default; with --new: ${TRACE_NAMESPACE_HELP})`,
    )
    .addOption(
      new Option("-o, --output <format>", "text, json (for scripts) or mermaid (a sequence diagram)")
        .choices(["text", "json", "mermaid"])
        .default("text"),
    )
    .option("-w, --watch", "follow it live until the pod is Ready or fails (or Ctrl-C)")
    .option("--new <image>", "create a Deployment of one pod running IMAGE and follow it (implies --watch)")
    .option("--rm", "with --new: delete the Deployment once the trace ends")
    .option("--timeout <seconds>", "how long --watch and --new follow before giving up", parseSeconds, 300)
    .addHelpText(
      "after",
      `
Each line is one thing a component did, with its time relative to the first step, and under it where it was
read: the API server's acceptance (creationTimestamp; the sender from managedFields), etcd's write (implied by
that acceptance: the API gives it no time), the controllers (ownerReferences, managedFields, their Events),
the scheduler (PodScheduled, the Scheduled Event, the node), the kubelet on that node (its Events: Pulling,
Pulled, Created, Started), the runtime (the node's containerRuntimeVersion, the containers' start), the
pod's IP from the CNI, and its conditions. A pod that stopped shows the step and the Event that says why
(FailedScheduling, ErrImagePull...). Nothing is changed, except by --new. On sim, kwok plays the kubelet.

Examples:
  bootstrap trace deployment web                  the newest pod of web's current ReplicaSet
  bootstrap trace pod web-7d876db474-gkt6f -n default
  bootstrap trace --new nginx:1.27 --rm           create, follow, delete
  bootstrap trace deploy/web -o mermaid >> notes.md
  bootstrap trace pod/web-7d876db474-gkt6f -o json | jq .outcome
Exit codes: 0 the pod is Ready or Succeeded (without --watch: also when it is still on its way), 1 it
  stopped at a step, --watch gave up (--timeout) or the API server failed, 2 no such object or bad flags,
  130 interrupted`,
    )
    .action(
      async (
        target: string[],
        options: {
          namespace?: string;
          output: "text" | "json" | "mermaid";
          watch?: boolean;
          new?: string;
          rm?: boolean;
          timeout: number;
        },
        command: Command,
      ) => {
        const { trace } = await import("./commands/trace.ts");
        setExitCode(await trace(globalOptions(command), target, options, io));
      },
    );

  program
    .command("ssh")
    .description("open a shell on a node, or run one command there (after --)")
    .argument("<node>", "node name, such as m-k8s or w1-k8s")
    .argument("[command...]", "command to run instead of a shell")
    .addHelpText(
      "after",
      `
Examples:
  bootstrap ssh m-k8s
  bootstrap ssh w1-k8s -- sudo journalctl -u kubelet --no-pager -n 50
Exit codes: the remote command's status; 2 for an unknown node or a provider without a shell`,
    )
    .action(async (node: string, commandLine: string[], _options: object, command: Command) => {
      const { ssh } = await import("./commands/ssh.ts");
      setExitCode(await ssh(globalOptions(command), node, commandLine, io));
    });

  program
    .command("kubeconfig")
    .description("print the lab's admin kubeconfig, or merge it into your kubeconfig")
    .option(
      "--merge",
      "add it to $KUBECONFIG's first file (or ~/.kube/config) as context kubelab-<name>, and switch to it",
    )
    .addHelpText(
      "after",
      `
Examples:
  bootstrap kubeconfig > lab.kubeconfig
  bootstrap kubeconfig --merge && kubectl get nodes
The file is also at ${WORK_DIR_NAME}/kubeconfig (mode 0600).
Exit codes: 0 printed or merged, 1 the lab has no kubeconfig yet (run up)`,
    )
    .action(async (options: { merge?: boolean }, command: Command) => {
      const { kubeconfig } = await import("./commands/kubeconfig.ts");
      await kubeconfig(globalOptions(command), options, io);
    });

  program
    .command("backup")
    .description("take a verified etcd snapshot now: runs the lab's backup CronJob once and waits for it")
    .option("--lab-cluster <name>", "the LabCluster whose backup to run (when there are several)")
    .addHelpText(
      "after",
      `
Examples:
  bootstrap backup
Exit codes: 0 a verified snapshot was recorded, 1 the Job failed or recorded nothing`,
    )
    .action(async (options: { labCluster?: string }, command: Command) => {
      const { backup } = await import("./commands/backup.ts");
      await backup(globalOptions(command), options, io);
    });

  program
    .command("backups")
    .description("list the lab's etcd snapshots (EtcdSnapshot objects), newest first")
    .action(async (_options: object, command: Command) => {
      const { backups } = await import("./commands/backup.ts");
      await backups(globalOptions(command), io);
    });

  program
    .command("restore")
    .description("bring the lab's etcd back to a verified snapshot (asks first; the old etcd data is kept)")
    .option(
      "--snapshot <name>",
      "an EtcdSnapshot name (bootstrap backups), or latest: the newest verified",
      "latest",
    )
    .option("-y, --yes", "do not ask (needed when there is no terminal)")
    .addHelpText("after", RESTORE_HELP)
    .action(async (options: { snapshot: string; yes?: boolean }, command: Command) => {
      const { restore } = await import("./commands/restore.ts");
      await restore(globalOptions(command), options, io);
    });

  return program;
}

/**
 * Runs the CLI on `argv` and returns the exit code. Every error ends here: KubelabErrors print their
 * message and hint and map to their exit code; anything else is a bug, said so with the versions.
 */
export async function runCli(argv: readonly string[], io: CommandIo): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(io, (code) => (exitCode = code));
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return ExitCode.badInput;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    return explainError(error, io, argv.includes("-v") || argv.includes("--verbose"));
  }
}

function explainError(error: unknown, io: CommandIo, verbose: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message; help and version are successes, the rest is bad usage.
    return ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code)
      ? ExitCode.ok
      : ExitCode.badInput;
  }
  if (error instanceof KubelabError) {
    io.stderr.write(`error: ${error.message}\n`);
    if (error.hint !== undefined) io.stderr.write(`hint: ${error.hint}\n`);
    if (verbose) {
      for (let cause: unknown = error.cause; cause instanceof Error; cause = cause.cause) {
        io.stderr.write(`cause: ${cause.message}\n`);
      }
    }
    return error.exitCode;
  }
  const failure = error instanceof Error ? error : new Error(String(error));
  io.stderr.write(
    `error: unexpected ${failure.name}: ${failure.message}\n` +
      `this is a bug, please report it with the command you ran and this output ` +
      `(kubelab ${VERSION}, Node.js ${process.version}, ${process.platform}/${process.arch})\n` +
      `${failure.stack ?? ""}\n`,
  );
  return ExitCode.failure;
}

/**
 * The process wiring: SIGINT/SIGTERM abort the run (children are stopped, state stays consistent,
 * exit 130); a second Ctrl-C exits at once.
 */
async function main(): Promise<void> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${signal} again: exiting now\n`);
      process.exit(ExitCode.interrupted);
    }
    process.stderr.write(
      `\n${signal}: stopping (waiting for child processes to stop; Ctrl-C again to quit now)\n`,
    );
    controller.abort(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const code = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    signal: controller.signal,
    env: process.env,
  });
  // Open sockets (API client keep-alive) must not keep a finished command alive.
  process.stdout.write("", () => process.exit(code));
}

await main();
