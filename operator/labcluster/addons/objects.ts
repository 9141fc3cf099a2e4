// Addon objects: identities and queue keys, what the cache keeps of a live object, and its content fingerprint.
import { createHash } from "node:crypto";

import {
  ADDON_MODE_LABEL,
  objectIdentity,
  type AddonName,
  type BundleObject,
} from "../../api/addons/bundle.ts";

/** Where a bundled object lives: its group, version and kind, namespace (undefined: cluster-scoped) and name. */
export interface ObjectRef {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string;
}

/** The reference of a bundle object. */
export function refOf(object: BundleObject): ObjectRef {
  const slash = object.apiVersion.indexOf("/");
  const namespace = object.metadata.namespace;
  return {
    group: slash === -1 ? "" : object.apiVersion.slice(0, slash),
    version: slash === -1 ? object.apiVersion : object.apiVersion.slice(slash + 1),
    kind: object.kind,
    namespace: namespace === undefined || namespace === "" ? undefined : namespace,
    name: object.metadata.name,
  };
}

/** `apps/v1` or `v1`. */
export function apiVersionOf(ref: Pick<ObjectRef, "group" | "version">): string {
  return ref.group === "" ? ref.version : `${ref.group}/${ref.version}`;
}

/** `DaemonSet/kube-system/calico-node`, `ClusterRole/system:coredns`: how status and Events name objects. */
export function describeRef(ref: ObjectRef): string {
  return ref.namespace === undefined ? `${ref.kind}/${ref.name}` : `${ref.kind}/${ref.namespace}/${ref.name}`;
}

/** The work-queue key of one bundled object: `calico|apps/DaemonSet/kube-system/calico-node`. */
export function objectQueueKey(addon: AddonName, ref: ObjectRef): string {
  return `${addon}|${identityOfRef(ref)}`;
}

/** The work-queue key of an addon's bundle (load, index, watch; capture when there is none). */
export function bundleQueueKey(addon: AddonName): string {
  return `bundle|${addon}`;
}

/** What a queue key names. */
export type QueueTarget =
  | { readonly kind: "bundle"; readonly addon: AddonName }
  | { readonly kind: "object"; readonly addon: AddonName; readonly identity: string };

export function parseQueueKey(key: string): QueueTarget {
  const separator = key.indexOf("|");
  const head = key.slice(0, separator);
  const rest = key.slice(separator + 1);
  if (head === "bundle") return { kind: "bundle", addon: rest as AddonName };
  return { kind: "object", addon: head as AddonName, identity: rest };
}

/** objectIdentity for a reference (group/kind/namespace/name). */
export function identityOfRef(ref: ObjectRef): string {
  return objectIdentity({
    apiVersion: apiVersionOf(ref),
    kind: ref.kind,
    metadata: { name: ref.name, ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }) },
  });
}

/** A Deployment's or DaemonSet's rollout as far as availability goes. */
export interface WorkloadStatus {
  /** The controller has seen the current spec (status.observedGeneration >= metadata.generation). */
  readonly observed: boolean;
  /** Pods that should run: spec.replicas, or the DaemonSet's desiredNumberScheduled. */
  readonly desired: number;
  /** Pods available (ready for minReadySeconds). */
  readonly available: number;
}

/**
 * A live object of a bundled kind as the cache keeps it: enough to decide, nothing more. Status-only
 * updates of objects without a rollout (most of them) leave it unchanged, so they reach no handler.
 */
export interface LiveObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly uid?: string };
  /** metadata.deletionTimestamp is set: it goes away once its finalizers are done. */
  readonly deleting: boolean;
  /** The kubelab.dev/addon-mode label, as written (validated when used). */
  readonly modeLabel: string | undefined;
  /** Hash of everything but status and controller bookkeeping: it changes when anyone edits the object. */
  readonly fingerprint: string;
  /** For Deployments and DaemonSets. */
  readonly workload: WorkloadStatus | undefined;
}

/**
 * Annotations controllers write on their own objects on every rollout. They are not an edit of the
 * object's content, so they do not count for the fingerprint.
 */
