// An exclusive lock file between processes, so two runs do not build the same binary set at once.
import { open, readFile, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";

export interface FileLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Called once when the lock is held by another live process, before waiting for it. */
  readonly onWait?: (holder: string) => void;
  readonly pollMs?: number;
  /** Give up after this long; the error names the holder. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Takes the lock at `path` (created with O_EXCL, holding "pid@host"). A lock left by a process that no
 * longer exists on this host is stale and taken over, so a killed build never blocks the next one.
 */
export async function acquireFileLock(path: string, options: AcquireOptions = {}): Promise<FileLock> {
  const started = Date.now();
  const pollMs = options.pollMs ?? 500;
  let announced = false;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid}@${hostname()}\n`);
      await handle.close();
      return {
        path,
        release: async () => {
          // Only remove our own lock: a stale-lock takeover by another process must not be undone.
          if ((await readHolder(path)) === `${process.pid}@${hostname()}`) await rm(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await readHolder(path);
    if (holder !== undefined && (await isStale(path, holder))) {
      await rm(path, { force: true });
      continue;
    }
    if (!announced) {
      options.onWait?.(holder ?? "unknown");
      announced = true;
    }
    if (options.timeoutMs !== undefined && Date.now() - started > options.timeoutMs) {
      throw new Error(`lock ${path} is still held by ${holder ?? "unknown"} after ${options.timeoutMs} ms`);
    }
    await sleep(pollMs, undefined, { signal: options.signal });
  }
}

async function readHolder(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    return undefined;
  }
}

/**
 * A holder is stale when it names this host and a pid that is not running (other hosts are trusted), or
 * when the file stayed empty for a minute (its creator died between creating and writing it).
 */
async function isStale(path: string, holder: string): Promise<boolean> {
  const match = /^(\d+)@(.*)$/.exec(holder);
  if (match === null) {
    const info = await stat(path).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs > 60_000;
  }
  if (match[2] !== hostname()) return false;
  try {
    process.kill(Number(match[1]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
