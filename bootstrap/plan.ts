// `up` as a plan: config -> ordered, named steps, each with a "done?" check and an action (I/O only when run).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";

import { OPERATOR_NAMESPACE } from "../operator/api/addons/bundle.ts";
import { renderCoreDns } from "../operator/api/addons/coredns.ts";

import type { CalicoManifest } from "./calico.ts";
import { customizeCalico, renderAppliedManifest } from "./calico.ts";
import { caCertHash } from "./cahash.ts";
import type { Lab, LabNode } from "./config.ts";
import { StateError } from "./errors.ts";
import { FileMode, readTextIfExists, writeFileAtomic } from "./files.ts";
import {
  installDigest,
  INSTALL_DIRS,
  OPERATOR_SERVICE_ACCOUNT,
  operatorManifests,
  readCrds,
} from "./install.ts";
import { BOOTSTRAP_TOKEN_TTL_MS } from "./kubeadm.ts";
import { labClusterFor, labClusterName } from "./labcluster.ts";
import type { Logger } from "./log.ts";
import { renderInstallScript } from "./provision/install.ts";
import { renderPrepareScript } from "./provision/prepare.ts";
import type { NodeStatus, Provider, ProviderCapabilities, ProviderContext } from "./providers/provider.ts";
import { nodeFiles, renderJoinFiles, renderLabFiles, renderTokenFile, writeRenderedFiles } from "./render.ts";
import { digestOf, nodeStepKey, type LabState } from "./state.ts";
import { BOOTSTRAP_TOKEN_PATTERN, tokenId, type TokenSource } from "./token.ts";
import type { WorkDir } from "./workdir.ts";

/** Everything a step's action may use. Built by the `up` command, shared by all steps of one run. */
export interface RunContext {
  readonly lab: Lab;
  readonly workDir: WorkDir;
  readonly provider: Provider;
  readonly state: LabState;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly tokenSource: TokenSource;
  readonly now: () => Date;
  /** The Calico manifest, found before the run (so a missing one stops `up` before any VM exists). */
  readonly calico: CalicoManifest | undefined;
  /** How long API waits last (API server up, CRDs Established). */
  readonly apiTimeoutMs: number;
  /** How long `nodes-ready` waits for every node to be Ready. */
  readonly readyTimeoutMs: number;
  /** Per-run memo: one result per key, shared by parallel node actions (the join token, node status). */
  memo<T>(key: string, compute: () => Promise<T>): Promise<T>;
  /** Drops a memo entry (node status after creating machines). */
  forget(key: string): void;
}

/** Reports one line of live progress; `node` for per-node lines. */
export type Progress = (line: string, node?: string) => void;

interface StepBase {
  /** Stable id, used in state.json, logs and errors ("kubeadm-init"). */
  readonly id: string;
  /** What the user sees ("Initialise the control plane (kubeadm init)"). */
  readonly title: string;
  /** Why this step does not apply to the lab's provider; shown as skipped. */
  readonly skipReason?: string;
}

/** A step done once for the whole lab. */
export interface LabStep extends StepBase {
  readonly scope: "lab";
  /** Fingerprint of the step's input: a recorded run with another digest is run again. */
  digest?(run: RunContext): string;
  /** Overrides the default check (recorded in state.json with the same digest). */
  isDone?(run: RunContext): Promise<boolean>;
  /** Does the work; returns an optional one-line summary ("14 files, 3 changed"). */
  run(run: RunContext, progress: Progress): Promise<string | void>;
}

/** A step done on each of `nodes`, at most `concurrency` at a time; each node is recorded separately. */
export interface NodeStep extends StepBase {
  readonly scope: "node";
  readonly nodes: readonly LabNode[];
  readonly concurrency: number;
  digest?(node: LabNode, run: RunContext): string;
  isDone?(node: LabNode, run: RunContext): Promise<boolean>;
  run(node: LabNode, run: RunContext, progress: (line: string) => void): Promise<void>;
}

export type PlanStep = LabStep | NodeStep;

/** Time limits of the node scripts. */
export const STEP_TIMEOUTS = {
  prepare: 10 * 60_000,
  install: 20 * 60_000,
  init: 15 * 60_000,
  join: 10 * 60_000,
  token: 2 * 60_000,
} as const;

/** How many nodes run a script at once; VMs on one laptop share its disk and network. */
const NODE_CONCURRENCY = 4;
const JOIN_CONCURRENCY = 3;
/** A join token this close to its expiry is replaced before a join. */
const TOKEN_MARGIN_MS = 15 * 60_000;

export interface PlanInput {
  readonly lab: Lab;
  readonly capabilities: ProviderCapabilities;
  readonly providerName: string;
}

