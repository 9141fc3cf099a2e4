// Test helper: a fresh temporary directory per test (or per suite), removed afterwards.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Registers mocha hooks that create `kubelab-<prefix>-XXXX` in the OS temp dir before each test (or once,
 * with `scope: "suite"`) and remove it after; returns a getter for the current directory.
 */
export function useTempDir(prefix: string, scope: "test" | "suite" = "test"): () => string {
  let dir: string | undefined;
  const create = async (): Promise<void> => {
    dir = await mkdtemp(join(tmpdir(), `kubelab-${prefix}-`));
  };
  const remove = async (): Promise<void> => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  };
  if (scope === "test") {
    beforeEach(create);
    afterEach(remove);
  } else {
    before(create);
    after(remove);
  }
  return () => {
    if (dir === undefined) throw new Error("useTempDir: no directory outside a test");
    return dir;
  };
}
