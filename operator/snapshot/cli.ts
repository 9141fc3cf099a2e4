// `kubelab-operator snapshot save|verify|restore|sync|prune|list`: the snapshot agent's command table.
import { hostname, tmpdir } from "node:os";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";

import { ExitCode } from "../errors.ts";
import { KubeClient } from "../runtime/client.ts";
import { createOperatorLogger, LOG_LEVELS, type LogLevel, type Logger } from "../runtime/log.ts";
import {
  DEFAULT_STALE_AFTER_MS,
  restoreStoredSnapshot,
  syncRecorders,
  takeSnapshot,
  verifyStoredSnapshot,
} from "./agent.ts";
import { SnapshotInterruptedError } from "./errors.ts";
import { EtcdSnapshotRecorder } from "./kube-recorder.ts";
import { pruneSnapshots } from "./prune.ts";
import { NAME_PREFIX } from "./record.ts";
import { SnapshotStore } from "./store.ts";

/** kubeadm's etcd endpoint and client credentials on a control-plane node. */
export const KUBEADM_ETCD = {
  endpoint: "https://127.0.0.1:2379",
  caCertPath: "/etc/kubernetes/pki/etcd/ca.crt",
  certPath: "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
  keyPath: "/etc/kubernetes/pki/etcd/healthcheck-client.key",
} as const;

/** Default backup directory (spec.etcdBackup.hostPath's default). */
export const DEFAULT_BACKUP_DIR = "/var/lib/kubelab/etcd-backups";

interface CommonFlags {
  dir: string;
  etcdutl: string;
  workDir: string;
  logLevel: LogLevel;
}

interface SaveFlags extends CommonFlags {
  endpoint: string;
  cacert: string;
  cert: string;
  key: string;
  node: string;
  labCluster?: string;
  namePrefix: string;
  verify: boolean;
  retain?: number;
  kubernetesVersion?: string;
  staleAfter: number;
  recordObjects: boolean;
  kubeconfig?: string;
  labClusterUid?: string;
}

function positiveInteger(max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1 || parsed > max) {
      throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
    }
    return parsed;
  };
}

function namePrefix(value: string): string {
  if (!NAME_PREFIX.test(value)) {
    throw new InvalidArgumentError("must be a lowercase DNS label of at most 40 characters");
  }
  return value;
}

function commonOptions(command: Command): Command {
  return command
    .option("--dir <path>", "backup directory on this node", DEFAULT_BACKUP_DIR)
    .option("--etcdutl <path>", "etcdutl of the cluster's etcd version", "etcdutl")
    .option("--work-dir <path>", "scratch space for trial restores (as large as a snapshot)", tmpdir())
    .addOption(
      new Option("--log-level <level>", "log level (JSON lines on stderr)")
        .choices(LOG_LEVELS)
        .default("info"),
    );
}

/**
 * Runs `action` with a signal that aborts on SIGTERM (a Job's deadline) or SIGINT; the agent then removes
 * what it was writing and the command fails with SnapshotInterruptedError.
 */
async function interruptible<T>(log: Logger, action: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    log.warn("interrupted; cleaning up", { signal });
    controller.abort(
      new SnapshotInterruptedError(`interrupted by ${signal}; nothing complete-looking was left behind`),
    );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  try {
    return await action(controller.signal);
  } catch (error) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw error;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}

function logger(flags: { logLevel: LogLevel }, command: string): Logger {
  return createOperatorLogger({
    level: flags.logLevel,
    stream: process.stderr,
    defaultMeta: { component: "snapshot-agent", command },
  });
}

/**
 * The EtcdSnapshot recorder for --record-objects, and the API server's version (recorded with the
 * snapshot). The kubeconfig loader (and the YAML parser it needs) is loaded only here: a run without objects
 * never pays for it.
 */
