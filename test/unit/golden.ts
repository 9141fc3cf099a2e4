// Golden files: compare rendered output with test/unit/golden/, or rewrite them with UPDATE_GOLDEN=1.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";

export const GOLDEN_DIR = fileURLToPath(new URL("./golden/", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === "1";

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

/**
 * Checks that `files` (relative path -> content) are exactly the golden set `name`: same paths, same
 * bytes. With UPDATE_GOLDEN=1 the set is rewritten instead (review the diff before committing).
 */
export async function expectGolden(name: string, files: ReadonlyMap<string, string>): Promise<void> {
  const root = join(GOLDEN_DIR, name);
  if (UPDATE) {
    await rm(root, { recursive: true, force: true });
    for (const [path, content] of files) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
    return;
  }
  expect(
    await listFiles(root),
    `golden set ${name}: file list (UPDATE_GOLDEN=1 npm test rewrites it)`,
  ).to.deep.equal([...files.keys()].sort());
  for (const [path, content] of files) {
    const golden = await readFile(join(root, path), "utf8");
    expect(content, `golden ${name}/${path} differs (UPDATE_GOLDEN=1 npm test rewrites it)`).to.equal(golden);
  }
}
