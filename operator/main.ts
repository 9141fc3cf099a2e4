// kubelab-operator: flags, kubeconfig, leader election, controllers, probes and metrics, wired together.
// First: V8 settings for a small footprint, before anything allocates.
import "./runtime/memory.ts";

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

import { describeCause, ExitCode, isNotFound, OperatorError } from "./errors.ts";
import { parseRunFlags, runHelp, type RunFlags } from "./flags.ts";
import { API_GROUP, API_VERSION } from "./api/common.ts";
import { KubeClient } from "./runtime/client.ts";
import { createOperatorLogger, type Logger } from "./runtime/log.ts";

const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

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

/**
 * Runs the operator until SIGTERM/SIGINT; resolves the exit code. The controllers, the kubeconfig loader
 * and the metrics are loaded here, not at the top: `kubelab-operator snapshot ...` (the backup CronJob, a
 * process per snapshot) never loads the controllers or the metrics. (The API client and the logger are
 * loaded by both paths.)
 */
async function runOperator(flags: RunFlags): Promise<number> {
  const [{ createOperator }, { loadConnection }, { RuntimeMetrics }] = await Promise.all([
    import("./operator.ts"),
    import("./runtime/kubeconfig.ts"),
    import("./runtime/metrics.ts"),
  ]);
  const identity =
    flags.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString("hex")}`;
  const log = createOperatorLogger({ level: flags.logLevel, defaultMeta: { identity } });
  const namespace = operatorNamespace(flags.namespace);
  const connection = await loadConnection(flags.kubeconfig === undefined ? {} : { file: flags.kubeconfig });
  const client = new KubeClient(connection);
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

/**
 * Commands beside `run`, loaded only when named so that the operator process never pays for their modules.
 * Each resolves the command's entry point, which gets the arguments after its name and resolves the exit
 * code. `snapshot` is the etcd snapshot agent the backup CronJob runs (`kubelab-operator snapshot save ...`).
 */
const SUBCOMMANDS: Readonly<Record<string, () => Promise<(argv: readonly string[]) => Promise<number>>>> = {
  snapshot: async () => (await import("./snapshot/cli.ts")).main,
};

async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  const subcommand = first === undefined ? undefined : SUBCOMMANDS[first];
  if (subcommand !== undefined) return (await subcommand())(rest);
  const flags = parseRunFlags(first === "run" ? rest : argv);
  if (flags === undefined) {
    process.stdout.write(runHelp(Object.keys(SUBCOMMANDS)));
    return ExitCode.ok;
  }
  return runOperator(flags);
}

try {
  process.exitCode = await main(process.argv.slice(2));
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
