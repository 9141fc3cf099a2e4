// kubelab-operator: flags, kubeconfig, leader election, controllers, probes and metrics, wired together.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { Command, InvalidArgumentError, Option } from "commander";

import { API_GROUP, API_VERSION } from "./api/common.ts";
import { ConfigurationError, describeCause, ExitCode, isNotFound, OperatorError } from "./errors.ts";
import { createOperator } from "./operator.ts";
import { KubeClient, loadKubeConfig } from "./runtime/client.ts";
import { createOperatorLogger, LOG_LEVELS, type LogLevel, type Logger } from "./runtime/log.ts";
import { RuntimeMetrics } from "./runtime/metrics.ts";

const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

interface RunFlags {
  kubeconfig?: string;
  namespace?: string;
  leaderElection: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId: string;
  identity?: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  bindAddress: string;
  healthPort: number;
  metricsPort: number;
  concurrency: number;
  logLevel: LogLevel;
}

function integer(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return parsed;
  };
}

/** The namespace the operator runs in: the flag, POD_NAMESPACE, the ServiceAccount's, or kubelab-system. */
function operatorNamespace(flag: string | undefined): string {
  if (flag !== undefined && flag !== "") return flag;
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, "utf8").trim();
  } catch {
    return "kubelab-system";
  }
}

/** Runs the operator until SIGTERM/SIGINT; resolves the exit code. */
async function runOperator(flags: RunFlags): Promise<number> {
  const identity =
    flags.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString("hex")}`;
  const log = createOperatorLogger({ level: flags.logLevel, defaultMeta: { identity } });
  const namespace = operatorNamespace(flags.namespace);
  if (flags.renewDeadline >= flags.leaseDuration || flags.retryPeriod >= flags.renewDeadline) {
    throw new ConfigurationError(
      "leader election needs --retry-period < --renew-deadline < --lease-duration (defaults 2, 10, 15 s)",
    );
  }
  const client = new KubeClient(loadKubeConfig(flags.kubeconfig));
  const operator = createOperator({
    client,
    log,
    metrics: new RuntimeMetrics({ processMetrics: true }),
    namespace,
    identity,
    concurrency: flags.concurrency,
    probes: { host: flags.bindAddress, healthPort: flags.healthPort, metricsPort: flags.metricsPort },
    ...(flags.leaderElection
      ? {
          leaderElection: {
            namespace: flags.leaderElectionNamespace ?? namespace,
            name: flags.leaderElectionId,
            identity,
            leaseDurationMs: flags.leaseDuration * 1000,
            renewDeadlineMs: flags.renewDeadline * 1000,
            retryPeriodMs: flags.retryPeriod * 1000,
          },
        }
      : {}),
  });
  log.info("kubelab-operator starting", {
    namespace,
    server: client.server,
    leaderElection: flags.leaderElection,
  });
  void warnIfCrdMissing(client, log);

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    log.info("shutting down: finishing in-flight work, then releasing the lease", { signal });
    stop.abort();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const outcome = await operator.run(stop.signal);
  if (outcome === "lost") return ExitCode.leadershipLost;
  return ExitCode.ok;
}

/** A one-time, actionable hint: informers would otherwise only log 404s while they retry. */
async function warnIfCrdMissing(client: KubeClient, log: Logger): Promise<void> {
  try {
    await client.get(`/apis/${API_GROUP}/${API_VERSION}`);
  } catch (error) {
    if (isNotFound(error)) {
      log.error("the LabCluster CRD is not installed; waiting for it", { fix: "kubectl apply -f crds/" });
    } else {
      log.warn("cannot reach the API server yet; retrying", { error: describeCause(error) });
    }
  }
}

/** The command table. `run` is the default; the snapshot agent's subcommands are added beside it. */
function program(): Command {
  const root = new Command("kubelab-operator")
    .description(
      "Reconciles LabCluster objects: node health, Calico and CoreDNS restoration, etcd snapshots.",
    )
    .showHelpAfterError()
    .addHelpText(
      "after",
      `\nExit codes: ${ExitCode.ok} stopped cleanly, ${ExitCode.failure} failure, ${ExitCode.badInput} bad flags or kubeconfig, ${ExitCode.leadershipLost} leadership lost.`,
    );
  root
    .command("run", { isDefault: true })
    .description("run the controllers (the default)")
    .option(
      "--kubeconfig <path>",
      "kubeconfig file (default: KUBECONFIG, else the in-cluster ServiceAccount)",
    )
    .option(
      "--namespace <name>",
      "namespace the operator runs in (default: POD_NAMESPACE or its ServiceAccount's)",
    )
    .option("--no-leader-election", "act at once, without a Lease (one replica only)")
    .option("--leader-election-namespace <name>", "namespace of the leader Lease (default: --namespace)")
    .option("--leader-election-id <name>", "name of the leader Lease", "kubelab-operator")
    .option("--identity <id>", "this replica's holder identity (default: POD_NAME or hostname + random)")
    .addOption(
      new Option("--lease-duration <seconds>", "leader lease duration")
        .default(15)
        .argParser(integer(2, 600)),
    )
    .addOption(
      new Option("--renew-deadline <seconds>", "leader renew deadline")
        .default(10)
        .argParser(integer(1, 600)),
    )
    .addOption(
      new Option("--retry-period <seconds>", "leader retry period").default(2).argParser(integer(1, 600)),
    )
    .option("--bind-address <host>", "address of the probe and metrics listeners", "0.0.0.0")
    .addOption(
      new Option("--health-port <port>", "port of /healthz and /readyz")
        .default(8081)
        .argParser(integer(0, 65535)),
    )
    .addOption(
      new Option("--metrics-port <port>", "port of /metrics").default(8080).argParser(integer(0, 65535)),
    )
    .addOption(
      new Option("--concurrency <n>", "parallel reconciles of distinct LabClusters")
        .default(2)
        .argParser(integer(1, 64)),
    )
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .action(async (flags: RunFlags) => {
      process.exitCode = await runOperator(flags);
    });
  return root;
}

try {
  await program().parseAsync(process.argv);
} catch (error) {
  if (error instanceof OperatorError) {
    process.stderr.write(`kubelab-operator: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(
      `kubelab-operator: unexpected error; this is a bug, please report it (node ${process.version}):\n` +
        `${(error as Error).stack ?? String(error)}\n`,
    );
    process.exitCode = ExitCode.failure;
  }
}