/** One phase of the plan: returns its step, or nothing when it does not exist for this lab. */
type StepFactory = (input: PlanInput) => PlanStep | undefined;

/**
 * The phases of `up`, in order: each is a function from the plan input to a step. The kubeconfig is fetched
 * right after `kubeadm init` because Calico, and everything after it, is applied through the API from the
 * host. Once the nodes are Ready: the CRDs, the operator (its Deployment, or a local process where the
 * nodes cannot run it), the addon bundles it restores from, the LabCluster, and the wait for it to be Ready.
 */
export const PHASES: readonly StepFactory[] = [
  renderFilesStep,
  createNodesStep,
  prepareNodesStep,
  installPackagesStep,
  kubeadmInitStep,
  fetchKubeconfigStep,
  calicoStep,
  joinWorkersStep,
  nodesReadyStep,
  crdsStep,
  operatorStep,
  operatorProcessStep,
  addonBundlesStep,
  labClusterStep,
  labClusterReadyStep,
];

/** The plan for a lab: pure, so `--dry-run` and tests can list it without touching anything. */
export function buildPlan(input: PlanInput, phases: readonly StepFactory[] = PHASES): PlanStep[] {
  return phases.flatMap((phase) => phase(input) ?? []);
}

/** Provider context for one step's provider calls. */
export function providerContext(
  run: RunContext,
  progress?: (node: string, line: string) => void,
): ProviderContext {
  return {
    workDir: run.workDir.root,
    logger: run.logger,
    signal: run.signal,
    ...(progress ? { progress } : {}),
  };
}

function noShell(input: PlanInput): string | undefined {
  return input.capabilities.shell ? undefined : `the ${input.providerName} provider has no node shell`;
}

function noKubeadm(input: PlanInput): string | undefined {
  return input.capabilities.installsKubernetes
    ? undefined
    : `the ${input.providerName} provider sets Kubernetes up itself`;
}

function renderFilesStep(): LabStep {
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
  });
}

function createNodesStep(input: PlanInput): NodeStep {
  return {
    id: "create-nodes",
    title: input.capabilities.shell ? "Create and start the VMs" : "Create the nodes",
    scope: "node",
    nodes: input.lab.nodes,
    concurrency: 1,
    async isDone(node, run) {
      return (await nodeStatuses(run)).get(node.name)?.phase === "running";
    },
    async run(node, run, progress) {
      const phase = (await nodeStatuses(run)).get(node.name)?.phase ?? "not-created";
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
      run.forget("node-status");
    },
  };
}

