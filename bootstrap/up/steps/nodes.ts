// The steps that make and prepare the machines: render the files, create the nodes, run the node scripts, wait for Ready.
import { join } from "node:path";

import type { LabNode } from "../../lab/config.ts";
import { digestOf } from "../../lab/state.ts";
import { readTextIfExists } from "../../files.ts";
import { renderInstallScript } from "../../provision/packages.ts";
import { renderPrepareScript } from "../../provision/prepare.ts";
import { ensureToken } from "../join-token.ts";
import { kubeClient } from "../apply.ts";
import { nodeFiles, renderLabFiles, writeRenderedFiles } from "../render.ts";
import {
  noKubeadm,
  noShell,
  providerContext,
  STEP_TIMEOUTS,
  type LabStep,
  type NodeStep,
  type PlanInput,
  type RunContext,
} from "../step.ts";

/** How many nodes run a script at once; VMs on one laptop share its disk and network. */
const NODE_CONCURRENCY = 4;

export function renderFilesStep(): LabStep {
  return {
    id: "render-files",
    title: "Render the provider files, kubeadm configs and node scripts",
    scope: "lab",
    // Cheap: rendered on every run and compared with the work dir, so it runs only when a file changes.
    async isDone(run) {
      const files = await currentFiles(run);
      for (const file of files) {
        if ((await readTextIfExists(join(run.workDir.root, file.path))) !== file.content) return false;
      }
      return true;
    },
    async run(run) {
      const files = await currentFiles(run);
      const changed = await writeRenderedFiles(run.workDir.root, files);
      return `${files.length} files in ${run.workDir.root}, ${changed} changed`;
    },
  };
}

/** The rendered files as of now: the current token and, once known, the real CA hash. */
export async function currentFiles(run: RunContext) {
  return renderLabFiles({
    lab: run.lab,
    provider: run.provider,
    // Only providers that run kubeadm need a join token; the others get no secret on disk.
    token: run.provider.capabilities.installsKubernetes ? await ensureToken(run) : "",
    ...(run.state.cluster.caCertHash ? { caCertHash: run.state.cluster.caCertHash } : {}),
    sources: run.installSources(),
  });
}

export function createNodesStep(input: PlanInput): NodeStep {
  return {
    id: "create-nodes",
    title:
      input.providerName === "vagrant"
        ? "Create and start the VMs"
        : input.providerName === "podman"
          ? "Create and start the node containers (systemd, on the lab's internal network)"
          : "Create the nodes",
    scope: "node",
    nodes: input.lab.nodes,
    concurrency: 1,
    async isDone(node, run) {
      return (await run.nodeStatuses()).get(node.name)?.phase === "running";
    },
    async run(node, run, progress) {
      const phase = (await run.nodeStatuses()).get(node.name)?.phase ?? "not-created";
      if (run.state.lab === undefined) await run.state.setLab(run.lab);
      if (phase === "not-created") {
        // A new machine has none of the work recorded for it; a new control plane means a new cluster.
        await run.state.forget((key) => key.endsWith(`:${node.name}`));
        if (node.role === "control-plane") {
          await run.state.forget((key) => !key.startsWith("create-nodes:"));
          await run.state.setCluster({ caCertHash: undefined, joinTokenExpiresAt: undefined });
        }
      }
      await run.provider.createNodes(
        run.lab,
        [node],
        providerContext(run, (_node, line) => progress(line)),
      );
      run.forgetNodeStatuses();
    },
  };
}

function scriptStep(
  input: PlanInput,
  spec: {
    id: string;
    title: string;
    skipReason: string | undefined;
    nodes: readonly LabNode[];
    concurrency: number;
    file: (node: string) => string;
    /** The script's content, for the digest: a changed script (a new node in /etc/hosts) runs again. */
    content: (run: RunContext, node: LabNode) => string;
    timeoutMs: number;
  },
): NodeStep {
  return {
    id: spec.id,
    title: spec.title,
    scope: "node",
    nodes: spec.nodes,
    concurrency: spec.concurrency,
    ...(spec.skipReason ? { skipReason: spec.skipReason } : {}),
    digest: (node, run) => digestOf(spec.content(run, node)),
    async run(node, run, progress) {
      await run.provider.runScript(
        node,
        join(run.workDir.root, spec.file(node.name)),
        { step: spec.id, timeoutMs: spec.timeoutMs },
        providerContext(run, (_node, line) => progress(line)),
      );
    },
  };
}

export function prepareNodesStep(input: PlanInput): NodeStep {
  return scriptStep(input, {
    id: "prepare-nodes",
    title: "Prepare the nodes (swap, kernel modules, sysctls, /etc/hosts, time sync)",
    // What kubeadm needs from a VM. kind's node image comes prepared, and its containers are privileged:
    // prepare.sh there (swapoff, modprobe, sysctl) would change the host.
    skipReason: noShell(input) ?? noKubeadm(input),
    nodes: input.lab.nodes,
    concurrency: NODE_CONCURRENCY,
    file: nodeFiles.prepare,
    content: (run, node) => renderPrepareScript(run.lab, node),
    timeoutMs: STEP_TIMEOUTS.prepare,
  });
}

export function installPackagesStep(input: PlanInput): NodeStep {
  return scriptStep(input, {
    id: "install-packages",
    title: `Install containerd and kubeadm/kubelet/kubectl ${input.lab.kubernetes.version}`,
    skipReason: noKubeadm(input) ?? noShell(input),
    nodes: input.lab.nodes,
    concurrency: NODE_CONCURRENCY,
    file: nodeFiles.install,
    content: (run, node) => renderInstallScript(run.lab, node, run.installSources()),
    timeoutMs: STEP_TIMEOUTS.install,
  });
}

export function nodesReadyStep(input: PlanInput): LabStep {
  return {
    id: "nodes-ready",
    title: `Wait until all ${input.lab.nodes.length} nodes are Ready`,
    scope: "lab",
    digest: (run) => digestOf(run.lab.nodes.map((node) => node.name).join(",")),
    async run(run, progress) {
      const { loadKubeConfig, waitForNodesReady } = await kubeClient();
      await waitForNodesReady(
        loadKubeConfig(run.workDir.kubeconfigFile),
        run.lab.nodes.map((node) => node.name),
        {
          step: "nodes-ready",
          signal: run.signal,
          timeoutMs: run.readyTimeoutMs,
          progress: (line) => progress(line),
        },
      );
    },
  };
}