async function objectRecorder(options: {
  kubeconfig: string | undefined;
  directory: string;
  node: string;
  labCluster: string | undefined;
  labClusterUid: string | undefined;
  log: Logger;
}): Promise<{ recorder: EtcdSnapshotRecorder; kubernetesVersion: string | undefined }> {
  const { loadConnection } = await import("../runtime/kubeconfig.ts");
  const client = new KubeClient(await loadConnection({ file: options.kubeconfig }), {
    userAgent: "kubelab-snapshot-agent",
  });
  const version = await client.get<{ gitVersion?: string }>("/version");
  const recorder = new EtcdSnapshotRecorder({
    client,
    directory: options.directory,
    node: options.node,
    log: options.log,
    ...(options.labCluster === undefined
      ? {}
      : {
          labCluster: {
            name: options.labCluster,
            ...(options.labClusterUid === undefined ? {} : { uid: options.labClusterUid }),
          },
        }),
  });
  return { recorder, kubernetesVersion: version.gitVersion };
}

function print(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * The `snapshot` command group. main.ts adds it with `root.addCommand(snapshotCommand())`. Results go to
 * stdout as one JSON object (the Job's log, read by `bootstrap backup`); logs go to stderr as JSON lines.
 */
export function snapshotCommand(): Command {
  const snapshot = new Command("snapshot").description(
    "the etcd snapshot agent: save, verify, prune and list snapshots in a backup directory",
  );

  commonOptions(
    snapshot
      .command("save")
      .description(
        "save a snapshot from etcd, verify it by a trial restore, record it beside the file, prune beyond --retain",
      ),
  )
    .option("--endpoint <url>", "etcd client URL (one member)", KUBEADM_ETCD.endpoint)
    .option("--cacert <path>", "CA that signed etcd's server certificate", KUBEADM_ETCD.caCertPath)
    .option("--cert <path>", "client certificate signed by etcd's CA", KUBEADM_ETCD.certPath)
    .option("--key <path>", "key of --cert", KUBEADM_ETCD.keyPath)
    .option("--node <name>", "node name recorded with the snapshot (default: NODE_NAME or the hostname)")
    .option("--lab-cluster <name>", "the LabCluster the snapshot belongs to")
    .option("--lab-cluster-uid <uid>", "its uid: the EtcdSnapshot objects are owned by it")
    .option("--record-objects", "also record EtcdSnapshot objects (and delete those of pruned files)", false)
    .option(
      "--kubeconfig <path>",
      "for --record-objects (default: KUBECONFIG, else the in-cluster ServiceAccount)",
    )
    .addOption(
      new Option("--name-prefix <prefix>", "snapshot name prefix").default("etcd").argParser(namePrefix),
    )
    .option("--no-verify", "skip the trial restore (etcdutl snapshot status still runs)")
    .addOption(
      new Option(
        "--retain <n>",
        "after success, keep this many snapshots (and the newest verified one)",
      ).argParser(positiveInteger(1000)),
    )
    .option("--kubernetes-version <version>", "Kubernetes version recorded with the snapshot")
    .addOption(
      new Option("--stale-after <seconds>", "remove leftovers of interrupted runs older than this")
        .default(DEFAULT_STALE_AFTER_MS / 1000)
        .argParser(positiveInteger(30 * 24 * 3600)),
    )
    .action(async (flags: SaveFlags) => {
      const log = logger(flags, "save");
      const node = flags.node ?? process.env.NODE_NAME ?? hostname();
      const objects = flags.recordObjects
        ? await objectRecorder({
            kubeconfig: flags.kubeconfig,
            directory: flags.dir,
            node,
            labCluster: flags.labCluster,
            labClusterUid: flags.labClusterUid,
            log,
          })
        : undefined;
      const result = await interruptible(log, (signal) =>
        takeSnapshot({
          recorders: objects === undefined ? [] : [objects.recorder],
          dir: flags.dir,
          etcdutl: flags.etcdutl,
          workDir: flags.workDir,
          log,
          signal,
          etcd: {
            endpoint: flags.endpoint,
            caCertPath: flags.cacert,
            certPath: flags.cert,
            keyPath: flags.key,
          },
          node,
          labCluster: flags.labCluster,
          namePrefix: flags.namePrefix,
          verify: flags.verify,
          retain: flags.retain,
          kubernetesVersion: flags.kubernetesVersion ?? objects?.kubernetesVersion,
          staleAfterMs: flags.staleAfter * 1000,
        }),
      );
      const { record } = result.snapshot;
      print({
        snapshot: record.name,
        path: result.snapshot.dbPath,
        sizeBytes: record.sizeBytes,
        sha256: record.sha256,
        revision: record.etcd.revision,
        keys: record.etcd.keys,
        verified: record.verification.verified,
        verification: record.verification.message,
        saveDurationMs: record.saveDurationMs,
        verifyDurationMs: record.verification.durationMs,
        pruned: result.pruned,
      });
    });

  commonOptions(
    snapshot
      .command("verify")
      .description("verify a stored snapshot again (sha256, trial restore, revision and key count)")
      .argument("<name>", "snapshot name, or `latest`"),
  )
    .option("--no-quarantine", "only report; leave a failing snapshot where it is")
    .action(async (name: string, flags: CommonFlags & { quarantine: boolean }) => {
      const log = logger(flags, "verify");
      const result = await interruptible(log, (signal) =>
        verifyStoredSnapshot({
          dir: flags.dir,
          etcdutl: flags.etcdutl,
          workDir: flags.workDir,
          log,
          signal,
          name,
          quarantine: flags.quarantine,
        }),
      );
      print({
        snapshot: result.snapshot.name,
        path: result.snapshot.dbPath,
        verified: true,
        verification: result.verification.message,
        durationMs: result.verification.durationMs,
      });
    });

  commonOptions(
    snapshot
      .command("restore")
      .description(
        "verify a stored snapshot again, then etcdutl-restore it into a new data directory (etcd must be stopped and pointed at it by the caller)",
      )
      .argument("<name>", "snapshot name, or `latest`"),
  )
    .requiredOption("--data-dir <path>", "the new etcd data directory (must not exist)")
    .requiredOption("--member-name <name>", "etcd --name of the member")
    .requiredOption("--peer-url <url>", "its --initial-advertise-peer-urls")
    .option("--initial-cluster <list>", "etcd --initial-cluster (default: <member-name>=<peer-url>)")
    .action(
      async (
        name: string,
        flags: CommonFlags & {
          dataDir: string;
          memberName: string;
          peerUrl: string;
          initialCluster?: string;
        },
      ) => {
        const log = logger(flags, "restore");
        const result = await interruptible(log, (signal) =>
          restoreStoredSnapshot({
            dir: flags.dir,
            etcdutl: flags.etcdutl,
            workDir: flags.workDir,
            log,
            signal,
            name,
            dataDir: flags.dataDir,
            member: {
              name: flags.memberName,
              peerUrl: flags.peerUrl,
              ...(flags.initialCluster === undefined ? {} : { initialCluster: flags.initialCluster }),
            },
          }),
        );
        print({
          snapshot: result.snapshot.name,
          dataDir: result.dataDir,
          revision: result.snapshot.record.etcd.revision,
          keys: result.snapshot.record.etcd.keys,
          verification: result.verification.message,
        });
      },
    );

  snapshot
    .command("sync")
    .description(
      "make the EtcdSnapshot objects of this node and LabCluster match the records on disk (run after a restore)",
    )
    .option("--dir <path>", "backup directory on this node", DEFAULT_BACKUP_DIR)
    .option("--node <name>", "the node whose objects these are (default: NODE_NAME or the hostname)")
    .option("--lab-cluster <name>", "the LabCluster the snapshots belong to")
    .option("--lab-cluster-uid <uid>", "its uid: the objects are owned by it")
    .option("--kubeconfig <path>", "default: KUBECONFIG, else the in-cluster ServiceAccount")
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .action(
      async (flags: {
        dir: string;
        node?: string;
        labCluster?: string;
        labClusterUid?: string;
        kubeconfig?: string;
        logLevel: LogLevel;
      }) => {
        const log = logger(flags, "sync");
        const { recorder } = await objectRecorder({
          kubeconfig: flags.kubeconfig,
          directory: flags.dir,
          node: flags.node ?? process.env.NODE_NAME ?? hostname(),
          labCluster: flags.labCluster,
          labClusterUid: flags.labClusterUid,
          log,
        });
        const store = new SnapshotStore(flags.dir);
        const changes = await interruptible(log, () => syncRecorders(store, [recorder]));
        const { snapshots } = await store.scan();
        print({ snapshots: snapshots.map((entry) => entry.name), ...changes });
      },
    );

  snapshot
    .command("prune")
    .description("remove snapshots beyond --retain, oldest first; the newest verified one is always kept")
    .option("--dir <path>", "backup directory on this node", DEFAULT_BACKUP_DIR)
    .requiredOption("--retain <n>", "how many to keep", positiveInteger(1000))
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .action(async (flags: { dir: string; retain: number; logLevel: LogLevel }) => {
      const log = logger(flags, "prune");
      const result = await pruneSnapshots(new SnapshotStore(flags.dir), flags.retain, { log });
      print({ removed: result.removed, kept: result.kept });
    });

  snapshot
    .command("list")
    .description("list the complete snapshots, newest first (and files the agent cannot vouch for)")
    .option("--dir <path>", "backup directory on this node", DEFAULT_BACKUP_DIR)
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"]).default("table"),
    )
    .action(async (flags: { dir: string; output: "table" | "json" }) => {
      const scan = await new SnapshotStore(flags.dir).scan();
      if (flags.output === "json") {
        print({
          snapshots: scan.snapshots.map((entry) => ({ ...entry.record, path: entry.dbPath })),
          unrecorded: scan.unrecorded,
        });
        return;
      }
      process.stdout.write(listTable(scan.snapshots.map((entry) => entry.record)));
      for (const entry of scan.unrecorded) {
        process.stdout.write(`not recorded (never used by restore): ${entry.path}: ${entry.problem}\n`);
      }
    });

  return snapshot;
}

/**
 * Entry point of `kubelab-operator snapshot ...` (main.ts loads this module only for that command):
 * `argv` is what follows `snapshot`. Resolves the exit code; the agent's errors (OperatorError) propagate
 * to main.ts, which prints them and exits with their code.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = snapshotCommand()
    .name("kubelab-operator snapshot")
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      "after",
      `\nExit codes: ${ExitCode.ok} done, ${ExitCode.failure} failed (etcd unavailable, verification failed, ` +
        `interrupted), ${ExitCode.badInput} bad flags, certificates or TLS credentials.`,
    );
  // Subcommands were made before these settings: they need their own, or commander exits by itself.
  for (const command of program.commands) command.exitOverride().showHelpAfterError();
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with 0; usage errors were printed by commander.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
    throw error;
  }
  return ExitCode.ok;
}

/** A fixed-width table of snapshots, as `kubectl get etcdsnapshots` shows them. */
export function listTable(
  records: readonly {
    name: string;
    createdAt: string;
    sizeBytes: number;
    etcd: { revision: number; keys?: number };
    verification: { verified: boolean };
  }[],
): string {
  const rows = [
    ["NAME", "CREATED", "SIZE", "REVISION", "KEYS", "VERIFIED"],
    ...records.map((record) => [
      record.name,
      record.createdAt,
      formatBytes(record.sizeBytes),
      String(record.etcd.revision),
      record.etcd.keys === undefined ? "?" : String(record.etcd.keys),
      String(record.verification.verified),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}

/** 1536 -> "1.5KiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes}B` : `${value.toFixed(1)}${units[unit]}`;
}
