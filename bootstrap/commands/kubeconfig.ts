// `bootstrap kubeconfig [--merge]`: print the lab's admin kubeconfig, or merge it into the user's kubeconfig.
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { parse, stringify } from "yaml";

import { StateError, UsageError } from "../errors.ts";
import { FileMode, readTextIfExists, writeFileAtomic } from "../files.ts";
import {
  closeLogger,
  existingOrConfiguredLab,
  openSession,
  requireLabKubeconfig,
  type CommandIo,
  type GlobalOptions,
} from "./common.ts";

export interface KubeconfigOptions {
  readonly merge?: boolean;
}

interface Named {
  name: string;
  [key: string]: unknown;
}
interface KubeconfigDocument {
  apiVersion?: string;
  kind?: string;
  clusters?: Named[];
  users?: Named[];
  contexts?: (Named & { context?: { cluster?: string; user?: string; namespace?: string } })[];
  "current-context"?: string;
  [key: string]: unknown;
}

/**
 * Without --merge, writes the admin kubeconfig to stdout (for `> file` or `KUBECONFIG=<(...)`). With
 * --merge, adds it to the first file of $KUBECONFIG (or ~/.kube/config) as cluster, user and context
 * `kubelab-<lab>`, replacing entries of that name, and makes it the current context.
 */
export async function kubeconfig(
  global: GlobalOptions,
  options: KubeconfigOptions,
  io: CommandIo,
): Promise<void> {
  const session = await openSession(global, io);
  try {
    const lab = await existingOrConfiguredLab(session);
    const text = await requireLabKubeconfig(session, lab);
    if (options.merge !== true) {
      io.stdout.write(text);
      return;
    }
    const target = userKubeconfigPath(io.env);
    const merged = mergeKubeconfig(await readTextIfExists(target), text, `kubelab-${lab.name}`);
    await writeFileAtomic(target, merged, FileMode.secret);
    io.stdout.write(
      `Merged lab ${lab.name} into ${target} as context kubelab-${lab.name} (now the current context).\n`,
    );
  } finally {
    await closeLogger(session.logger);
  }
}

/** The file kubectl writes to: the first entry of $KUBECONFIG, else ~/.kube/config. */
export function userKubeconfigPath(env: NodeJS.ProcessEnv): string {
  const first = (env.KUBECONFIG ?? "").split(delimiter).find((entry) => entry !== "");
  return first ?? join(env.HOME ?? homedir(), ".kube", "config");
}

/**
 * `existing` (a kubeconfig, or undefined) with the single cluster/user/context of `lab` added under
 * `name` (user `name-admin`), entries of those names replaced, and current-context set to `name`. Pure.
 */
export function mergeKubeconfig(existing: string | undefined, lab: string, name: string): string {
  const source = parse(lab) as KubeconfigDocument;
  const cluster = source.clusters?.[0];
  const user = source.users?.[0];
  if (cluster === undefined || user === undefined) {
    throw new StateError("the lab's kubeconfig has no cluster or user entry", {
      hint: "run `bootstrap up` again to fetch it",
    });
  }
  let target: KubeconfigDocument;
  try {
    target =
      existing === undefined || existing.trim() === ""
        ? {}
        : ((parse(existing) as KubeconfigDocument | null) ?? {});
  } catch (error) {
    throw new UsageError(`the kubeconfig to merge into is not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const userName = `${name}-admin`;
  const replace = <T extends Named>(list: T[] | undefined, entry: T): T[] => [
    ...(list ?? []).filter((item) => item.name !== entry.name),
    entry,
  ];
  const merged: KubeconfigDocument = {
    ...target,
    apiVersion: target.apiVersion ?? "v1",
    kind: target.kind ?? "Config",
    clusters: replace(target.clusters, { ...cluster, name }),
    users: replace(target.users, { ...user, name: userName }),
    contexts: replace(target.contexts, { name, context: { cluster: name, user: userName } }),
    "current-context": name,
  };
  return stringify(merged);
}
