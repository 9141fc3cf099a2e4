// What every provider with a node shell does the same way: script progress, failures named by node and step, copied secrets.
import { execa } from "execa";
import { parse } from "yaml";

import { renderKubeconfigData } from "../controlplane/kubeconfig.ts";

import { CommandError, InterruptedError, MissingToolError, StepError } from "../errors.ts";
import { FileMode, writeFileAtomic } from "../files.ts";
import { abortReason } from "../process.ts";
import type { ProviderContext } from "./provider.ts";

/**
 * The live-progress tap of a node script: the rendered scripts mark their steps with "==> "; everything
 * else (apt, kubeadm, etcdutl) goes to the node's log only.
 */
export function scriptMarkers(node: string, context: ProviderContext): (line: string) => void {
  return (line) => {
    if (line.startsWith("==> ")) context.progress?.(node, line.slice(4));
  };
}

/**
 * A command that failed on a node, as the failure of the step it served: a StepError naming the step, the
 * node, the command's last words and the node's log. Anything but a CommandError is returned unchanged.
 */
export function asStepFailure(
  error: unknown,
  step: string,
  node: string,
  logPath: string,
  options: { command?: string; hint?: string } = {},
): unknown {
  if (!(error instanceof CommandError)) return error;
  let message = error.message.replace(/ \(log: .*\)$/, "");
  // A long command line (all its flags) stays in the log; the message may name it shortly.
  if (options.command !== undefined && message.startsWith(`${error.command}: `)) {
    message = `${options.command}: ${message.slice(error.command.length + 2)}`;
  }
  return new StepError(step, message, {
    node,
    logPath,
    cause: error,
    ...(options.hint === undefined ? {} : { hint: options.hint }),
  });
}

/**
 * Writes what was read from a file on a node to `localPath`, atomically and owner-only (callers copy
 * secrets such as admin.conf). An empty read is a CommandError: a missing newline is added, nothing else.
 */
export async function writeCopiedFile(
  content: string,
  localPath: string,
  from: { node: string; remotePath: string; logPath: string },
): Promise<void> {
  if (content.trim() === "") {
    throw new CommandError(`copy ${from.remotePath} from ${from.node}`, "the file is empty", {
      logPath: from.logPath,
    });
  }
  await writeFileAtomic(localPath, content.endsWith("\n") ? content : `${content}\n`, FileMode.secret);
}

/**
 * Runs `file args` with the user's terminal attached (`bootstrap ssh`) and resolves with its exit code.
 * No timeout: the terminal is the user's and so is the duration. MissingToolError (with `installHint`)
 * when the program is not installed; InterruptedError when the context is aborted.
 */
export async function runInteractive(
  file: string,
  args: readonly string[],
  context: ProviderContext,
  options: { installHint: string; env?: Record<string, string> },
): Promise<number> {
  const result = await execa(file, [...args], {
    cwd: context.workDir,
    ...(options.env === undefined ? {} : { env: options.env }),
    stdio: "inherit",
    cancelSignal: context.signal,
    reject: false,
  });
  if ("code" in result && result.code === "ENOENT") throw new MissingToolError(file, options.installHint);
  if (result.isCanceled) throw new InterruptedError(abortReason(context.signal));
  return result.exitCode ?? 1;
}

/**
 * Writes the host's kubeconfig for the lab from the kubeconfig a node holds (kubeadm's admin.conf), keeping
 * only its cluster CA and its client certificate and key, with `server` set by the caller: whatever else a
 * node's file says (exec plugins, tokens, proxy-url, insecure-skip-tls-verify, another server) is not
 * trusted on the host. A file without embedded CA, certificate and key is a CommandError. Owner-only, atomic.
 */
export async function writeHostKubeconfig(
  nodeKubeconfig: string,
  localPath: string,
  options: {
    server: string;
    clusterName: string;
    from: { node: string; remotePath: string; logPath: string };
  },
): Promise<void> {
  const { node, remotePath, logPath } = options.from;
  const problem = (what: string) => new CommandError(`read ${remotePath} from ${node}`, what, { logPath });
  let document: unknown;
  try {
    document = parse(nodeKubeconfig);
  } catch {
    throw problem("it is not a kubeconfig (YAML did not parse)");
  }
  const config = (typeof document === "object" && document !== null ? document : {}) as KubeconfigFile;
  const current = config.contexts?.find((entry) => entry.name === config["current-context"])?.context;
  const cluster = config.clusters?.find((entry) => entry.name === current?.cluster)?.cluster;
  const user = config.users?.find((entry) => entry.name === current?.user)?.user;
  const data = {
    caCertData: pemData(cluster?.["certificate-authority-data"], "CERTIFICATE"),
    clientCertData: pemData(user?.["client-certificate-data"], "CERTIFICATE"),
    clientKeyData: pemData(user?.["client-key-data"], "PRIVATE KEY"),
  };
  const missing = Object.entries(data).filter(([, value]) => value === undefined);
  if (missing.length > 0) {
    throw problem(
      `its current context has no embedded ${missing.map(([key]) => key.replace(/Data$/, "")).join(", ")}`,
    );
  }
  const text = renderKubeconfigData({
    server: options.server,
    caCertData: data.caCertData!,
    clientCertData: data.clientCertData!,
    clientKeyData: data.clientKeyData!,
    user: "kubernetes-admin",
    clusterName: options.clusterName,
  });
  await writeFileAtomic(localPath, text, FileMode.secret);
}

/** The parts of a kubeconfig writeHostKubeconfig reads. */
interface KubeconfigFile {
  readonly "current-context"?: string;
  readonly contexts?: readonly { name?: string; context?: { cluster?: string; user?: string } }[];
  readonly clusters?: readonly { name?: string; cluster?: Record<string, unknown> }[];
  readonly users?: readonly { name?: string; user?: Record<string, unknown> }[];
}

/** `value` when it is base64 of PEM with a block of `type` (CERTIFICATE, ... PRIVATE KEY), else undefined. */
function pemData(value: unknown, type: string): string | undefined {
  if (typeof value !== "string" || !/^[A-Za-z0-9+/=\s]+$/.test(value)) return undefined;
  const pem = Buffer.from(value, "base64").toString("utf8");
  return new RegExp(`-----BEGIN ([A-Z]+ )?${type}-----`).test(pem) ? value.replace(/\s/g, "") : undefined;
}