function nodeStatuses(run: RunContext): Promise<Map<string, NodeStatus>> {
  return run.memo("node-status", async () => {
    const statuses = await run.provider.status(run.lab, providerContext(run));
    return new Map(statuses.map((status) => [status.name, status]));
  });
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
    content: (lab: Lab, node: LabNode) => string;
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
    digest: (node, run) => digestOf(spec.content(run.lab, node)),
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

function prepareNodesStep(input: PlanInput): NodeStep {
  return scriptStep(input, {
    id: "prepare-nodes",
    title: "Prepare the nodes (swap, kernel modules, sysctls, /etc/hosts, time sync)",
    // What kubeadm needs from a VM. kind's node image comes prepared, and its containers are privileged:
    // prepare.sh there (swapoff, modprobe, sysctl) would change the host.
    skipReason: noShell(input) ?? noKubeadm(input),
    nodes: input.lab.nodes,
    concurrency: NODE_CONCURRENCY,
    file: nodeFiles.prepare,
    content: renderPrepareScript,
    timeoutMs: STEP_TIMEOUTS.prepare,
  });
}

function installPackagesStep(input: PlanInput): NodeStep {
  return scriptStep(input, {
    id: "install-packages",
    title: `Install containerd and kubeadm/kubelet/kubectl ${input.lab.kubernetes.version}`,
    skipReason: noKubeadm(input) ?? noShell(input),
    nodes: input.lab.nodes,
    concurrency: NODE_CONCURRENCY,
    file: nodeFiles.install,
    content: renderInstallScript,
    timeoutMs: STEP_TIMEOUTS.install,
  });
}

function kubeadmInitStep(input: PlanInput): LabStep {
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

function fetchKubeconfigStep(input: PlanInput): LabStep {
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

function calicoStep(input: PlanInput): LabStep {
  return {
    id: "calico",
    title: `Apply Calico ${input.lab.calico.version} (pod CIDR ${input.lab.network.podCidr})`,
    scope: "lab",
    digest: (run) => digestOf(appliedCalico(run).yaml),
    async run(run, progress) {
      const { objects, yaml } = appliedCalico(run);
      // Recorded before applying: the addon bundle (later) must describe what the cluster may hold.
      await writeFileAtomic(join(run.workDir.addonsDir, "calico.yaml"), yaml);
      await applyToLab(run, "calico", objects, progress);
      return `${objects.length} objects, recorded in ${join(run.workDir.addonsDir, "calico.yaml")}`;
    },
  };
}

/** The Calico objects and manifest as this run applies and bundles them: parsed once per run (~370 KB). */
const appliedCalicoOfRun = new WeakMap<RunContext, { objects: KubernetesObject[]; yaml: string }>();

function appliedCalico(run: RunContext): { objects: KubernetesObject[]; yaml: string } {
  const known = appliedCalicoOfRun.get(run);
  if (known !== undefined) return known;
  if (run.calico === undefined) throw new StateError("the Calico manifest was not loaded before the run");
  const manifest = run.calico;
  const objects = customizeCalico(manifest.text, run.lab, manifest.origin);
  const applied = { objects, yaml: renderAppliedManifest(objects, run.lab, manifest.origin) };
  appliedCalicoOfRun.set(run, applied);
  return applied;
}

function joinWorkersStep(input: PlanInput): NodeStep {
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
      const token = await run.memo("join-token", () => usableJoinToken(run));
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

function nodesReadyStep(input: PlanInput): LabStep {
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

function crdsStep(): LabStep {
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

function operatorStep(input: PlanInput): LabStep {
  const local = input.capabilities.localOperator === true;
  return {
    id: "operator",
    title: local
      ? "Apply the operator's namespace, RBAC and Service from manifests/ (no Deployment: it runs locally)"
      : "Install the operator from manifests/ (namespace, RBAC, Deployment of lab.yaml's operator.image)",
    scope: "lab",
    digest: (run) => digestOf(`${installDigest(INSTALL_DIRS.manifests)} ${run.lab.operator.image} ${local}`),
    async run(run, progress) {
      // kwok "runs" a Deployment's pods without running anything: on such a provider the Deployment is left
      // out rather than scaled to 0, so nothing in the cluster pretends to be an operator.
      const objects = await operatorManifests({ image: run.lab.operator.image, withDeployment: !local });
      await applyToLab(run, "operator", objects, progress);
      return `${objects.length} objects${local ? "" : `, image ${run.lab.operator.image}`}`;
    },
  };
}

function operatorProcessStep(input: PlanInput): LabStep {
  const local = input.capabilities.localOperator === true;
  return {
    id: "operator-process",
    title: "Run the operator as a local process, as its ServiceAccount (impersonation)",
    scope: "lab",
    ...(local ? {} : { skipReason: `the ${input.providerName} provider runs the operator's Deployment` }),
    digest: (run) => digestOf(run.lab.operator.image),
    async isDone(run) {
      const status = await run.provider.operatorStatus?.(run.lab, providerContext(run));
      return (
        status?.running === true && run.state.isDone("operator-process", digestOf(run.lab.operator.image))
      );
    },
    async run(run, progress) {
      if (run.provider.runOperator === undefined) {
        throw new StateError(`the ${run.provider.name} provider cannot run the operator locally`);
      }
      const status = await run.provider.runOperator(
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

function addonBundlesStep(): LabStep {
  return {
    id: "addon-bundles",
    title: `Write the Calico and CoreDNS addon bundles the operator restores from (${OPERATOR_NAMESPACE})`,
    scope: "lab",
    digest: (run) => digestOf(`${appliedCalico(run).yaml}\n${JSON.stringify(coreDnsObjects(run))}`),
    async run(run, progress) {
      const { writeAddonBundles } = await import("./addon-bundles.ts");
      const { loadKubeConfig } = await kubeClient();
      const written = await writeAddonBundles(
        loadKubeConfig(run.workDir.kubeconfigFile),
        [
          { addon: "calico", objects: appliedCalico(run).objects },
          { addon: "coredns", objects: coreDnsObjects(run) },
        ],
        { signal: run.signal, timeoutMs: run.apiTimeoutMs, progress: (line) => progress(line) },
      );
      return written.map((bundle) => `${bundle.addon} ${bundle.objects} objects`).join(", ");
    },
  };
}

/**
 * kubeadm's CoreDNS objects for the lab (service subnet and DNS domain from lab.yaml, kubeadm's image): what
 * `kubeadm init` created, which is what the CoreDNS bundle must hold.
 */
function coreDnsObjects(run: RunContext): KubernetesObject[] {
  return renderCoreDns({ serviceSubnet: run.lab.network.serviceCidr, dnsDomain: run.lab.network.dnsDomain });
}

/** The LabCluster bootstrap applies, as a digest: the labcluster and labcluster-ready steps redo on change. */
function labClusterDigest(run: RunContext): string {
  return digestOf(JSON.stringify(labClusterFor(run.lab)));
}

function labClusterStep(input: PlanInput): LabStep {
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

function labClusterReadyStep(input: PlanInput): LabStep {
  return {
    id: "labcluster-ready",
    title: `Wait until the LabCluster ${labClusterName(input.lab)} is Ready (nodes, Calico, CoreDNS, backups)`,
    scope: "lab",
    // A changed LabCluster is waited for again.
    digest: labClusterDigest,
    async run(run, progress) {
      const { loadKubeConfig, waitForLabClusterReady } = await kubeClient();
      const local = await run.provider.operatorStatus?.(run.lab, providerContext(run));
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

/**
 * The lab's bootstrap token (secrets/bootstrap-token, mode 0600), made on first use. It is what init.sh
 * registers; later joins use it while it is valid.
 */
export async function ensureToken(run: Pick<RunContext, "workDir" | "tokenSource">): Promise<string> {
  const existing = (await readTextIfExists(run.workDir.bootstrapTokenFile))?.trim();
  if (existing !== undefined && BOOTSTRAP_TOKEN_PATTERN.test(existing)) return existing;
  const token = run.tokenSource();
  await mkdir(run.workDir.secretsDir, { recursive: true, mode: FileMode.secretDirectory });
  await writeFileAtomic(run.workDir.bootstrapTokenFile, `${token}\n`, FileMode.secret);
  return token;
}

/**
 * A token good for joining now: the current one while it has time left, else a fresh one registered on
 * the control plane with `kubeadm token create` (token.sh), so workers added later still join securely.
 */
async function usableJoinToken(run: RunContext): Promise<string> {
  const current = await ensureToken(run);
  const expires = Date.parse(run.state.cluster.joinTokenExpiresAt ?? "");
  if (Number.isFinite(expires) && expires - run.now().getTime() > TOKEN_MARGIN_MS) return current;
  const token = run.tokenSource();
  const file = renderTokenFile(run.lab, token);
  await writeRenderedFiles(run.workDir.root, [file]);
  await run.provider.runScript(
    run.lab.controlPlane,
    join(run.workDir.root, file.path),
    { step: "join-workers", timeoutMs: STEP_TIMEOUTS.token },
    providerContext(run),
  );
  await writeFileAtomic(run.workDir.bootstrapTokenFile, `${token}\n`, FileMode.secret);
  await run.state.setCluster({
    joinTokenExpiresAt: new Date(run.now().getTime() + BOOTSTRAP_TOKEN_TTL_MS).toISOString(),
  });
  run.logger.info(`minted a fresh join token ${tokenId(token)}.**** on ${run.lab.controlPlane.name}`);
  return token;
}

/** Server-side applies `objects` to the lab through its admin kubeconfig, as step `step`. */
async function applyToLab(
  run: RunContext,
  step: string,
  objects: readonly KubernetesObject[],
  progress: Progress,
): Promise<void> {
  const { applyManifests, loadKubeConfig } = await kubeClient();
  await applyManifests(loadKubeConfig(run.workDir.kubeconfigFile), objects, {
    step,
    signal: run.signal,
    timeoutMs: run.apiTimeoutMs,
    progress: (line) => progress(line),
  });
}

/** The Kubernetes client, loaded when a step first talks to the API (it takes ~0.4 s to load). */
function kubeClient() {
  return import("./kube.ts");
}

/** The record key of a step (on a node). */
export function stepKey(step: PlanStep, node?: LabNode): string {
  return node === undefined ? step.id : nodeStepKey(step.id, node.name);
}

/**
 * The plan as text, one line per step (and its nodes): `  3. prepare-nodes  Prepare ... [m-k8s, w1-k8s]`,
 * with `(skipped: reason)` or `(done)` from state.json. Pure, for --dry-run and golden files.
 */
export function formatPlan(plan: readonly PlanStep[], state: Pick<LabState, "isDone">): string[] {
  const idWidth = Math.max(...plan.map((step) => step.id.length));
  return plan.map((step, index) => {
    const number = `${String(index + 1).padStart(2)}.`;
    const nodes =
      step.scope === "node" ? ` [${step.nodes.map((node) => node.name).join(", ") || "no nodes"}]` : "";
    let status = "";
    if (step.skipReason !== undefined) status = `  (skipped: ${step.skipReason})`;
    else if (
      step.scope === "lab"
        ? state.isDone(stepKey(step))
        : step.nodes.length > 0 && step.nodes.every((node) => state.isDone(stepKey(step, node)))
    ) {
      status = "  (done)";
    }
    return `  ${number} ${step.id.padEnd(idWidth)}  ${step.title}${nodes}${status}`;
  });
}
