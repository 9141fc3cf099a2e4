// The operator steps: the CRDs, the operator (its Deployment or a local process), the LabCluster and its Ready wait.
import { OPERATOR_NAMESPACE } from "../../../operator/api/addons/bundle.ts";
import { StateError } from "../../errors.ts";
import { labClusterFor, labClusterName } from "../../kube/labcluster.ts";
import {
  installDigest,
  INSTALL_DIRS,
  OPERATOR_SERVICE_ACCOUNT,
  operatorManifests,
  readCrds,
} from "../../kube/operator-install.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { writeFileAtomic } from "../../files.ts";
import { digestOf } from "../../lab/state.ts";
import { applyToLab, kubeClient } from "../apply.ts";
import { providerContext, type LabStep, type PlanInput, type RunContext } from "../step.ts";

export function crdsStep(): LabStep {
  return {
    id: "crds",
    title: "Apply the kubelab.dev CRDs (LabCluster, EtcdSnapshot) and wait until Established",
    scope: "lab",
    digest: () => installDigest(INSTALL_DIRS.crds),
    async run(run, progress) {
      const crds = await readCrds();
      await applyToLab(run, "crds", crds, progress);
      return crds.map((crd) => crd.metadata?.name ?? "?").join(", ");
    },
  };
}

/** What the operator-image step loaded, in `.kubelab/cache/`: the operator step stamps its digest. */
interface LoadedImage {
  readonly reference: string;
  readonly digest: string;
  readonly nodes: readonly string[];
}

function loadedImageFile(run: RunContext): string {
  return join(run.workDir.cacheDir, "operator-image.json");
}

/** The record of the last load, or undefined; read synchronously because step digests are. */
function loadedImage(run: RunContext): LoadedImage | undefined {
  try {
    return JSON.parse(readFileSync(loadedImageFile(run), "utf8")) as LoadedImage;
  } catch {
    return undefined;
  }
}

/**
 * The operator image is in no registry: assembled from this checkout (image/lab-image.ts: the kit's bases on
 * a kit lab, else the Dockerfile's pinned bases from their registries) and imported into every node's
 * containerd under operator.image, so the Deployment's pods (IfNotPresent) and the backup Jobs find it.
 * Done while the nodes hold the image of this checkout: a changed checkout is built and loaded again.
 */
export function operatorImageStep(input: PlanInput): LabStep {
  const skipReason = input.capabilities.localOperator
    ? `the ${input.providerName} provider runs the operator on the host`
    : !input.lab.operator.build
      ? `operator.build is false: the nodes pull ${input.lab.operator.image}`
      : undefined;
  return {
    id: "operator-image",
    title: `Build the operator image ${input.lab.operator.image} from this checkout and load it into every node`,
    scope: "lab",
    ...(skipReason === undefined ? {} : { skipReason }),
    async isDone(run) {
      const loaded = loadedImage(run);
      if (loaded === undefined) return false;
      const image = await run.operatorImage((line) => run.logger.info(`operator-image: ${line}`));
      return (
        loaded.digest === image.descriptor.digest &&
        loaded.reference === run.lab.operator.image &&
        run.lab.nodes.every((node) => loaded.nodes.includes(node.name))
      );
    },
    async run(run, progress) {
      const image = await run.operatorImage(progress);
      const mib = (image.layerBytes / 2 ** 20).toFixed(0);
      progress(`${image.reference} ${image.descriptor.digest} (${mib} MiB of layers)`);
      await run.provider.loadImage(
        run.lab,
        image.archivePath,
        run.lab.nodes,
        providerContext(run, (node, line) => progress(`${node}: ${line}`)),
      );
      const record: LoadedImage = {
        reference: run.lab.operator.image,
        digest: image.descriptor.digest,
        nodes: run.lab.nodes.map((node) => node.name),
      };
      await writeFileAtomic(loadedImageFile(run), `${JSON.stringify(record)}\n`);
      return `${image.descriptor.digest.slice(0, 19)} on ${run.lab.nodes.length} nodes`;
    },
  };
}

