// Addon bundles: an addon's exact objects, gzip-compressed and split over ConfigMaps in the operator namespace.
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";

import { GROUP_VERSION } from "../common.ts";

/**
 * The addons the operator restores. Each has one bundle: the objects bootstrap applied (or the operator
 * captured), which are the desired state of restoration.
 */
export const ADDONS = ["calico", "kube-router", "coredns"] as const;
export type AddonName = (typeof ADDONS)[number];

/** Where a bundle came from: written by `bootstrap up` from what it applied, or captured from live objects. */
export const BUNDLE_SOURCES = ["bootstrap", "capture"] as const;
export type BundleSource = (typeof BUNDLE_SOURCES)[number];

/** The namespace the operator runs in and bootstrap writes bundles to. */
export const OPERATOR_NAMESPACE = "kubelab-system";

/** On every ConfigMap of a bundle (head and parts); the value is the addon. The operator watches this label. */
export const BUNDLE_LABEL = "kubelab.dev/addon-bundle";
/** Annotations of bundle ConfigMaps. */
export const BundleAnnotation = {
  /** sha256 (hex) of the uncompressed payload: every part of one bundle carries the same digest. */
  digest: "kubelab.dev/bundle-digest",
  /** How many ConfigMaps hold the compressed payload (the head counts). */
  parts: "kubelab.dev/bundle-parts",
  /** Which slice of the compressed payload this ConfigMap holds, from 0 (the head). */
  part: "kubelab.dev/bundle-part",
  source: "kubelab.dev/bundle-source",
  /** How many objects the bundle holds (for `kubectl get cm -L` and humans). */
  objects: "kubelab.dev/bundle-objects",
} as const;
/** The key in `binaryData` holding this ConfigMap's slice of the gzip stream. */
export const BUNDLE_DATA_KEY = "bundle.json.gz";

/**
 * The per-object restore mode override, as the addon-manager's `addonmanager.kubernetes.io/mode`: set on a
 * live object (or in the bundle) to Reconcile, EnsureExists or Disabled.
 */
export const ADDON_MODE_LABEL = "kubelab.dev/addon-mode";

/**
 * Bytes of compressed payload per ConfigMap. A ConfigMap holds at most 1 MiB of data (binaryData counts
 * its raw bytes) and etcd refuses requests above 1.5 MiB; 768 KiB leaves room for metadata and
 * managedFields. The real Calico manifest (~350 KB) compresses to well under one part.
 */
export const BUNDLE_PART_BYTES = 768 * 1024;

/**
 * The most a bundle's JSON may decompress to, and the most ConfigMaps it may span. Both bound what a
 * reader allocates, whoever wrote the bundle: 127 KiB of gzip can inflate to 128 MiB, and the sha256 is
 * declared by the same writer, so the size is checked while decompressing, before anything else. Calico's
 * manifest is ~350 KB of JSON; 16 MiB leaves room for any addon and none for a bomb.
 */
export const MAX_BUNDLE_JSON_BYTES = 16 * 1024 * 1024;
export const MAX_BUNDLE_PARTS = 16;

/** A Kubernetes object as stored in a bundle: plain JSON. */
export interface BundleObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly [key: string]: unknown };
  readonly [key: string]: unknown;
}

/** A decoded bundle. */
export interface AddonBundle {
  readonly addon: AddonName;
  readonly source: BundleSource;
  /** sha256 of the payload; changes whenever any object changes. */
  readonly digest: string;
  readonly objects: readonly BundleObject[];
}

/** A ConfigMap of a bundle as written (and as read back: only these fields matter). */
export interface BundleConfigMap {
  readonly apiVersion: "v1";
  readonly kind: "ConfigMap";
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  /** base64 of the slice, as the API carries binaryData. */
  readonly binaryData: Readonly<Record<string, string>>;
}

/** What `encodeBundle` produces: write `parts` first, then `head`, then delete `stale` parts. */
export interface EncodedBundle {
  readonly digest: string;
  /** Holds slice 0 and says how many parts there are. Written last, so readers never see a half-written set. */
  readonly head: BundleConfigMap;
  /** Slices 1..n-1 (usually none), named after the digest so that two versions never share a name. */
  readonly parts: readonly BundleConfigMap[];
  /** Uncompressed and compressed sizes in bytes, for logs and tests. */
  readonly sizes: { readonly json: number; readonly compressed: number };
}

/** The name of an addon's head ConfigMap: `kubelab-addon-calico`. */
export function bundleHeadName(addon: AddonName): string {
  return `kubelab-addon-${addon}`;
}

/** The name of part `index` (>= 1) of the bundle with `digest`. */
export function bundlePartName(addon: AddonName, digest: string, index: number): string {
  return `${bundleHeadName(addon)}-${digest.slice(0, 12)}-${index}`;
}

