// `bootstrap init`: write a commented lab.yaml with the defaults.
import { resolve } from "node:path";

import { UsageError } from "../errors.ts";
import { readTextIfExists, writeFileAtomic } from "../files.ts";
import { renderDefaultLabFile } from "../lab/labfile.ts";
import type { CommandIo, GlobalOptions } from "./common.ts";

export interface InitOptions {
  readonly force?: boolean;
}

/** Writes lab.yaml (the `-c` path); refuses to overwrite an existing file without --force (exit 2). */
export async function init(global: GlobalOptions, options: InitOptions, io: CommandIo): Promise<void> {
  const path = resolve(global.config);
  if (options.force !== true && (await readTextIfExists(path)) !== undefined) {
    throw new UsageError(`${path} already exists`, {
      hint: "edit it, or pass --force to replace it with the defaults",
    });
  }
  await writeFileAtomic(path, renderDefaultLabFile());
  io.stdout.write(`Wrote ${path} (every setting at its default, with comments).\n`);
  io.stdout.write(
    `Next: bootstrap up --dry-run   (shows the plan and renders the files), then bootstrap up\n`,
  );
}