export function operatorStep(input: PlanInput): LabStep {
  const local = input.capabilities.localOperator;
  return {
    id: "operator",
    title: local
      ? "Apply the operator's namespace, RBAC and Service from manifests/ (no Deployment: it runs locally)"
      : "Install the operator from manifests/ (namespace, RBAC, Deployment of lab.yaml's operator.image)",
    scope: "lab",
    digest: (run) =>
      digestOf(
        `${installDigest(INSTALL_DIRS.manifests)} ${run.lab.operator.image} ${local} ${builtDigest(run) ?? ""}`,
      ),
    async run(run, progress) {
      // kwok "runs" a Deployment's pods without running anything: on such a provider the Deployment is left
      // out rather than scaled to 0, so nothing in the cluster pretends to be an operator.
      const imageDigest = builtDigest(run);
      const objects = await operatorManifests({
        image: run.lab.operator.image,
        withDeployment: !local,
        ...(imageDigest === undefined ? {} : { imageDigest }),
      });
      await applyToLab(run, "operator", objects, progress);
      return `${objects.length} objects${local ? "" : `, image ${run.lab.operator.image}`}`;
    },
  };
}

/** The digest of the image bootstrap loaded under operator.image, when it built it. */
function builtDigest(run: RunContext): string | undefined {
  const loaded = loadedImage(run);
  return run.lab.operator.build && loaded?.reference === run.lab.operator.image ? loaded.digest : undefined;
}

export function operatorProcessStep(input: PlanInput): LabStep {
  const local = input.capabilities.localOperator;
  return {
    id: "operator-process",
    title: "Run the operator as a local process, as its ServiceAccount (impersonation)",
    scope: "lab",
    ...(local ? {} : { skipReason: `the ${input.providerName} provider runs the operator's Deployment` }),
    digest: (run) => digestOf(run.lab.operator.image),
    async isDone(run) {
      const status = await run.provider.local?.operatorStatus(run.lab, providerContext(run));
      return (
        status?.running === true && run.state.isDone("operator-process", digestOf(run.lab.operator.image))
      );
    },
    async run(run, progress) {
      if (run.provider.local === undefined) {
        throw new StateError(`the ${run.provider.name} provider cannot run the operator locally`);
      }
      const status = await run.provider.local.runOperator(
        run.lab,
        {
          image: run.lab.operator.image,
          namespace: OPERATOR_NAMESPACE,
          serviceAccount: OPERATOR_SERVICE_ACCOUNT,
        },
        providerContext(run, (_node, line) => progress(line)),
      );
      return `pid ${status.pid ?? "?"}, log ${status.logPath}`;
    },
  };
}

/** The LabCluster bootstrap applies, as a digest: the labcluster and labcluster-ready steps redo on change. */
function labClusterDigest(run: RunContext): string {
  return digestOf(JSON.stringify(labClusterFor(run.lab)));
}

export function labClusterStep(input: PlanInput): LabStep {
  const { schedule, retain } = input.lab.backup;
  return {
    id: "labcluster",
    title: `Apply the LabCluster ${labClusterName(input.lab)} (${input.lab.nodes.length} expected nodes, backups "${schedule}", keep ${retain})`,
    scope: "lab",
    digest: labClusterDigest,
    async run(run, progress) {
      await applyToLab(run, "labcluster", [labClusterFor(run.lab)], progress);
    },
  };
}

export function labClusterReadyStep(input: PlanInput): LabStep {
  return {
    id: "labcluster-ready",
    title: `Wait until the LabCluster ${labClusterName(input.lab)} is Ready (nodes, Calico, CoreDNS, backups)`,
    scope: "lab",
    // A changed LabCluster is waited for again.
    digest: labClusterDigest,
    async run(run, progress) {
      const { loadKubeConfig, waitForLabClusterReady } = await kubeClient();
      const local = await run.provider.local?.operatorStatus(run.lab, providerContext(run));
      const labCluster = await waitForLabClusterReady(
        loadKubeConfig(run.workDir.kubeconfigFile),
        labClusterName(run.lab),
        {
          step: "labcluster-ready",
          signal: run.signal,
          timeoutMs: run.readyTimeoutMs,
          progress: (line) => progress(line),
          operatorLogs:
            local === undefined
              ? `kubectl -n ${OPERATOR_NAMESPACE} logs deploy/kubelab-operator`
              : local.logPath,
        },
      );
      const status = labCluster.status;
      return `Ready, ${status?.readyNodes ?? "?"}/${status?.expectedNodes ?? "?"} nodes healthy`;
    },
  };
}