/** The JSON document inside the gzip stream. Versioned so that a later format can still read this one. */
interface Payload {
  readonly apiVersion: typeof GROUP_VERSION;
  readonly kind: "AddonBundle";
  readonly addon: AddonName;
  readonly objects: readonly BundleObject[];
}

/**
 * Encodes an addon's objects into ConfigMaps. Objects are kept exactly as given (in order), serialized as
 * JSON, gzip-compressed and cut into BUNDLE_PART_BYTES slices. Pure and deterministic: the same objects
 * always give the same ConfigMaps, so re-running `bootstrap up` changes nothing.
 *
 * Why ConfigMaps and not a CRD: bootstrap writes them before the operator (and its CRDs) may exist, and
 * `kubectl get cm -n kubelab-system -l kubelab.dev/addon-bundle` is enough to inspect them.
 */
export function encodeBundle(input: {
  readonly addon: AddonName;
  readonly source: BundleSource;
  readonly objects: readonly BundleObject[];
  readonly namespace?: string;
  readonly partBytes?: number;
}): EncodedBundle {
  const seen = new Set<string>();
  for (const object of input.objects) {
    assertObject(object);
    const identity = objectIdentity(object);
    if (seen.has(identity)) throw new Error(`the ${input.addon} bundle holds ${identity} twice`);
    seen.add(identity);
  }
  const payload: Payload = {
    apiVersion: GROUP_VERSION,
    kind: "AddonBundle",
    addon: input.addon,
    objects: input.objects,
  };
  const json = Buffer.from(JSON.stringify(payload), "utf8");
  if (json.length > MAX_BUNDLE_JSON_BYTES) {
    throw new Error(
      `the ${input.addon} bundle is ${json.length} bytes of JSON; readers refuse more than ${MAX_BUNDLE_JSON_BYTES}`,
    );
  }
  const digest = createHash("sha256").update(json).digest("hex");
  // gzip's header carries no timestamp from zlib in Node (mtime 0), so the output is deterministic.
  const compressed = gzipSync(json, { level: 9 });
  const partBytes = input.partBytes ?? BUNDLE_PART_BYTES;
  const count = Math.max(1, Math.ceil(compressed.length / partBytes));
  if (count > MAX_BUNDLE_PARTS) {
    throw new Error(
      `the ${input.addon} bundle needs ${count} ConfigMaps; readers refuse more than ${MAX_BUNDLE_PARTS}`,
    );
  }
  const namespace = input.namespace ?? OPERATOR_NAMESPACE;
  const configMap = (index: number): BundleConfigMap => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: index === 0 ? bundleHeadName(input.addon) : bundlePartName(input.addon, digest, index),
      namespace,
      labels: { [BUNDLE_LABEL]: input.addon, "app.kubernetes.io/part-of": "kubelab" },
      annotations: {
        [BundleAnnotation.digest]: digest,
        [BundleAnnotation.parts]: String(count),
        [BundleAnnotation.part]: String(index),
        [BundleAnnotation.source]: input.source,
        [BundleAnnotation.objects]: String(input.objects.length),
      },
    },
    binaryData: {
      [BUNDLE_DATA_KEY]: compressed.subarray(index * partBytes, (index + 1) * partBytes).toString("base64"),
    },
  });
  const all = Array.from({ length: count }, (_, index) => configMap(index));
  return {
    digest,
    head: all[0]!,
    parts: all.slice(1),
    sizes: { json: json.length, compressed: compressed.length },
  };
}

