// bootstrap's side of addon restoration: the bundle ConfigMaps, written from exactly what was applied.
import { CoreV1Api, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";

import {
  BUNDLE_LABEL,
  encodeBundle,
  OPERATOR_NAMESPACE,
  staleBundleParts,
  type AddonName,
  type BundleObject,
} from "../../operator/api/addons/bundle.ts";
import { applyManifests, type ApiWaitOptions } from "./client.ts";

/** One addon's objects, exactly as bootstrap applied them (or as kubeadm created them). */
export interface AddonBundleInput {
  readonly addon: AddonName;
  readonly objects: readonly KubernetesObject[];
}

/** What was written, for the step's summary line. */
export interface WrittenBundle {
  readonly addon: AddonName;
  readonly digest: string;
  /** ConfigMaps holding it (1 unless the compressed objects exceed one ConfigMap). */
  readonly configMaps: number;
  readonly objects: number;
  /** Uncompressed JSON and gzip sizes in bytes. */
  readonly bytes: { readonly json: number; readonly compressed: number };
  /** Parts of earlier versions that were deleted. */
  readonly removedParts: readonly string[];
}

/**
 * Writes each addon's bundle into `namespace` (default kubelab-system, created if missing) with server-side
 * apply (field manager kubelab-bootstrap): the parts first, then the head ConfigMap that names them, then
 * the parts of an older version are deleted. The operator therefore never sees a half-written bundle,
 * and re-running `up` with the same objects changes nothing. The operator restores the addons from these
 * bundles: call this right after the addon was applied, with the very objects that were applied.
 */
export async function writeAddonBundles(
  config: KubeConfig,
  bundles: readonly AddonBundleInput[],
  options: ApiWaitOptions & { readonly namespace?: string },
): Promise<WrittenBundle[]> {
  const namespace = options.namespace ?? OPERATOR_NAMESPACE;
  const core = config.makeApiClient(CoreV1Api);
  const written: WrittenBundle[] = [];
  for (const { addon, objects } of bundles) {
    const encoded = encodeBundle({
      addon,
      source: "bootstrap",
      objects: objects as unknown as readonly BundleObject[],
      namespace,
    });
    const configMaps = [...encoded.parts, encoded.head];
    await applyManifests(
      config,
      [{ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, ...configMaps],
      { ...options, step: "addon-bundles" },
    );
    const existing = await core.listNamespacedConfigMap({
      namespace,
      labelSelector: `${BUNDLE_LABEL}=${addon}`,
    });
    const stale = staleBundleParts(
      addon,
      encoded.digest,
      existing.items.map((item) => ({
        metadata: {
          name: item.metadata?.name ?? "",
          labels: item.metadata?.labels ?? {},
          annotations: item.metadata?.annotations ?? {},
        },
      })),
    );
    for (const name of stale) {
      try {
        await core.deleteNamespacedConfigMap({ name, namespace });
      } catch (error) {
        if ((error as { code?: number }).code !== 404) throw error;
      }
    }
    options.progress?.(
      `${addon} bundle: ${objects.length} objects, ${encoded.sizes.compressed} bytes gzip in ${configMaps.length} ConfigMap(s)`,
    );
    written.push({
      addon,
      digest: encoded.digest,
      configMaps: configMaps.length,
      objects: objects.length,
      bytes: encoded.sizes,
      removedParts: stale,
    });
  }
  return written;
}
