// Shared pieces of the addon integration tests: Calico's fixture and kubeadm's CoreDNS on the envtest plane,
// applied and bundled the way bootstrap does it, and small helpers to read, delete and wait for objects.
import {
  BUNDLE_LABEL,
  objectIdentity,
  type AddonName,
  type BundleObject,
} from "../../operator/api/addons/bundle.ts";
import type { CatalogEntry } from "../../operator/api/addons/catalog.ts";
import { renderCoreDns } from "../../operator/api/addons/coredns.ts";
import { refOf } from "../../operator/labcluster/addons/objects.ts";
import { objectPath, ResourceResolver } from "../../operator/labcluster/addons/resources.ts";
import { resourcePath } from "../../operator/runtime/client.ts";
import { writeAddonBundles } from "../../bootstrap/kube/addon-bundles.ts";
import { applyManifests } from "../../bootstrap/kube/client.ts";
import { controlPlane, waitFor } from "../envtest/index.ts";
import { calicoFixtureObjects } from "../fixtures/calico/generate.ts";
import type { LabClusterSpecInput } from "../../operator/api/labcluster.ts";
import {
  adminClient,
  applyLabCluster,
  deleteLabCluster,
  installCrds,
  startOperator,
  waitLabClusterCondition,
  type RunningOperator,
} from "./operator/helpers.ts";

/** The operator of the integration tests runs in `default` (operator/helpers.ts), so its bundles live there. */
export const BUNDLE_NAMESPACE = "default";

/** kubeadm's CoreDNS objects for the envtest plane's service subnet and DNS domain. */
export function coreDnsObjects(): BundleObject[] {
  const plane = controlPlane();
  return renderCoreDns({ serviceSubnet: plane.serviceCidr, dnsDomain: plane.dnsDomain });
}

/**
 * The `kubeadm-config` ConfigMap a kubeadm cluster has in kube-system, for the envtest plane's service subnet
 * and DNS domain: what capture mode reads CoreDNS's parameters from.
 */
export function kubeadmConfigObject(): BundleObject {
  const plane = controlPlane();
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "kubeadm-config", namespace: "kube-system" },
    data: {
      ClusterConfiguration:
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nimageRepository: registry.k8s.io\n" +
        `networking:\n  serviceSubnet: ${plane.serviceCidr}\n  dnsDomain: ${plane.dnsDomain}\n`,
    },
  };
}

/** The Calico fixture (Calico v3.31's kinds and names, real size). */
export function calicoObjects(): BundleObject[] {
  return calicoFixtureObjects();
}

/**
 * Applies objects as `bootstrap up` does, with its own applyManifests: server-side apply with the field
 * manager kubelab-bootstrap, CRDs first and Established before the rest, each object's JSON sent as is.
 */
export async function applyAsBootstrap(objects: readonly BundleObject[]): Promise<void> {
  await applyManifests(controlPlane().kubeConfig, objects, {
    signal: AbortSignal.timeout(120_000),
    timeoutMs: 120_000,
    step: "test-apply",
  });
}

/** Writes bundles with bootstrap's own function, into the test operator's namespace. */
export async function writeBundles(
  bundles: readonly { addon: AddonName; objects: readonly BundleObject[] }[],
): ReturnType<typeof writeAddonBundles> {
  return writeAddonBundles(controlPlane().kubeConfig, bundles, {
    namespace: BUNDLE_NAMESPACE,
    signal: AbortSignal.timeout(60_000),
    timeoutMs: 60_000,
  });
}

/**
 * What `bootstrap up` does for its addons: applies their objects as bootstrap, writes their bundles, and waits
 * until their workloads are available.
 */
export async function installAsBootstrap(
  bundles: readonly { addon: AddonName; objects: readonly BundleObject[] }[],
): Promise<void> {
  const objects = bundles.flatMap((bundle) => bundle.objects);
  await applyAsBootstrap(objects);
  await writeBundles(bundles);
  await waitWorkloadsAvailable(objects);
}