/** A ConfigMap as the reader sees it (from the API or an informer's cache). */
export interface StoredConfigMap {
  readonly metadata: {
    readonly name: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly binaryData?: Readonly<Record<string, string>>;
}

export type DecodeResult =
  | { readonly kind: "ok"; readonly bundle: AddonBundle }
  /** No head ConfigMap: the addon has no bundle (capture mode may make one). */
  | { readonly kind: "absent" }
  /** The head names parts that are not (yet) there: a writer is between steps, or a part was deleted. */
  | { readonly kind: "incomplete"; readonly message: string }
  /** The parts are all there but do not decode to a valid bundle: corrupted or hand-edited. */
  | { readonly kind: "invalid"; readonly message: string };

/**
 * Reads an addon's bundle from its ConfigMaps (any order, other addons' and stale parts ignored). The head
 * says how many parts make the bundle and their digest; the payload is verified against that digest, so a
 * half-written or edited bundle is reported, never half-applied.
 */
export function decodeBundle(addon: AddonName, configMaps: Iterable<StoredConfigMap>): DecodeResult {
  const mine = [...configMaps].filter((configMap) => configMap.metadata.labels?.[BUNDLE_LABEL] === addon);
  const head = mine.find((configMap) => configMap.metadata.name === bundleHeadName(addon));
  if (head === undefined) return { kind: "absent" };
  const annotations = head.metadata.annotations ?? {};
  const digest = annotations[BundleAnnotation.digest] ?? "";
  const count = Number(annotations[BundleAnnotation.parts]);
  const source = annotations[BundleAnnotation.source] as BundleSource;
  if (!/^[0-9a-f]{64}$/.test(digest) || !Number.isInteger(count) || count < 1) {
    return {
      kind: "invalid",
      message: `ConfigMap ${head.metadata.name} lacks a valid ${BundleAnnotation.digest} or ${BundleAnnotation.parts} annotation`,
    };
  }
  if (count > MAX_BUNDLE_PARTS) {
    return {
      kind: "invalid",
      message: `ConfigMap ${head.metadata.name} says ${count} parts; a bundle has at most ${MAX_BUNDLE_PARTS}`,
    };
  }
  if (!BUNDLE_SOURCES.includes(source)) {
    return { kind: "invalid", message: `ConfigMap ${head.metadata.name}: unknown bundle source "${source}"` };
  }
  const slices: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const name = index === 0 ? head.metadata.name : bundlePartName(addon, digest, index);
    const part = index === 0 ? head : mine.find((configMap) => configMap.metadata.name === name);
    if (part === undefined || part.metadata.annotations?.[BundleAnnotation.digest] !== digest) {
      return { kind: "incomplete", message: `part ${index} of ${count} (ConfigMap ${name}) is missing` };
    }
    const data = part.binaryData?.[BUNDLE_DATA_KEY];
    if (data === undefined) {
      return { kind: "invalid", message: `ConfigMap ${name} has no binaryData.${BUNDLE_DATA_KEY}` };
    }
    slices.push(Buffer.from(data, "base64"));
  }
  let json: Buffer;
  try {
    json = gunzipSync(Buffer.concat(slices), { maxOutputLength: MAX_BUNDLE_JSON_BYTES });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      return {
        kind: "invalid",
        message: `the payload decompresses to more than ${MAX_BUNDLE_JSON_BYTES} bytes (a gzip bomb?); refused`,
      };
    }
    return { kind: "invalid", message: `the payload does not decompress: ${(error as Error).message}` };
  }
  const actual = createHash("sha256").update(json).digest("hex");
  if (actual !== digest) {
    return {
      kind: "invalid",
      message: `the payload's sha256 ${actual.slice(0, 12)} is not ${digest.slice(0, 12)}`,
    };
  }
  let payload: Payload;
  try {
    payload = JSON.parse(json.toString("utf8")) as Payload;
    if (payload.kind !== "AddonBundle" || payload.addon !== addon || !Array.isArray(payload.objects)) {
      throw new Error(`not an AddonBundle of ${addon}`);
    }
    for (const object of payload.objects as readonly BundleObject[]) assertObject(object);
  } catch (error) {
    return { kind: "invalid", message: `the payload is not a valid bundle: ${(error as Error).message}` };
  }
  return { kind: "ok", bundle: { addon, source, digest, objects: payload.objects } };
}

/**
 * Part ConfigMaps left over from earlier versions of the bundle (their digest is not the head's): the
 * writer deletes them after writing the new head.
 */
export function staleBundleParts(
  addon: AddonName,
  digest: string,
  configMaps: Iterable<StoredConfigMap>,
): string[] {
  return [...configMaps]
    .filter(
      (configMap) =>
        configMap.metadata.labels?.[BUNDLE_LABEL] === addon &&
        configMap.metadata.name !== bundleHeadName(addon) &&
        configMap.metadata.annotations?.[BundleAnnotation.digest] !== digest,
    )
    .map((configMap) => configMap.metadata.name)
    .sort();
}

/**
 * `group/kind/namespace/name` of an object (`apps/DaemonSet/kube-system/calico-node`, `/ConfigMap/...` for
 * the core group, an empty namespace for cluster-scoped objects). The version is left out: one object is
 * the same object whatever version it is read in.
 */
export function objectIdentity(object: {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string | undefined };
}): string {
  const slash = object.apiVersion.indexOf("/");
  const group = slash === -1 ? "" : object.apiVersion.slice(0, slash);
  return `${group}/${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
}

function assertObject(object: BundleObject): void {
  if (
    typeof object !== "object" ||
    object === null ||
    typeof object.apiVersion !== "string" ||
    typeof object.kind !== "string" ||
    typeof object.metadata?.name !== "string" ||
    object.metadata.name === ""
  ) {
    throw new Error(
      `a bundle object needs apiVersion, kind and metadata.name: ${JSON.stringify(object).slice(0, 200)}`,
    );
  }
}
