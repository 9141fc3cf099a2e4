// The RunContext of one `up` run: the inputs, and the accessors that compute once per run.
import { dirname, join } from "node:path";

import { StateError } from "../errors.ts";
import type { OperatorImage } from "../image/operator-image.ts";
import { installSources } from "../lab/sources.ts";
import type { InstallSources } from "../provision/packages.ts";
import { customizeCalico, renderAppliedManifest } from "../kube/calico.ts";
import type { NodeStatus } from "../providers/provider.ts";
import { usableJoinToken } from "./join-token.ts";
import type { AppliedCalico, RunContext } from "./step.ts";

/** What a run is made of; the rest of RunContext is derived from it. */
export type RunInputs = Omit<
  RunContext,
  "nodeStatuses" | "forgetNodeStatuses" | "joinToken" | "appliedCalico" | "installSources" | "operatorImage"
>;

/** How the run assembles the operator image; the default builds it from this checkout (image/lab-image.ts). */
export type OperatorImageBuilder = (
  run: RunContext,
  progress: (line: string) => void,
) => Promise<OperatorImage>;

const buildFromCheckout: OperatorImageBuilder = async (run, progress) => {
  const { buildLabOperatorImage } = await import("../image/lab-image.ts");
  return buildLabOperatorImage(run.lab, {
    cacheDir: run.workDir.cacheDir,
    logFile: join(run.workDir.logsDir, "operator-image.log"),
    signal: run.signal,
    onProgress: progress,
  });
};

/**
 * A RunContext over `inputs`. Each accessor computes once and shares its promise with parallel callers; a
 * failed computation is not remembered, so the next caller tries again.
 */
export function createRunContext(
  inputs: RunInputs,
  builders: { operatorImage?: OperatorImageBuilder } = {},
): RunContext {
  let image: Promise<OperatorImage> | undefined;
  let statuses: Promise<ReadonlyMap<string, NodeStatus>> | undefined;
  let token: Promise<string> | undefined;
  let calico: AppliedCalico | undefined;
  let sources: InstallSources | undefined;
  const run: RunContext = {
    ...inputs,
    nodeStatuses() {
      statuses ??= retryable(
        run.provider
          .status(run.lab, { workDir: run.workDir.root, logger: run.logger, signal: run.signal })
          .then((list) => new Map(list.map((status) => [status.name, status]))),
        () => (statuses = undefined),
      );
      return statuses;
    },
    forgetNodeStatuses() {
      statuses = undefined;
    },
    joinToken() {
      token ??= retryable(usableJoinToken(run), () => (token = undefined));
      return token;
    },
    appliedCalico() {
      if (calico !== undefined) return calico;
      if (run.calico === undefined) throw new StateError("the Calico manifest was not loaded before the run");
      const objects = customizeCalico(run.calico.text, run.lab, run.calico.origin);
      calico = { objects, yaml: renderAppliedManifest(objects, run.lab, run.calico.origin) };
      return calico;
    },
    installSources() {
      // The lab's folder: .kubelab/ is next to lab.yaml, and packages.key is relative to lab.yaml.
      sources ??= installSources(run.lab, dirname(run.workDir.root));
      return sources;
    },
    operatorImage(progress) {
      image ??= retryable(
        (builders.operatorImage ?? buildFromCheckout)(run, progress),
        () => (image = undefined),
      );
      return image;
    },
  };
  return run;
}

function retryable<T>(promise: Promise<T>, forget: () => void): Promise<T> {
  promise.catch(forget);
  return promise;
}