/**
 * The hooks of an addon restoration suite: before, the CRDs, the addons installed as bootstrap does
 * (installAsBootstrap), the LabCluster `lab` with `spec` and an operator, until every `healthy` condition is
 * True; after, all of it removed. `bundles` is called in the before hook (the plane is known then). Returns
 * the running operator, for the tests.
 */
export function addonRestoreHooks(options: {
  readonly lab: string;
  readonly spec: LabClusterSpecInput;
  readonly bundles: () => readonly { addon: AddonName; objects: readonly BundleObject[] }[];
  readonly healthy: readonly string[];
}): () => RunningOperator {
  let operator: RunningOperator | undefined;
  let objects: BundleObject[] = [];
  before(async function () {
    this.timeout(300_000);
    await installCrds();
    const bundles = options.bundles();
    objects = bundles.flatMap((bundle) => bundle.objects);
    await installAsBootstrap(bundles);
    await applyLabCluster(options.lab, options.spec);
    operator = startOperator(options.lab);
    for (const type of options.healthy) await waitLabClusterCondition(options.lab, type, "True", 60_000);
  });
  after(async function () {
    this.timeout(300_000);
    await operator?.stop();
    await deleteLabCluster(options.lab);
    await deleteBundles();
    await deleteObjects(objects);
  });
  return () => {
    if (operator === undefined) throw new Error("the operator runs only once the suite's before hook ran");
    return operator;
  };
}

/** Deletes every bundle ConfigMap of the test namespace. */
export async function deleteBundles(): Promise<void> {
  const client = adminClient();
  const list = await client.get<{ items: { metadata: { name: string } }[] }>(
    resourcePath({ group: "", version: "v1", plural: "configmaps", namespace: BUNDLE_NAMESPACE }),
    { query: { labelSelector: BUNDLE_LABEL } },
  );
  for (const item of list.items) {
    await client.delete(
      resourcePath({
        group: "",
        version: "v1",
        plural: "configmaps",
        namespace: BUNDLE_NAMESPACE,
        name: item.metadata.name,
      }),
    );
  }
}

/** One discovery cache for the suite's control plane. */
let resolver: ResourceResolver | undefined;

/** The REST path of an object (through discovery, as the operator finds it). */
export async function pathOf(object: BundleObject): Promise<string> {
  resolver ??= new ResourceResolver(adminClient());
  const known = resolver;
  const ref = refOf(object);
  const resource = await known.resolve(ref.group, ref.version, ref.kind);
  if (resource === undefined) throw new Error(`the envtest plane serves no ${ref.kind}`);
  return objectPath(resource, ref);
}

/**
 * Catalog entries for test objects (resolved through discovery), to widen an addon's catalog: the operator
 * refuses a bundle holding anything its addon does not define, and these tests bundle objects of their own.
 */
export async function catalogOf(objects: readonly BundleObject[]): Promise<CatalogEntry[]> {
  resolver ??= new ResourceResolver(adminClient());
  const entries: CatalogEntry[] = [];
  for (const object of objects) {
    const ref = refOf(object);
    const resource = await resolver.resolve(ref.group, ref.version, ref.kind);
    if (resource === undefined) throw new Error(`the envtest plane serves no ${ref.kind}`);
    entries.push({
      group: resource.group,
      version: resource.version,
      kind: resource.kind,
      plural: resource.plural,
      ...(resource.namespaced ? { namespace: object.metadata.namespace ?? "default" } : {}),
      name: object.metadata.name,
    });
  }
  return entries;
}

/** A live object with its metadata (uid to tell a re-created object from the old one). */
export interface LiveObject {
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  [key: string]: unknown;
}

