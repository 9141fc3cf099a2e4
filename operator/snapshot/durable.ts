// Durable file operations: fsync of files and directories, atomic replace, so a crash never leaves half a file.
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import { SnapshotStorageError } from "./errors.ts";

/**
 * fsyncs a directory, which makes the creation, rename or removal of an entry in it durable. Without it a
 * rename can be lost in a power failure even though the file's data was synced.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch (error) {
    throw new SnapshotStorageError(dir, "cannot fsync directory", error);
  } finally {
    await handle?.close();
  }
}

/**
 * Writes `data` to `path` atomically and durably: a hidden temporary file in the same directory, fsync,
 * rename over `path`, fsync of the directory. Readers see the old content or the new one, never a part.
 */
export async function writeFileDurably(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const temporary = join(dir, `.${basename(path)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const handle = await open(temporary, "wx", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new SnapshotStorageError(path, "cannot write", error);
  }
  await fsyncDirectory(dir);
}

/** Renames `from` to `to` (same file system) and makes it durable in both directories. */
export async function renameDurably(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    throw new SnapshotStorageError(from, `cannot rename to ${to}:`, error);
  }
  await fsyncDirectory(dirname(to));
  if (dirname(from) !== dirname(to)) await fsyncDirectory(dirname(from));
}

/** Removes a file; a file that is already gone is fine (two prunes may race). */
export async function removeFile(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new SnapshotStorageError(path, "cannot remove", error);
  }
}
