// What `bootstrap --help` and `--version` load: no command module, no Kubernetes client, no lab.yaml schema.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { execa } from "execa";

import { tempDir } from "./helpers.ts";

const BOOTSTRAP = fileURLToPath(new URL("../../bin/bootstrap.js", import.meta.url));

/** The URLs of every module `bootstrap ARGS` loads, recorded by a resolve hook. */
async function loadedModules(args: readonly string[]): Promise<string[]> {
  const dir = await tempDir();
  const hook = join(dir, "record.mjs");
  const record = join(dir, "loaded.txt");
  await writeFile(
    hook,
    `import { appendFileSync } from "node:fs";
import { registerHooks } from "node:module";
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    appendFileSync(${JSON.stringify(record)}, result.url + "\\n");
    return result;
  },
});
`,
  );
  await execa(process.execPath, ["--import", hook, BOOTSTRAP, ...args], {
    env: { NODE_DISABLE_COMPILE_CACHE: "1" },
  });
  const { readFile } = await import("node:fs/promises");
  return (await readFile(record, "utf8")).trim().split("\n");
}

describe("cli start-up", () => {
  for (const args of [["--help"], ["--version"], ["up", "--help"], ["trace", "--help"]]) {
    it(`bootstrap ${args.join(" ")} loads no command module, no Kubernetes client and no schema library`, async () => {
      const loaded = await loadedModules(args);
      expect(
        loaded.some((url) => url.endsWith("/bootstrap/cli.ts")),
        "cli.ts itself",
      ).to.equal(true);
      const heavy = loaded.filter((url) =>
        /\/bootstrap\/commands\/(?!common\.ts)|@kubernetes\/client-node|\/node_modules\/(zod|yaml|winston|listr2)\//.test(
          url,
        ),
      );
      expect(heavy).to.deep.equal([]);
    });
  }
});
