// Writing files the CLI owns: atomically (temp file + rename) so a crash or Ctrl-C never leaves half a file.
import { randomBytes } from "node:crypto";
import { access, chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** File modes the CLI uses: secrets (tokens, kubeconfigs, scripts that embed a token) are owner-only. */
export const FileMode = {
  public: 0o644,
  executable: 0o755,
  secret: 0o600,
  secretDirectory: 0o700,
} as const;

/**
 * Writes `content` to `path` atomically with `mode`: the data goes to a temp file in the same directory,
 * which is then renamed over the target, so readers see the old or the new file, never a torn one.
 * The directory is created when missing. Returns whether the content changed (a no-op returns false and
 * does not touch the file, so re-rendering an unchanged lab changes nothing on disk).
 */
export async function writeFileAtomic(
  path: string,
  content: string,
  mode: number = FileMode.public,
): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true });
  const current = await readTextIfExists(path);
  if (current === content) {
    // Still enforce the mode: a secret must never stay world-readable because its bytes did not change.
    await chmod(path, mode);
    return false;
  }
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(temporary, content, { mode, flag: "wx" });
    await chmod(temporary, mode); // the umask may have narrowed or widened `mode`
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return true;
}

/** Reads a UTF-8 file, or returns undefined when it does not exist; other errors propagate. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** True when `path` exists (any kind of file) and can be reached. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
