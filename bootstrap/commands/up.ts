// `bootstrap up`: create the lab, or resume it; `--dry-run` shows the plan and renders the files only.
import { loadCalicoManifest } from "../kube/calico.ts";
import { kubernetesMinor, labCni, type Lab, type LabOverrides } from "../lab/config.ts";
import { ConfigError, KubelabError } from "../errors.ts";
import { labClusterName } from "../kube/labcluster.ts";
import { planCapabilities } from "../providers/provider.ts";
import { buildPlan, formatPlan, PHASES } from "../up/plan.ts";
import { createRunContext, type RunInputs } from "../up/run-context.ts";
import type { PlanStep } from "../up/step.ts";
import { currentFiles } from "../up/steps/nodes.ts";
import { createReporter, formatDuration } from "../up/progress.ts";
import { writeRenderedFiles } from "../up/render.ts";
import { runPlan } from "../up/runner.ts";
import { acquireLock, incompatibleChanges } from "../lab/state.ts";
import { createWorkDir } from "../lab/workdir.ts";
import { randomBootstrapToken, type TokenSource } from "../provision/token.ts";
import {
  closeLogger,
  configuredLab,
  openSession,
  providerContextOf,
  providerFor,
  recordLog,
  secondsFromEnv,
  type CommandIo,
  type GlobalOptions,
  type LabSession,
} from "./common.ts";
import { operatorSummary } from "./lab-summary.ts";

export interface UpOptions {
  readonly dryRun?: boolean;
  readonly workers?: number;
  readonly k8sVersion?: string;
  readonly provider?: LabOverrides["provider"];
  /** Already resolved against the current directory by the CLI. */
  readonly calicoManifest?: string;
  /** For tests: a fixed token source. */
  readonly tokenSource?: TokenSource;
}

/** Default waits; KUBELAB_API_TIMEOUT_SECONDS and KUBELAB_READY_TIMEOUT_SECONDS override them. */
const API_TIMEOUT_SECONDS = 300;
const READY_TIMEOUT_SECONDS = 900;

export async function up(global: GlobalOptions, options: UpOptions, io: CommandIo): Promise<void> {
  const session = await openSession(global, io);
  try {
    const overrides: LabOverrides = {
      ...(options.workers !== undefined ? { workers: options.workers } : {}),
      ...(options.k8sVersion !== undefined ? { kubernetesVersion: options.k8sVersion } : {}),
      ...(options.provider !== undefined ? { provider: options.provider } : {}),
      ...(options.calicoManifest !== undefined ? { calicoManifest: options.calicoManifest } : {}),
    };
    const lab = await configuredLab(session, overrides);
    refuseIncompatibleChanges(session, lab);
    const provider = providerFor(lab);
    const plan = buildPlan(
      { lab, capabilities: planCapabilities(provider), providerName: provider.name },
      PHASES,
    );
    const inputs = runInputs(session, lab, provider, options);

    if (options.dryRun === true) {
      await dryRun(session, lab, plan, inputs);
      return;
    }
    recordLog(session, "up");
    const release = await acquireLock(session.workDir.root, "up");
    try {
      session.logger.debug(`up: lab ${lab.name}, provider ${provider.name}`);
      await provider.preflight(lab, providerContextOf(session));
      const calico =
        labCni(lab) === "calico"
          ? await loadCalicoManifest(lab, {
              labDir: session.labDir,
              cacheDir: session.workDir.cacheDir,
              signal: io.signal,
            })
          : undefined;
      if (calico !== undefined) session.logger.debug(`Calico manifest: ${calico.origin}`);
      const started = Date.now();
      const run = createRunContext({ ...inputs, calico });
      // The operator image needs no node: its assembly (a minute cold, CPU-bound) overlaps the nodes' creation and
      // kubeadm instead of following them. One assembly per run: the operator-image step awaits this one and
      // reports its failure (a failed assembly is not remembered, so the step tries again).
      if (plan.some((step) => step.id === "operator-image" && step.skipReason === undefined)) {
        run.operatorImage((line) => session.logger.info(`operator-image: ${line}`)).catch(() => undefined);
      }
      const summary = await runPlan(plan, run, createReporter(io.stdout));
      // Absolute: the export line works from any directory it is pasted in.
      const kubeconfig = session.workDir.kubeconfigFile;
      io.stdout.write(
        summary.ran === 0
          ? `\nLab ${lab.name} is up to date: nothing to do.\n`
          : `\nLab ${lab.name} is up (${formatDuration(Date.now() - started)}): ${lab.nodes.length} nodes, Kubernetes ${lab.kubernetes.version}.\n`,
      );
      for (const line of await operatorSummary(session, lab, provider)) io.stdout.write(`${line}\n`);
      io.stdout.write(`Use it:\n`);
      io.stdout.write(`  export KUBECONFIG=${kubeconfig}   # or: bootstrap kubeconfig --merge\n`);
      io.stdout.write(`  kubectl get nodes -o wide\n`);
      io.stdout.write(`  kubectl describe labcluster ${labClusterName(lab)}\n`);
      if (provider.capabilities.shell) io.stdout.write(`  bootstrap ssh ${lab.controlPlane.name}\n`);
    } finally {
      await release();
    }
  } catch (error) {
    if (error instanceof KubelabError) session.logger.debug(`up failed: ${error.message}`);
    throw error;
  } finally {
    await closeLogger(session.logger);
  }
}