const CONTROLLER_ANNOTATIONS = [
  "deployment.kubernetes.io/revision",
  "deprecated.daemonset.template.generation",
];

/**
 * The fingerprint of an object's content: labels, annotations and every field but metadata and status.
 * apiVersion and kind are left out: list responses omit them from their items, watch events and single
 * objects carry them, and the same object must hash the same whichever way it was read.
 */
export function contentFingerprint(raw: Record<string, unknown>): string {
  const { metadata, status: _status, apiVersion: _apiVersion, kind: _kind, ...content } = raw;
  const meta = (metadata ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string> };
  const annotations = { ...meta.annotations };
  for (const key of CONTROLLER_ANNOTATIONS) delete annotations[key];
  const text = JSON.stringify(sortKeys({ labels: meta.labels ?? {}, annotations, content }));
  return createHash("sha1").update(text).digest("base64url");
}

/** The informer transform of a bundled kind. */
export function toLiveObject(raw: Record<string, unknown>): LiveObject {
  const metadata = (raw.metadata ?? {}) as {
    name?: string;
    namespace?: string;
    uid?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  return {
    metadata: {
      name: metadata.name ?? "",
      ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
      ...(metadata.uid === undefined ? {} : { uid: metadata.uid }),
    },
    deleting: metadata.deletionTimestamp !== undefined,
    modeLabel: metadata.labels?.[ADDON_MODE_LABEL],
    fingerprint: contentFingerprint(raw),
    workload: workloadStatus(raw),
  };
}

/** Availability of a Deployment or DaemonSet (apps/v1); undefined for other kinds. */
export function workloadStatus(raw: Record<string, unknown>): WorkloadStatus | undefined {
  const kind = raw.kind;
  const generation = (raw.metadata as { generation?: number } | undefined)?.generation ?? 0;
  if (kind === "Deployment") {
    const spec = (raw.spec ?? {}) as { replicas?: number };
    const status = (raw.status ?? {}) as { observedGeneration?: number; availableReplicas?: number };
    return {
      observed: (status.observedGeneration ?? 0) >= generation,
      desired: spec.replicas ?? 1,
      available: status.availableReplicas ?? 0,
    };
  }
  if (kind === "DaemonSet") {
    const status = (raw.status ?? {}) as {
      observedGeneration?: number;
      desiredNumberScheduled?: number;
      numberAvailable?: number;
    };
    return {
      observed: (status.observedGeneration ?? 0) >= generation,
      desired: status.desiredNumberScheduled ?? 0,
      available: status.numberAvailable ?? 0,
    };
  }
  return undefined;
}

/** Every desired pod is available and the controller has seen the current spec. */
export function isAvailable(workload: WorkloadStatus): boolean {
  return workload.observed && workload.available >= workload.desired;
}

/**
 * The body of a server-side apply (or create) from a bundle object: the object as bundled, without the
 * fields that only the server sets (a captured object may still carry them) and without status.
 */
export function applyBody(object: BundleObject): Record<string, unknown> {
  const { status: _status, metadata, ...rest } = object;
  const {
    uid: _uid,
    resourceVersion: _resourceVersion,
    creationTimestamp: _creationTimestamp,
    generation: _generation,
    managedFields: _managedFields,
    selfLink: _selfLink,
    deletionTimestamp: _deletionTimestamp,
    deletionGracePeriodSeconds: _deletionGracePeriodSeconds,
    ...meta
  } = metadata as Record<string, unknown>;
  return { ...rest, metadata: meta };
}

/** A namespace as cached: whether it is being deleted. */
export interface SlimNamespace {
  readonly metadata: { readonly name: string };
  readonly terminating: boolean;
}

export function toSlimNamespace(raw: Record<string, unknown>): SlimNamespace {
  const metadata = (raw.metadata ?? {}) as { name?: string; deletionTimestamp?: string };
  const phase = (raw.status as { phase?: string } | undefined)?.phase;
  return {
    metadata: { name: metadata.name ?? "" },
    terminating: metadata.deletionTimestamp !== undefined || phase === "Terminating",
  };
}

/** JSON with sorted keys at every level, so equal content always hashes equal. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}
