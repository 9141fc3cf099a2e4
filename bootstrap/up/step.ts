// The step contract of `up`: what a step is, what its action may use (RunContext), and how it reports.
import type { KubernetesObject } from "@kubernetes/client-node";

import type { Lab, LabNode } from "../lab/config.ts";
import { nodeStepKey, type LabState } from "../lab/state.ts";
import type { WorkDir } from "../lab/workdir.ts";
import type { CalicoManifest } from "../kube/calico.ts";
import type { OperatorImage } from "../image/operator-image.ts";
import type { Logger } from "../log.ts";
import type { InstallSources } from "../provision/packages.ts";
import type { TokenSource } from "../provision/token.ts";
import type { NodeStatus, PlanCapabilities, Provider, ProviderContext } from "../providers/provider.ts";

/**
 * Everything a step's action may use. Built once per run by the `up` command (createRunContext), shared by
 * all steps of that run. The accessors compute once per run and are shared by parallel node actions.
 */
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
  /** Every node's status as the provider sees it, asked once per run (until forgetNodeStatuses). */
  nodeStatuses(): Promise<ReadonlyMap<string, NodeStatus>>;
  /** Drops the remembered node statuses (after a machine was created). */
  forgetNodeStatuses(): void;
  /** A join token valid for joining now: one per run, minted on the control plane when the current expires. */
  joinToken(): Promise<string>;
  /** The Calico objects and manifest this run applies and bundles: parsed once per run (~370 KB). */
  appliedCalico(): AppliedCalico;
  /** Where install.sh takes packages and images from, its key read once per run (lab/sources.ts). */
  installSources(): InstallSources;
  /**
   * The operator image of this checkout, assembled once per run (cached by content: well under a second when
   * nothing changed); the first caller's `progress` sees the phases.
   */
  operatorImage(progress: (line: string) => void): Promise<OperatorImage>;
}

/** The Calico manifest as the lab applies it: the objects, and the YAML recorded in .kubelab/addons/. */
export interface AppliedCalico {
  readonly objects: readonly KubernetesObject[];
  readonly yaml: string;
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

/** What building the plan needs: pure data, so `--dry-run` and tests list it without touching anything. */
export interface PlanInput {
  readonly lab: Lab;
  readonly capabilities: PlanCapabilities;
  readonly providerName: string;
}

/** One phase of the plan: returns its step, or nothing when it does not exist for this lab. */
export type StepFactory = (input: PlanInput) => PlanStep | undefined;

/** Time limits of the node scripts. */
export const STEP_TIMEOUTS = {
  prepare: 10 * 60_000,
  install: 20 * 60_000,
  init: 15 * 60_000,
  join: 10 * 60_000,
  token: 2 * 60_000,
} as const;

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

/** The record key of a step (on a node). */
export function stepKey(step: PlanStep, node?: LabNode): string {
  return node === undefined ? step.id : nodeStepKey(step.id, node.name);
}

/** Why a step needs a node shell the provider lacks; undefined when it has one. */
export function noShell(input: PlanInput): string | undefined {
  return input.capabilities.shell ? undefined : `the ${input.providerName} provider has no node shell`;
}

/** Why a step needs kubeadm on provider-made nodes; undefined when the node scripts install Kubernetes. */
export function noKubeadm(input: PlanInput): string | undefined {
  return input.capabilities.installsKubernetes
    ? undefined
    : `the ${input.providerName} provider sets Kubernetes up itself`;
}
