// The backup directory: which snapshots it holds, committing a verified one, quarantine, removal, cleanup.
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";

import { SnapshotStorageError } from "./errors.ts";
import { fsyncDirectory, removeFile, renameDurably, writeFileDurably } from "./durable.ts";
import { parseSnapshotRecord, SNAPSHOT_NAME, type SnapshotRecord } from "../api/etcdsnapshot.ts";
import { classifyFile, snapshotFiles } from "./record.ts";

/** Subdirectory for snapshots that failed verification, kept for a post-mortem. */
export const QUARANTINE_DIR = "quarantine";
/** Subdirectory for the per-run logs of etcdutl. */
export const LOGS_DIR = "logs";
/** Quarantined snapshots kept (newest first): evidence, without filling the disk with bad copies. */
export const QUARANTINE_KEEP = 2;
/** Per-run logs kept. */
export const LOGS_KEEP = 20;

/** A complete snapshot: its file and its record. */
export interface StoredSnapshot {
  readonly name: string;
  readonly dbPath: string;
  readonly recordPath: string;
  readonly record: SnapshotRecord;
}

/** What a scan of the backup directory found. Files the agent did not write are not listed. */
export interface StoreScan {
  /** Snapshot file and record present and the record readable; newest first. */
  readonly snapshots: readonly StoredSnapshot[];
  /** `<name>.db` without a readable record: not ours to judge, never pruned, reported. */
  readonly unrecorded: readonly { name: string; path: string; problem: string }[];
  /** Leftovers of interrupted runs: partial saves, half-written records, records without a file. */
  readonly leftovers: readonly {
    path: string;
    kind: "partial" | "temporary" | "orphanRecord";
    mtimeMs: number;
  }[];
}

/** The quarantine note written beside a quarantined snapshot. */
export interface QuarantineNote {
  readonly name: string;
  readonly quarantinedAt: string;
  readonly problems: readonly string[];
  /** What was known about the snapshot when it failed (the record, or the save's findings). */
  readonly snapshot: Record<string, unknown>;
}

/**
 * The backup directory of one node. The invariant it keeps: a `<name>.db` file exists only for a snapshot
 * that was saved completely, checked, and recorded (`<name>.json` is written first, then the file gets its
 * final name by an atomic rename). Everything else has a name no one mistakes for a complete snapshot.
 */