/** The run's inputs; the Calico manifest is loaded later (after preflight), so it starts undefined. */
function runInputs(
  session: LabSession,
  lab: Lab,
  provider: RunInputs["provider"],
  options: UpOptions,
): RunInputs {
  return {
    lab,
    workDir: session.workDir,
    provider,
    state: session.state,
    logger: session.logger,
    signal: session.io.signal,
    tokenSource: options.tokenSource ?? randomBootstrapToken,
    now: () => new Date(),
    calico: undefined,
    apiTimeoutMs: secondsFromEnv(session.io.env, "KUBELAB_API_TIMEOUT_SECONDS", API_TIMEOUT_SECONDS),
    readyTimeoutMs: secondsFromEnv(session.io.env, "KUBELAB_READY_TIMEOUT_SECONDS", READY_TIMEOUT_SECONDS),
  };
}

/** lab.yaml may only change in ways the existing lab can follow (see incompatibleChanges). */
function refuseIncompatibleChanges(session: LabSession, lab: Lab): void {
  const created = session.state.lab;
  if (created === undefined) return;
  const problems = incompatibleChanges(created, lab);
  if (problems.length === 0) return;
  throw new ConfigError(session.configPath, problems, {
    summary: `${session.configPath} asks for changes the lab created in ${session.workDir.root} cannot follow`,
    hint: "undo these edits, or recreate the lab with them: bootstrap down, then bootstrap up",
  });
}

/** Prints the plan, renders every file into .kubelab/ and touches nothing else (no VM, no state). */
async function dryRun(
  session: LabSession,
  lab: Lab,
  plan: readonly PlanStep[],
  inputs: RunInputs,
): Promise<void> {
  const out = (line = "") => session.io.stdout.write(`${line}\n`);
  out(
    `Plan for lab ${lab.name}: provider ${lab.provider}, Kubernetes ${lab.kubernetes.version} (pkgs.k8s.io v${kubernetesMinor(lab.kubernetes.version)}), ` +
      `${lab.workers.length} worker${lab.workers.length === 1 ? "" : "s"}, lab.yaml ${session.configPath}`,
  );
  for (const line of formatPlan(plan, session.state)) out(line);

  const files = await currentFiles(createRunContext(inputs));
  createWorkDir(session.workDir.root);
  await writeRenderedFiles(session.workDir.root, files);
  out();
  out(`Rendered into ${session.workDir.root}:`);
  for (const file of files) out(`  ${file.path}${file.secret ? "  (0600: holds the bootstrap token)" : ""}`);
  try {
    const calico = await loadCalicoManifest(lab, {
      labDir: session.labDir,
      cacheDir: session.workDir.cacheDir,
      signal: session.io.signal,
      timeoutMs: 15_000,
    });
    out(`Calico manifest: ${calico.origin} (applied with the lab's pod CIDR and host-only autodetection)`);
  } catch (error) {
    if (!(error instanceof KubelabError)) throw error;
    out(`Calico manifest: not available: ${error.message}`);
  }
  out();
  out("Dry run: no machine was created or changed. Run `bootstrap up` to create the lab.");
}
