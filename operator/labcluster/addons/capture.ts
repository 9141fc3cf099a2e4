// Capture mode: for a cluster bootstrap did not make, the addon's live, healthy objects become its bundle, once.
import type { AddonName, BundleObject } from "../../api/addons/bundle.ts";
import {
  ADDON_CATALOGS,
  isCatalogObject,
  type AddonCatalog,
  type CatalogEntry,
} from "../../api/addons/catalog.ts";
import { coreDnsParametersFromKubeadmConfig, renderCoreDns } from "../../api/addons/coredns.ts";
import { KUBE_ROUTER_NAMESPACE, KubeRouterNames } from "../../api/addons/kube-router.ts";
import { isNotFound } from "../../errors.ts";
import { resourcePath, type KubeClient } from "../../runtime/client.ts";
import { isAvailable, workloadStatus } from "./objects.ts";

const KUBE_SYSTEM = "kube-system";
const CALICO_CRD_GROUP = "crd.projectcalico.org";
const CRD_KIND = "CustomResourceDefinition";

/**
 * The workload whose presence says the addon is installed at all. The objects captured are the addon's
 * catalog (api/addons/catalog.ts) by name, and Calico's CRDs of its group that the catalog names.
 */
const REQUIRED: Record<AddonName, CatalogEntry> = {
  calico: {
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    namespace: KUBE_SYSTEM,
    name: "calico-node",
  },
  "kube-router": {
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    namespace: KUBE_ROUTER_NAMESPACE,
    name: KubeRouterNames.daemonSet,
  },
  coredns: {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    namespace: KUBE_SYSTEM,
    name: "coredns",
  },
};

/** kubeadm's record of the cluster configuration: CoreDNS's parameters on a cluster bootstrap did not make. */
const KUBEADM_CONFIG: CatalogEntry = {
  group: "",
  version: "v1",
  kind: "ConfigMap",
  plural: "configmaps",
  namespace: KUBE_SYSTEM,
  name: "kubeadm-config",
};

export type CaptureResult =
  /** The bundle to write. */
  | { readonly kind: "captured"; readonly objects: BundleObject[]; readonly message: string }
  /** The addon is installed but not healthy yet: capturing now could record a broken state. */
  | { readonly kind: "waiting"; readonly message: string }
  /** The addon is not installed: nothing to capture. */
  | { readonly kind: "absent"; readonly message: string };

/**
 * Captures an addon from the live cluster. Only a healthy addon is captured (its workloads exist and every
 * pod is available), so the bundle holds a state known to work. CoreDNS objects that are missing are filled
 * in from kubeadm's definitions with the parameters recorded in the `kubeadm-config` ConfigMap (service
 * subnet, DNS domain, image); a cluster without kubeadm-config gets what exists.
 */
export async function captureAddon(
  addon: AddonName,
  client: KubeClient,
  signal: AbortSignal,
  catalog: AddonCatalog = ADDON_CATALOGS[addon],
): Promise<CaptureResult> {
  const read = async (target: CatalogEntry) => {
    try {
      return await client.get(resourcePath({ ...target }), { signal });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };
  const required = await read(REQUIRED[addon]);
  const requiredName = `${REQUIRED[addon].kind} ${KUBE_SYSTEM}/${REQUIRED[addon].name}`;
  if (required === undefined) return { kind: "absent", message: `no ${requiredName} to capture` };
  const live: Record<string, unknown>[] = [];
  for (const target of catalog.filter((entry) => entry.kind !== CRD_KIND)) {
    const object = await read(target);
    if (object !== undefined) {
      const apiVersion = target.group === "" ? target.version : `${target.group}/${target.version}`;
      live.push({ apiVersion, kind: target.kind, ...object });
    }
  }
  if (addon === "calico") {
    const crds = await client.get<{ items?: Record<string, unknown>[] }>(
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
      { signal },
    );
    for (const crd of crds.items ?? []) {
      const object = { apiVersion: "apiextensions.k8s.io/v1", kind: CRD_KIND, ...crd } as BundleObject;
      const inGroup = (crd.spec as { group?: string } | undefined)?.group === CALICO_CRD_GROUP;
      if (inGroup && catalog.some((entry) => isCatalogObject(entry, object))) live.push(object);
    }
  }
  for (const object of live) {
    const metadata = object.metadata as { name?: string; deletionTimestamp?: string };
    const workload = workloadStatus(object);
    const name = `${String(object.kind)} ${metadata.name ?? ""}`;
    if (metadata.deletionTimestamp !== undefined)
      return { kind: "waiting", message: `${name} is being deleted` };
    if (workload !== undefined && !isAvailable(workload)) {
      return {
        kind: "waiting",
        message: `${name} is not available yet (${workload.available}/${workload.desired}); captured once healthy`,
      };
    }
  }
  let objects = live.map(cleanLiveObject);
  let message = `captured ${objects.length} live objects`;
  if (addon === "coredns") {
    const kubeadm = await read(KUBEADM_CONFIG);
    const clusterConfiguration = (kubeadm?.data as Record<string, string> | undefined)?.ClusterConfiguration;
    if (clusterConfiguration !== undefined) {
      const rendered = renderCoreDns(coreDnsParametersFromKubeadmConfig(clusterConfiguration));
      const byIdentity = new Map(objects.map((object) => [`${object.kind}/${object.metadata.name}`, object]));
      const filled = rendered.filter((object) => !byIdentity.has(`${object.kind}/${object.metadata.name}`));
      objects = rendered.map((object) => byIdentity.get(`${object.kind}/${object.metadata.name}`) ?? object);
      if (filled.length > 0) {
        message += `; ${filled.map((object) => `${object.kind} ${object.metadata.name}`).join(", ")} rendered from kubeadm-config`;
      }
    }
  }
  return { kind: "captured", objects, message };
}

/** Annotations that record a tool's or controller's bookkeeping, not the object's intent. */
const BOOKKEEPING_ANNOTATIONS = [
  "kubectl.kubernetes.io/last-applied-configuration",
  "deployment.kubernetes.io/revision",
  "deprecated.daemonset.template.generation",
];

/**
 * A live object as a bundle object: without status and server-set metadata (uid, resourceVersion,
 * managedFields...), bookkeeping annotations, the pod template's null creationTimestamp and a
 * ServiceAccount's token secret references. Everything else stays, defaults included: applying them back
 * changes nothing. A Service keeps its clusterIP(s): kube-dns must come back at the address every pod's
 * resolv.conf names.
 */
export function cleanLiveObject(raw: Record<string, unknown>): BundleObject {
  const { status: _status, metadata, ...rest } = structuredClone(raw);
  const meta = (metadata ?? {}) as {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  const annotations = { ...meta.annotations };
  for (const key of BOOKKEEPING_ANNOTATIONS) delete annotations[key];
  const object: Record<string, unknown> & BundleObject = {
    ...(rest as { apiVersion: string; kind: string }),
    metadata: {
      name: meta.name,
      ...(meta.namespace === undefined ? {} : { namespace: meta.namespace }),
      ...(meta.labels === undefined || Object.keys(meta.labels).length === 0 ? {} : { labels: meta.labels }),
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
    },
  };
  const template = (object.spec as { template?: { metadata?: Record<string, unknown> } } | undefined)
    ?.template;
  if (template?.metadata !== undefined) delete template.metadata.creationTimestamp;
  if (object.kind === "ServiceAccount") delete object.secrets;
  return object;
}
