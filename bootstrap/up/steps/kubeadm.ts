// The kubeadm steps: init on the control plane, the admin kubeconfig and CA hash, CA-pinned joins of the workers.
import { join } from "node:path";

import { StateError } from "../../errors.ts";
import { readTextIfExists } from "../../files.ts";
import { caCertHash } from "../../provision/cahash.ts";
import { BOOTSTRAP_TOKEN_TTL_MS } from "../../provision/kubeadm.ts";
import { digestOf } from "../../lab/state.ts";
import { tokenId } from "../../provision/token.ts";
import { ensureToken } from "../join-token.ts";
import { nodeFiles, renderJoinFiles, renderRevokeTokenFile, writeRenderedFiles } from "../render.ts";
import {
  noKubeadm,
  noShell,
  providerContext,
  STEP_TIMEOUTS,
  type LabStep,
  type NodeStep,
  type PlanInput,
} from "../step.ts";

/** How many workers join at once. */
const JOIN_CONCURRENCY = 3;

export function kubeadmInitStep(input: PlanInput): LabStep {
  const skipReason = noKubeadm(input) ?? noShell(input);
  return {
    id: "kubeadm-init",
    title: `Initialise the control plane ${input.lab.controlPlane.name} (kubeadm init)`,
    scope: "lab",
    ...(skipReason ? { skipReason } : {}),
    async run(run, progress) {
      const node = run.lab.controlPlane;
      await run.provider.runScript(
        node,
        join(run.workDir.root, nodeFiles.init(node.name)),
        { step: "kubeadm-init", timeoutMs: STEP_TIMEOUTS.init },
        providerContext(run, (_node, line) => progress(line, node.name)),
      );
      // The token in init.sh was registered by kubeadm init and lives for the TTL from now.
      await run.state.setCluster({
        joinTokenExpiresAt: new Date(run.now().getTime() + BOOTSTRAP_TOKEN_TTL_MS).toISOString(),
      });
    },
  };
}

export function fetchKubeconfigStep(input: PlanInput): LabStep {
  return {
    id: "fetch-kubeconfig",
    title: "Fetch the admin kubeconfig (and the CA hash workers pin)",
    scope: "lab",
    async isDone(run) {
      const haveKubeconfig = (await readTextIfExists(run.workDir.kubeconfigFile)) !== undefined;
      const haveHash = !input.capabilities.installsKubernetes || run.state.cluster.caCertHash !== undefined;
      return run.state.isDone("fetch-kubeconfig") && haveKubeconfig && haveHash;
    },
    async run(run, progress) {
      const context = providerContext(run);
      await run.provider.fetchAdminKubeconfig(run.lab, run.workDir.kubeconfigFile, context);
      progress(`kubeconfig: ${run.workDir.kubeconfigFile}`);
      if (input.capabilities.installsKubernetes) {
        await run.provider.copyFromNode(
          run.lab.controlPlane,
          "/etc/kubernetes/pki/ca.crt",
          run.workDir.caCertFile,
          context,
        );
        const pem = (await readTextIfExists(run.workDir.caCertFile)) ?? "";
        const hash = caCertHash(pem);
        await run.state.setCluster({ caCertHash: hash });
        progress(`CA public key ${hash}`);
      }
    },
  };
}

export function joinWorkersStep(input: PlanInput): NodeStep {
  const skipReason = noKubeadm(input) ?? noShell(input);
  return {
    id: "join-workers",
    title: `Join the workers (${input.lab.workers.length}, up to ${JOIN_CONCURRENCY} at a time)`,
    scope: "node",
    nodes: input.lab.workers,
    concurrency: JOIN_CONCURRENCY,
    ...(skipReason ? { skipReason } : {}),
    async run(node, run, progress) {
      const hash = run.state.cluster.caCertHash;
      if (hash === undefined) throw new StateError("the CA hash is unknown: fetch-kubeconfig did not run");
      const token = await run.joinToken();
      await writeRenderedFiles(run.workDir.root, renderJoinFiles(run.lab, node, token, hash));
      await run.provider.runScript(
        node,
        join(run.workDir.root, nodeFiles.join(node.name)),
        { step: "join-workers", timeoutMs: STEP_TIMEOUTS.join },
        providerContext(run, (_node, line) => progress(line)),
      );
    },
  };
}

/**
 * Deletes the join token once every worker has joined (a lab without workers needs none after init), so the
 * token cannot join machines for the rest of its TTL, and marks it expired: a worker added later gets a fresh
 * token minted on the control plane first. Runs again when the list of workers changes.
 */
export function revokeJoinTokenStep(input: PlanInput): LabStep {
  const skipReason = noKubeadm(input) ?? noShell(input);
  return {
    id: "revoke-join-token",
    title: "Delete the join token now that every worker has joined (kubeadm token delete)",
    scope: "lab",
    ...(skipReason ? { skipReason } : {}),
    digest: (run) => digestOf(run.lab.workers.map((node) => node.name).join(",")),
    async run(run, progress) {
      const id = tokenId(await ensureToken(run));
      const file = renderRevokeTokenFile(run.lab, id);
      await writeRenderedFiles(run.workDir.root, [file]);
      await run.provider.runScript(
        run.lab.controlPlane,
        join(run.workDir.root, file.path),
        { step: "revoke-join-token", timeoutMs: STEP_TIMEOUTS.token },
        providerContext(run, (_node, line) => progress(line, run.lab.controlPlane.name)),
      );
      await run.state.setCluster({ joinTokenExpiresAt: run.now().toISOString() });
      return `token ${id} deleted`;
    },
  };
}
