// The `run` command's flags: one table gives the parser, the defaults, the validation and --help.
import { parseArgs } from "node:util";

import { ConfigurationError, ExitCode } from "./errors.ts";
import { LOG_LEVELS, type LogLevel } from "./runtime/log.ts";

/** The operator's settings after parsing; every flag has its default applied. */
export interface RunFlags {
  readonly kubeconfig: string | undefined;
  readonly namespace: string | undefined;
  readonly leaderElection: boolean;
  readonly leaderElectionNamespace: string | undefined;
  readonly leaderElectionId: string;
  readonly identity: string | undefined;
  readonly leaseDuration: number;
  readonly renewDeadline: number;
  readonly retryPeriod: number;
  readonly bindAddress: string;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly concurrency: number;
  readonly logLevel: LogLevel;
}

interface FlagSpec {
  readonly key: keyof RunFlags;
  readonly flag: string;
  readonly value?: string;
  readonly help: string;
  /** Whole numbers: the accepted range. */
  readonly range?: readonly [number, number];
  readonly choices?: readonly string[];
  readonly boolean?: true;
}

/**
 * Why node:util's parseArgs and not commander: the operator is a long-running process with a memory budget,
 * and commander's module costs ~10 MB of resident memory for parsing a dozen flags once.
 */
const FLAGS: readonly FlagSpec[] = [
  {
    key: "kubeconfig",
    flag: "kubeconfig",
    value: "path",
    help: "kubeconfig file (default: KUBECONFIG, else the in-cluster ServiceAccount)",
  },
  {
    key: "namespace",
    flag: "namespace",
    value: "name",
    help: "namespace the operator runs in (default: POD_NAMESPACE, its ServiceAccount's, or kubelab-system)",
  },
  {
    key: "leaderElection",
    flag: "no-leader-election",
    boolean: true,
    help: "act at once, without a Lease (one replica only)",
  },
  {
    key: "leaderElectionNamespace",
    flag: "leader-election-namespace",
    value: "name",
    help: "namespace of the leader Lease (default: --namespace)",
  },
  {
    key: "leaderElectionId",
    flag: "leader-election-id",
    value: "name",
    help: 'name of the leader Lease (default: "kubelab-operator")',
  },
  {
    key: "identity",
    flag: "identity",
    value: "id",
    help: "this replica's holder identity (default: POD_NAME or hostname, plus a random suffix)",
  },
  {
    key: "leaseDuration",
    flag: "lease-duration",
    value: "seconds",
    range: [2, 600],
    help: "leader lease duration (default: 15)",
  },
  {
    key: "renewDeadline",
    flag: "renew-deadline",
    value: "seconds",
    range: [1, 600],
    help: "leader renew deadline (default: 10)",
  },
  {
    key: "retryPeriod",
    flag: "retry-period",
    value: "seconds",
    range: [1, 600],
    help: "leader retry period (default: 2)",
  },
  {
    key: "bindAddress",
    flag: "bind-address",
    value: "host",
    help: 'address of the probe and metrics listeners (default: "0.0.0.0")',
  },
  {
    key: "healthPort",
    flag: "health-port",
    value: "port",
    range: [0, 65535],
    help: "port of /healthz and /readyz (default: 8081; 0 picks one)",
  },
  {
    key: "metricsPort",
    flag: "metrics-port",
    value: "port",
    range: [0, 65535],
    help: "port of /metrics (default: 8080; 0 picks one)",
  },
  {
    key: "concurrency",
    flag: "concurrency",
    value: "n",
    range: [1, 64],
    help: "parallel reconciles of distinct LabClusters (default: 2)",
  },
  {
    key: "logLevel",
    flag: "log-level",
    value: "level",
    choices: LOG_LEVELS,
    help: `log level: ${LOG_LEVELS.join(", ")} (default: info)`,
  },
];

/** What `kubelab-operator run` uses for a flag not given (tests derive their timings from these). */
export const RUN_FLAG_DEFAULTS: RunFlags = {
  kubeconfig: undefined,
  namespace: undefined,
  leaderElection: true,
  leaderElectionNamespace: undefined,
  leaderElectionId: "kubelab-operator",
  identity: undefined,
  leaseDuration: 15,
  renewDeadline: 10,
  retryPeriod: 2,
  bindAddress: "0.0.0.0",
  healthPort: 8081,
  metricsPort: 8080,
  concurrency: 2,
  logLevel: "info",
};

/** A flag is wrong: the message names it and says what it accepts. */
export class UsageError extends ConfigurationError {}

/** The usage text of `kubelab-operator [run]`. */
export function runHelp(subcommands: readonly string[]): string {
  const rows = FLAGS.map((spec) => [
    `--${spec.flag}${spec.value === undefined ? "" : ` <${spec.value}>`}`,
    spec.help,
  ]);
  const width = Math.max(...rows.map(([flag]) => flag!.length));
  return [
    "Usage: kubelab-operator [run] [flags]" +
      (subcommands.length > 0 ? `\n       kubelab-operator ${subcommands.join("|")} ...` : ""),
    "",
    "Reconciles LabCluster objects: node health, Calico and CoreDNS restoration, etcd snapshots.",
    "",
    "Flags:",
    ...rows.map(([flag, help]) => `  ${flag!.padEnd(width)}  ${help}`),
    `  ${"--help".padEnd(width)}  this text`,
    "",
    `Exit codes: ${ExitCode.ok} stopped cleanly, ${ExitCode.failure} failure, ${ExitCode.badInput} bad flags or kubeconfig, ` +
      `${ExitCode.leadershipLost} leadership lost.`,
    "",
  ].join("\n");
}

/** Parses the `run` flags; `undefined` means --help was asked for. Throws UsageError naming the flag. */
export function parseRunFlags(argv: readonly string[]): RunFlags | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        ...Object.fromEntries(
          FLAGS.map((spec) => [spec.flag, { type: spec.boolean ? "boolean" : "string" } as const]),
        ),
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (see kubelab-operator --help)`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) return undefined;
  const flags: Record<string, unknown> = { ...RUN_FLAG_DEFAULTS };
  for (const spec of FLAGS) {
    const value = values[spec.flag];
    if (value === undefined) continue;
    if (spec.boolean) {
      flags[spec.key] = spec.flag.startsWith("no-") ? !value : value;
    } else if (spec.range !== undefined) {
      const number = Number(value);
      const [min, max] = spec.range;
      if (!/^\d+$/.test(String(value)) || number < min || number > max) {
        throw new UsageError(`--${spec.flag} ${String(value)}: must be a whole number from ${min} to ${max}`);
      }
      flags[spec.key] = number;
    } else if (spec.choices !== undefined && !spec.choices.includes(String(value))) {
      throw new UsageError(`--${spec.flag} ${String(value)}: must be one of ${spec.choices.join(", ")}`);
    } else {
      flags[spec.key] = value;
    }
  }
  const result = flags as unknown as RunFlags;
  if (result.renewDeadline >= result.leaseDuration || result.retryPeriod >= result.renewDeadline) {
    throw new UsageError(
      "leader election needs --retry-period < --renew-deadline < --lease-duration (defaults 2, 10, 15)",
    );
  }
  return result;
}