export class SnapshotStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  get quarantineDir(): string {
    return join(this.dir, QUARANTINE_DIR);
  }

  get logsDir(): string {
    return join(this.dir, LOGS_DIR);
  }

  /** Creates the directory (0700: snapshots hold every Secret of the cluster) when missing. */
  async ensure(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await mkdir(this.logsDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new SnapshotStorageError(this.dir, "cannot create backup directory", error);
    }
  }

  path(fileName: string): string {
    return join(this.dir, fileName);
  }

  /** Lists snapshots, newest first (by createdAt, then name). */
  async scan(): Promise<StoreScan> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        return { snapshots: [], unrecorded: [], leftovers: [] };
      }
      throw new SnapshotStorageError(this.dir, "cannot list", error);
    }
    const dbs = new Set<string>();
    const records = new Set<string>();
    const leftovers: { path: string; kind: "partial" | "temporary" | "orphanRecord"; mtimeMs: number }[] = [];
    for (const entry of entries) {
      const file = classifyFile(entry);
      if (file === undefined) continue;
      if (file.kind === "db") dbs.add(file.name);
      else if (file.kind === "record") records.add(file.name);
      else
        leftovers.push({ path: this.path(entry), kind: file.kind, mtimeMs: await mtimeOf(this.path(entry)) });
    }
    const snapshots: StoredSnapshot[] = [];
    const unrecorded: { name: string; path: string; problem: string }[] = [];
    for (const name of records) {
      const files = snapshotFiles(name);
      if (!dbs.has(name)) {
        const path = this.path(files.record);
        leftovers.push({ path, kind: "orphanRecord", mtimeMs: await mtimeOf(path) });
      }
    }
    for (const name of dbs) {
      const files = snapshotFiles(name);
      const dbPath = this.path(files.db);
      const recordPath = this.path(files.record);
      if (!records.has(name)) {
        unrecorded.push({ name, path: dbPath, problem: `no record ${files.record}` });
        continue;
      }
      try {
        const record = parseSnapshotRecord(await readFile(recordPath, "utf8"));
        if (record.name !== name) throw new Error(`the record names ${record.name}`);
        snapshots.push({ name, dbPath, recordPath, record });
      } catch (error) {
        unrecorded.push({ name, path: dbPath, problem: `unreadable record: ${(error as Error).message}` });
      }
    }
    snapshots.sort(newestFirst);
    unrecorded.sort((a, b) => b.name.localeCompare(a.name));
    return { snapshots, unrecorded, leftovers };
  }

  /** The complete snapshot of that name, or undefined. */
  async get(name: string): Promise<StoredSnapshot | undefined> {
    const { snapshots } = await this.scan();
    return snapshots.find((snapshot) => snapshot.name === name);
  }

  /**
   * Makes a saved, checked snapshot complete: writes its record, then renames the partial file to its final
   * name. Both steps are durable; a crash between them leaves a record without a file (cleaned later).
   */
  async commit(partialPath: string, record: SnapshotRecord): Promise<StoredSnapshot> {
    const files = snapshotFiles(record.name);
    const recordPath = this.path(files.record);
    const dbPath = this.path(files.db);
    await writeFileDurably(recordPath, `${JSON.stringify(record, null, 2)}\n`);
    await renameDurably(partialPath, dbPath);
    return { name: record.name, dbPath, recordPath, record };
  }

  /** Rewrites the record of a complete snapshot (after it was verified again). */
  async updateRecord(record: SnapshotRecord): Promise<void> {
    await writeFileDurably(
      this.path(snapshotFiles(record.name).record),
      `${JSON.stringify(record, null, 2)}\n`,
    );
  }

  /**
   * Moves a snapshot file that failed verification to quarantine/ with a note saying why, removes its record
   * (so nothing lists it as good), and keeps only the newest QUARANTINE_KEEP there. Returns the new path.
   */
  async quarantine(name: string, filePath: string, note: Omit<QuarantineNote, "name">): Promise<string> {
    try {
      await mkdir(this.quarantineDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new SnapshotStorageError(this.quarantineDir, "cannot create", error);
    }
    const files = snapshotFiles(name);
    const target = join(this.quarantineDir, files.db);
    await writeFileDurably(
      join(this.quarantineDir, files.record),
      `${JSON.stringify({ name, ...note }, null, 2)}\n`,
    );
    await renameDurably(filePath, target);
    await removeFile(this.path(files.record));
    await fsyncDirectory(this.dir);
    await this.#trimQuarantine();
    return target;
  }

  /**
   * Removes a complete snapshot: the file first, then its record (a crash in between leaves a record
   * without a file, which is cleaned up, never a file without a record, which would be left alone).
   */
  async remove(name: string): Promise<void> {
    const files = snapshotFiles(name);
    await removeFile(this.path(files.db));
    await removeFile(this.path(files.record));
    await removeFile(join(this.logsDir, files.log));
    await fsyncDirectory(this.dir);
  }

  /**
   * Removes leftovers of interrupted runs that are older than `staleAfterMs` (a run still in progress keeps
   * its files: a save writes continuously, a verify takes at most the job's deadline), and trims the logs.
   * Returns the removed paths.
   */
  async cleanup(staleAfterMs: number, now = Date.now()): Promise<string[]> {
    const { leftovers } = await this.scan();
    const removed: string[] = [];
    for (const leftover of leftovers) {
      if (now - leftover.mtimeMs < staleAfterMs) continue;
      if (await removeFile(leftover.path)) removed.push(leftover.path);
    }
    if (removed.length > 0) await fsyncDirectory(this.dir);
    await this.#trim(this.logsDir, LOGS_KEEP, ".log");
    return removed;
  }

  async #trimQuarantine(): Promise<void> {
    const removed = await this.#trim(this.quarantineDir, QUARANTINE_KEEP, ".db");
    for (const file of removed) await removeFile(join(this.quarantineDir, file.replace(/\.db$/, ".json")));
  }

  /**
   * Keeps the newest `keep` files named `<snapshot name><extension>` (names sort by time); returns the
   * removed names. Only names the agent makes count: a file someone else put there is never removed.
   */
  async #trim(dir: string, keep: number, extension: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = (await readdir(dir))
        .filter((entry) => entry.endsWith(extension) && SNAPSHOT_NAME.test(entry.slice(0, -extension.length)))
        .sort()
        .reverse();
    } catch {
      return [];
    }
    const surplus = entries.slice(keep);
    for (const entry of surplus) await rm(join(dir, entry), { force: true });
    return surplus;
  }
}

function newestFirst(a: StoredSnapshot, b: StoredSnapshot): number {
  const byTime = Date.parse(b.record.createdAt) - Date.parse(a.record.createdAt);
  return byTime !== 0 ? byTime : b.name.localeCompare(a.name);
}

async function mtimeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return 0;
  }
}
