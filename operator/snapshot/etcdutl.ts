// etcdutl, of the cluster's etcd version: `snapshot status` and `snapshot restore`, with timeouts and a log.
import { appendFile } from "node:fs/promises";
import { execa } from "execa";
import { z } from "zod";

import { EtcdutlError } from "./errors.ts";

/** What `etcdutl snapshot status -w json` prints. */
export interface SnapshotStatus {
  /** crc32 over every bucket's keys and values (changes on restore, which rewrites the membership). */
  readonly hash: number;
  /** The store revision. */
  readonly revision: number;
  /** Live keys at that revision (etcdutl >= 3.6 counts keys, not revisions). */
  readonly totalKey: number;
  /** Size of the database, without the trailer. */
  readonly totalSize: number;
  /** Storage version, such as 3.6.0. */
  readonly version: string;
}

const statusSchema = z.object({
  hash: z.number().int(),
  revision: z.number().int().min(0),
  totalKey: z.number().int().min(0),
  totalSize: z.number().int().min(0),
  version: z.string().default(""),
});

/** Where restore puts a member: the same shape `bootstrap restore` uses on the node, with throwaway names. */
export interface RestoreTarget {
  readonly dataDir: string;
  readonly name: string;
  readonly peerUrl: string;
  /** `name=peerUrl,...`; default the one member `name=peerUrl`. */
  readonly initialCluster?: string;
  readonly initialClusterToken?: string;
  /**
   * A real restore (not a trial): `--bump-revision` by this much and `--mark-compacted`, as the Kubernetes
   * docs advise, so the revision moves past anything a client saw before and their watches from then are
   * told to re-list (410 Gone) instead of waiting for revisions that would mean something else now.
   */
  readonly bumpRevision?: number;
}

/**
 * The outcome of an etcdutl run that judged the snapshot: `ok`, or the reason it refused (corrupt, missing
 * trailer, hash mismatch). Failures to run etcdutl at all throw EtcdutlError instead: that is not a verdict.
 */
export type Verdict<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface EtcdutlOptions {
  /** The etcdutl executable (default `etcdutl` on PATH). */
  readonly command?: string;
  /** Output of every run is appended here. */
  readonly logFile: string;
  /** Per run. Default scales with the file: 60 s + 60 s per GiB. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs etcdutl. Resolves the verdict; throws EtcdutlError when etcdutl is missing, timed out, or was killed.
 */
export class Etcdutl {
  readonly command: string;
  #options: EtcdutlOptions;

  constructor(options: EtcdutlOptions) {
    this.command = options.command ?? "etcdutl";
    this.#options = options;
  }

  /** `etcdutl snapshot status`: opens the file read-only, checks bolt's page structure, counts keys. */
  async status(file: string, sizeBytes: number): Promise<Verdict<SnapshotStatus>> {
    const run = await this.#run(["snapshot", "status", file, "--write-out", "json"], sizeBytes);
    if (!run.ok) return run;
    const line = run.value.stdout.trim().split("\n").at(-1) ?? "";
    try {
      return { ok: true, value: statusSchema.parse(JSON.parse(line)) };
    } catch {
      return { ok: false, reason: `etcdutl snapshot status printed no status: ${JSON.stringify(line)}` };
    }
  }

  /**
   * `etcdutl snapshot restore` into a new data dir. It checks the file's sha256 trailer against its content
   * before it rewrites the membership, exactly as a real restore does.
   */
  async restore(file: string, sizeBytes: number, target: RestoreTarget): Promise<Verdict<void>> {
    const run = await this.#run(
      [
        "snapshot",
        "restore",
        file,
        `--data-dir=${target.dataDir}`,
        `--name=${target.name}`,
        `--initial-cluster=${target.initialCluster ?? `${target.name}=${target.peerUrl}`}`,
        `--initial-advertise-peer-urls=${target.peerUrl}`,
        `--initial-cluster-token=${target.initialClusterToken ?? "kubelab-verify"}`,
        ...(target.bumpRevision === undefined
          ? []
          : [`--bump-revision=${target.bumpRevision}`, "--mark-compacted"]),
      ],
      sizeBytes,
    );
    return run.ok ? { ok: true, value: undefined } : run;
  }

  /** `etcdutl version`, first line ("etcdutl version: 3.6.8" -> "3.6.8"). */
  async version(): Promise<string> {
    const run = await this.#run(["version"], 0);
    if (!run.ok) throw new EtcdutlError(`${this.command} version failed: ${run.reason}`);
    return /version:\s*(\S+)/.exec(run.value.stdout)?.[1] ?? run.value.stdout.trim();
  }

  async #run(args: string[], sizeBytes: number): Promise<Verdict<{ stdout: string }>> {
    const timeoutMs = this.#options.timeoutMs ?? 60_000 + Math.ceil((sizeBytes / 2 ** 30) * 60_000);
    const label = [this.command, ...args].join(" ");
    await appendFile(this.#options.logFile, `\n$ ${label}  [${new Date().toISOString()}]\n`);
    const result = await execa(this.command, args, {
      reject: false,
      timeout: timeoutMs,
      cancelSignal: this.#options.signal,
      stdin: "ignore",
      all: true,
      maxBuffer: 16 * 1024 * 1024,
    });
    await appendFile(this.#options.logFile, `${result.all}\n[exit ${result.exitCode ?? result.signal}]\n`);
    if (result.failed && result.exitCode === undefined) {
      const why =
        (result.originalMessage ?? "").includes("ENOENT") || result.code === "ENOENT"
          ? `${this.command} not found: install etcdutl of the cluster's etcd version or pass --etcdutl`
          : result.timedOut
            ? `${label} timed out after ${timeoutMs} ms`
            : result.isCanceled
              ? `${label} was cancelled`
              : `${label} failed: ${result.shortMessage}`;
      throw new EtcdutlError(`${why} (log: ${this.#options.logFile})`, { cause: result });
    }
    if (result.exitCode !== 0) {
      return { ok: false, reason: lastMeaningfulLine(String(result.stderr)) };
    }
    return { ok: true, value: { stdout: String(result.stdout) } };
  }
}

/** etcdutl prints zap logs then the error; the error is the last line that is not a log record. */
export function lastMeaningfulLine(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const errorLine = [...lines].reverse().find((line) => /^Error:/.test(line));
  if (errorLine !== undefined) return errorLine.replace(/^Error:\s*/, "");
  return lines.at(-1) ?? "etcdutl failed without output";
}
