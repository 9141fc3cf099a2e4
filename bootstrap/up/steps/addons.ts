// The addon steps: Calico applied through the API, and the Calico and CoreDNS bundles the operator restores from.
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";

import { OPERATOR_NAMESPACE } from "../../../operator/api/addons/bundle.ts";
import { renderCoreDns } from "../../../operator/api/addons/coredns.ts";
import { writeFileAtomic } from "../../files.ts";
import { digestOf } from "../../lab/state.ts";
import { applyToLab, kubeClient } from "../apply.ts";
import type { LabStep, PlanInput, RunContext } from "../step.ts";

export function calicoStep(input: PlanInput): LabStep {
  return {
    id: "calico",
    title: `Apply Calico ${input.lab.calico.version} (pod CIDR ${input.lab.network.podCidr})`,
    scope: "lab",
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

export function addonBundlesStep(): LabStep {
  return {
    id: "addon-bundles",
    title: `Write the Calico and CoreDNS addon bundles the operator restores from (${OPERATOR_NAMESPACE})`,
    scope: "lab",
    digest: (run) => digestOf(`${run.appliedCalico().yaml}\n${JSON.stringify(coreDnsObjects(run))}`),
    async run(run, progress) {
      const { writeAddonBundles } = await import("../../kube/addon-bundles.ts");
      const { loadKubeConfig } = await kubeClient();
      const written = await writeAddonBundles(
        loadKubeConfig(run.workDir.kubeconfigFile),
        [
          { addon: "calico", objects: run.appliedCalico().objects },
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
