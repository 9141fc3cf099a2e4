// One long-running component process (etcd, kube-apiserver...): started through execa in its own process
// group, output appended to a log file, stopped with SIGTERM then SIGKILL, and killed if this process dies.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { execa, type ResultPromise } from "execa";
import { onExit } from "signal-exit";

export interface ManagedProcessOptions {
  /** Component name for logs and errors ("etcd", "kube-apiserver"). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr are appended here; the file survives the process for post-mortems. */
  readonly logPath: string;
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** SIGTERM grace before SIGKILL. */
  readonly stopGraceMs?: number;
  /**
   * Kill the process group when this Node process exits or is killed by a signal (default true). The sim
   * supervisor keeps it on too: its children must never outlive it.
   */
  readonly killOnExit?: boolean;
}

export interface ExitInfo {
  readonly code: number | undefined;
  readonly signal: string | undefined;
  /** True when we asked it to stop. */
  readonly requested: boolean;
}

/**
 * A started component. `exited` settles (never rejects) when the process is gone, whatever the reason;
 * `stop()` is idempotent and resolves once the whole process group is gone.
 */
export class ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  #subprocess: ResultPromise;
  #stopRequested = false;
  #exitInfo: ExitInfo | undefined;
  #removeExitHook: () => void;

  private constructor(options: ManagedProcessOptions, subprocess: ResultPromise, pid: number) {
    this.name = options.name;
    this.logPath = options.logPath;
    this.pid = pid;
    this.#subprocess = subprocess;
    // Synchronous last resort: the group dies with us even when stop() never ran (crash, Ctrl-C, mocha exit).
    this.#removeExitHook =
      options.killOnExit === false
        ? () => {}
        : onExit(() => {
            killGroup(pid, "SIGKILL");
          });
    this.exited = subprocess.then(
      (result) => ({ code: result.exitCode, signal: result.signal, requested: this.#stopRequested }),
      (error: { exitCode?: number; signal?: string }) => ({
        code: error.exitCode,
        signal: error.signal,
        requested: this.#stopRequested,
      }),
    );
    void this.exited.then((info) => {
      this.#exitInfo = info;
      this.#removeExitHook();
    });
  }

  /** Starts the process; rejects when it cannot be spawned (missing binary, bad cwd). */
  static async start(options: ManagedProcessOptions): Promise<ManagedProcess> {
    const subprocess: ResultPromise = execa(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env,
      extendEnv: options.env === undefined,
      stdin: "ignore",
      stdout: { file: options.logPath, append: true },
      stderr: { file: options.logPath, append: true },
      // Own process group, so stop() reaches anything the component forks, and a Ctrl-C on the
      // terminal does not hit it before we stop the components in order.
      killDescendants: true,
      cleanup: options.killOnExit !== false,
      forceKillAfterDelay: options.stopGraceMs ?? 10_000,
      reject: true,
    });
    const pid = subprocess.pid;
    if (pid === undefined) {
      // Spawn failed (ENOENT, EACCES...): execa rejects the promise with the reason.
      const error = await subprocess.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      throw new Error(
        `${options.name} could not be started: ${String((error as Error | undefined)?.message)}`,
        {
          cause: error,
        },
      );
    }
    return new ManagedProcess(options, subprocess, pid);
  }

  /** Exit details once the process is gone, else undefined (still running). */
  get exitInfo(): ExitInfo | undefined {
    return this.#exitInfo;
  }

  get running(): boolean {
    return this.#exitInfo === undefined;
  }

  /** SIGTERM to the group, SIGKILL after the grace period; resolves when the process has exited. */
  async stop(): Promise<ExitInfo> {
    if (this.#exitInfo !== undefined) return this.#exitInfo;
    this.#stopRequested = true;
    this.#subprocess.kill("SIGTERM");
    return this.exited;
  }

  /** The last lines of the log file, for error messages. */
  logTail(lines = 30): string {
    return tailOfFile(this.logPath, lines);
  }
}

/**
 * Blocks (synchronously: it is meant for exit hooks, where nothing asynchronous runs any more) until every
 * pid has exited, or `timeoutMs` passed. A zombie counts as exited: it holds no files any more.
 */
export function waitForExitSync(pids: readonly number[], timeoutMs: number): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isRunning) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10);
}

/** Whether a process is running (not gone, not a zombie). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (process.platform !== "linux") return true;
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Sends a signal to a whole process group; a group that is already gone is not an error. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone. EPERM: the pid was reused by someone else's process; leave it alone.
  }
}

/** The last `lines` lines of a text file (reads at most its last 64 KiB); empty when missing. */
export function tailOfFile(path: string, lines: number): string {
  let descriptor: number | undefined;
  try {
    descriptor = openSync(path, "r");
    const size = fstatSync(descriptor).size;
    const length = Math.min(size, 65_536);
    const buffer = Buffer.alloc(length);
    readSync(descriptor, buffer, 0, length, size - length);
    return buffer.toString("utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  } finally {
    if (descriptor !== undefined) closeSync(descriptor);
  }
}
