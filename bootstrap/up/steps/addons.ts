// The addon steps: the lab's CNI (Calico or kube-router) applied through the API, and the bundles the operator
// restores from.
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";

import { OPERATOR_NAMESPACE, type AddonName } from "../../../operator/api/addons/bundle.ts";
import { renderCoreDns } from "../../../operator/api/addons/coredns.ts";
import { writeFileAtomic } from "../../files.ts";
import { KUBE_ROUTER_VERSION, renderKubeRouter, renderKubeRouterManifest } from "../../kube/kube-router.ts";
import { labCni, type Cni } from "../../lab/config.ts";
import { digestOf } from "../../lab/state.ts";
import { applyToLab, kubeClient } from "../apply.ts";
import type { LabStep, PlanInput, RunContext } from "../step.ts";

/** Why a CNI's step does not apply: the lab runs the other one. */
function otherCni(input: PlanInput, cni: Cni): string | undefined {
  const chosen = labCni(input.lab);
  return chosen === cni ? undefined : `the lab's CNI is ${chosen} (network.cni)`;
}

export function calicoStep(input: PlanInput): LabStep {
  const skipReason = otherCni(input, "calico");
  return {
    id: "calico",
    title: `Apply Calico ${input.lab.calico.version} (pod CIDR ${input.lab.network.podCidr})`,
    scope: "lab",
    ...(skipReason ? { skipReason } : {}),
    digest: (run) => digestOf(run.appliedCalico().yaml),
    async run(run, progress) {
      const { objects, yaml } = run.appliedCalico();
      // Recorded before applying: the addon bundle (later) must describe what the cluster may hold.
      await writeFileAtomic(join(run.workDir.addonsDir, "calico.yaml"), yaml);
      await applyToLab(run, "calico", objects, progress);
      return `${objects.length} objects, recorded in ${join(run.workDir.addonsDir, "calico.yaml")}`;
    },
  };
}

export function kubeRouterStep(input: PlanInput): LabStep {
  const skipReason = otherCni(input, "kube-router");
  const objects = (run: RunContext) => renderKubeRouter(run.lab);
  return {
    id: "kube-router",
    title: `Apply kube-router ${KUBE_ROUTER_VERSION} (pod routes and network policies; pod CIDR ${input.lab.network.podCidr})`,
    scope: "lab",
    ...(skipReason ? { skipReason } : {}),
    digest: (run) => digestOf(renderKubeRouterManifest(objects(run))),
    async run(run, progress) {
      const applied = objects(run);
      const file = join(run.workDir.addonsDir, "kube-router.yaml");
      await writeFileAtomic(file, renderKubeRouterManifest(applied));
      await applyToLab(run, "kube-router", applied, progress);
      return `${applied.length} objects, recorded in ${file}`;
    },
  };
}

export function addonBundlesStep(input: PlanInput): LabStep {
  const cni = labCni(input.lab) === "calico" ? "Calico" : "kube-router";
  return {
    id: "addon-bundles",
    title: `Write the ${cni} and CoreDNS addon bundles the operator restores from (${OPERATOR_NAMESPACE})`,
    scope: "lab",
    digest: (run) => digestOf(JSON.stringify(labAddonBundles(run))),
    async run(run, progress) {
      const { writeAddonBundles } = await import("../../kube/addon-bundles.ts");
      const { loadKubeConfig } = await kubeClient();
      const written = await writeAddonBundles(
        loadKubeConfig(run.workDir.kubeconfigFile),
        labAddonBundles(run),
        {
          signal: run.signal,
          timeoutMs: run.apiTimeoutMs,
          progress: (line) => progress(line),
        },
      );
      return written.map((bundle) => `${bundle.addon} ${bundle.objects} objects`).join(", ");
    },
  };
}

/**
 * The bundles of the lab's addons: exactly the objects bootstrap applied (the CNI's: Calico's or kube-router's,
 * never both) or kubeadm made (CoreDNS).
 */
export function labAddonBundles(
  run: Pick<RunContext, "lab" | "appliedCalico">,
): { addon: AddonName; objects: readonly KubernetesObject[] }[] {
  const cni: { addon: Cni; objects: readonly KubernetesObject[] } =
    labCni(run.lab) === "calico"
      ? { addon: "calico", objects: run.appliedCalico().objects }
      : { addon: "kube-router", objects: renderKubeRouter(run.lab) };
  return [cni, { addon: "coredns", objects: coreDnsObjects(run) }];
}

/**
 * kubeadm's CoreDNS objects for the lab (service subnet and DNS domain from lab.yaml, kubeadm's image): what
 * `kubeadm init` created, which is what the CoreDNS bundle must hold.
 */
function coreDnsObjects(run: Pick<RunContext, "lab">): KubernetesObject[] {
  return renderCoreDns({ serviceSubnet: run.lab.network.serviceCidr, dnsDomain: run.lab.network.dnsDomain });
}
