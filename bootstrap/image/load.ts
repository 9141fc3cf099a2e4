// Loading an image archive into a lab's nodes, one small function per provider: containerd's own import on
// the node, fed through the provider's shell (never a shared folder), so the node's kubelet finds the image
// with imagePullPolicy IfNotPresent.
import { runProcess } from "../process.ts";

/** What every loader needs: where to log, when to give up, how to be interrupted. */
export interface LoadContext {
  readonly logFile: string;
  readonly signal: AbortSignal;
  /** Per node; an archive of a few hundred MB imports in well under a minute. Default 5 min. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/**
 * containerd's import as the nodes run it: into the namespace the kubelet uses, every platform's content
 * kept (so the image's digest on the node is the archive's), and the image unpacked for the default
 * snapshotter at once, so the first pod starts without waiting for an unpack.
 */
export const CTR_IMPORT = [
  "ctr",
  "--namespace",
  "k8s.io",
  "images",
  "import",
  "--all-platforms",
  "-",
] as const;

/**
 * vagrant: the archive streamed to `sudo ctr ... import -` over `vagrant ssh NODE -c` stdin. The VM reads
 * it from the SSH channel, not from the synced folder (which VirtualBox may not have mounted, and which
 * would copy it twice).
 */
export async function loadIntoVagrantNode(
  archive: string,
  node: string,
  context: LoadContext & { readonly vagrant: string; readonly workDir: string },
): Promise<void> {
  await runProcess(context.vagrant, ["ssh", node, "-c", `sudo ${CTR_IMPORT.join(" ")}`], {
    timeoutMs: context.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: context.signal,
    logFile: context.logFile,
    cwd: context.workDir,
    env: { VAGRANT_CWD: context.workDir, VAGRANT_NO_COLOR: "1" },
    stdinFile: archive,
    killSignal: "SIGINT",
    label: `vagrant ssh ${node} (import the operator image)`,
  });
}

/** kind: `kind load image-archive`, which imports the archive into every node of the cluster (or `nodes`). */
export async function loadIntoKindCluster(
  archive: string,
  cluster: string,
  context: LoadContext & {
    readonly kind: string;
    readonly workDir: string;
    readonly nodes?: readonly string[];
  },
): Promise<void> {
  const nodes =
    context.nodes === undefined || context.nodes.length === 0 ? [] : ["--nodes", context.nodes.join(",")];
  await runProcess(context.kind, ["load", "image-archive", archive, "--name", cluster, ...nodes], {
    timeoutMs: context.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: context.signal,
    logFile: context.logFile,
    cwd: context.workDir,
    label: `kind load image-archive (cluster ${cluster})`,
  });
}

/** podman node containers: the archive on `podman exec -i CONTAINER ctr ... import -` stdin. */
export async function loadIntoPodmanNode(
  archive: string,
  container: string,
  context: LoadContext & { readonly podman?: string },
): Promise<void> {
  await runProcess(context.podman ?? "podman", ["exec", "-i", container, ...CTR_IMPORT], {
    timeoutMs: context.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: context.signal,
    logFile: context.logFile,
    stdinFile: archive,
    label: `podman exec ${container} (import the operator image)`,
  });
}