/** Reads an object; undefined when it does not exist. */
export async function readObject(object: BundleObject): Promise<LiveObject | undefined> {
  try {
    return await adminClient().get<LiveObject>(await pathOf(object));
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/**
 * Waits until the API server watches a CRD's custom resources from its watch cache, as it does on a cluster
 * whose controllers use the CRD. A watch is refused (429 "storage is (re)initializing") until the cache has
 * started; the CRD finalizer's list of instances is refused the same way and then backs off exponentially,
 * which could make a CRD deleted right after its first use take longer to go than a test waits.
 */
async function waitCustomResourceWatchable(crd: BundleObject): Promise<void> {
  const spec = (
    crd as unknown as {
      spec: { group: string; names: { plural: string }; versions: { name: string; storage: boolean }[] };
    }
  ).spec;
  const version = spec.versions.find((entry) => entry.storage)?.name ?? spec.versions[0]!.name;
  const path = `/apis/${spec.group}/${version}/${spec.names.plural}`;
  await waitFor(`the watch cache of ${spec.names.plural}.${spec.group}`, async () => {
    const watch = adminClient().watch(path, { timeoutSeconds: 1 }, AbortSignal.timeout(10_000));
    for await (const _event of watch) break;
    return true;
  });
}

/** Deletes an object and waits until a new one (another uid) exists; returns the new one. */
export async function deleteAndWaitRestored(object: BundleObject, timeoutMs = 30_000): Promise<LiveObject> {
  const before = await readObject(object);
  if (before === undefined) throw new Error(`${objectIdentity(object)} does not exist before the test`);
  if (object.kind === "CustomResourceDefinition") await waitCustomResourceWatchable(object);
  await adminClient().delete(await pathOf(object));
  return waitFor(
    `${objectIdentity(object)} re-created`,
    async () => {
      const now = await readObject(object);
      return now !== undefined &&
        now.metadata.uid !== before.metadata.uid &&
        now.metadata.deletionTimestamp === undefined
        ? now
        : undefined;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/**
 * Deletes what a suite made, except CustomResourceDefinitions, and waits until it is gone; the error names
 * what stays. The Calico CRDs stay for the next suite (which applies the same ones again): a CRD is only gone
 * once the API server's CRD finalizer has listed its (zero) instances, and that list fails with "storage is
 * (re)initializing" while the new watch cache of the CRD starts; the finalizer then backs off exponentially
 * per CRD, so two dozen CRDs deleted at once on a busy machine have taken more than 3 minutes to go, and the
 * next suite's apply raced their removal. (The restore suite still deletes each CRD and sees it re-created.)
 */
export async function deleteObjects(objects: readonly BundleObject[]): Promise<void> {
  const client = adminClient();
  const doomed = objects.filter((object) => object.kind !== "CustomResourceDefinition");
  for (const object of doomed) {
    try {
      await client.delete(await pathOf(object));
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  }
  let left: string[] = [];
  await waitFor(
    "the addon objects gone",
    async () => {
      left = [];
      for (const object of doomed)
        if ((await readObject(object)) !== undefined) left.push(objectIdentity(object));
      if (left.length > 0) throw new Error(`still there: ${left.slice(0, 5).join(", ")}`);
      return true;
    },
    { timeoutMs: 120_000 },
  );
}

/** Waits until the Deployments and DaemonSets among `objects` have every pod available. */
export async function waitWorkloadsAvailable(
  objects: readonly BundleObject[],
  timeoutMs = 60_000,
): Promise<void> {
  for (const object of objects) {
    if (object.kind !== "Deployment" && object.kind !== "DaemonSet") continue;
    await waitFor(
      `${objectIdentity(object)} available`,
      async () => {
        const live = await readObject(object);
        const spec = live?.spec as { replicas?: number } | undefined;
        const status = live?.status as
          | { availableReplicas?: number; numberAvailable?: number; desiredNumberScheduled?: number }
          | undefined;
        if (live === undefined) return false;
        if (object.kind === "Deployment") return (status?.availableReplicas ?? 0) >= (spec?.replicas ?? 1);
        const desired = status?.desiredNumberScheduled ?? 0;
        return desired > 0 && (status?.numberAvailable ?? 0) >= desired;
      },
      { timeoutMs },
    );
  }
}

/** A readable name for test titles: `DaemonSet kube-system/calico-node`. */
export function titleOf(object: BundleObject): string {
  const ref = refOf(object);
  return `${ref.kind} ${ref.namespace === undefined ? "" : `${ref.namespace}/`}${ref.name}`;
}
