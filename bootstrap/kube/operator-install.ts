// The operator install as `bootstrap up` applies it: crds/ and manifests/ read through their kustomizations.
import { readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubernetesObject } from "@kubernetes/client-node";
import { parse } from "yaml";

import { StateError } from "../errors.ts";
import { parseManifests } from "./manifests.ts";
import { digestOf } from "../lab/state.ts";

/** This checkout's crds/ and manifests/ (what `kubectl apply -k manifests/` installs). */
export const INSTALL_DIRS = {
  crds: fileURLToPath(new URL("../../crds/", import.meta.url)),
  manifests: fileURLToPath(new URL("../../manifests/", import.meta.url)),
} as const;

/** The operator's ServiceAccount in manifests/ (in OPERATOR_NAMESPACE, kubelab-system). */
export const OPERATOR_SERVICE_ACCOUNT = "kubelab-operator";

/**
 * A fingerprint of every YAML file under `directory` (recorded by the steps that apply them, so an edited
 * manifest is applied again by the next `up`). Synchronous: step digests are; the files are small.
 */
export function installDigest(directory: string): string {
  const files = readdirSync(directory, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".yaml"))
    .sort();
  return digestOf(files.map((file) => `${file}\n${readFileSync(join(directory, file), "utf8")}`).join("\n"));
}

/** The operator's image name in manifests/ (the Deployment's container, the kustomization's `images`). */
const OPERATOR_IMAGE_NAME = "kubelab-operator";

/** The operator's Deployment in manifests/. */
const OPERATOR_DEPLOYMENT = "kubelab-operator";

interface ImageOverride {
  readonly name: string;
  readonly newName?: string;
  readonly newTag?: string;
  readonly digest?: string;
}

interface Replacement {
  readonly source: { readonly kind: string; readonly name: string; readonly fieldPath: string };
  readonly targets: readonly {
    readonly select: { readonly kind: string; readonly name: string };
    readonly fieldPaths: readonly string[];
  }[];
}

interface Kustomization {
  readonly resources?: readonly string[];
  readonly images?: readonly ImageOverride[];
  readonly replacements?: readonly Replacement[];
}

/** The kustomization fields this reader honours; any other makes it refuse rather than apply something else. */
const KNOWN_FIELDS = new Set(["apiVersion", "kind", "resources", "images", "replacements"]);

/**
 * The objects of a kustomization directory, as `kubectl kustomize DIR` builds them for the subset kubelab's
 * own kustomizations use: `resources` (files, and directories with their own kustomization), `images`
 * (name -> newName/newTag/digest) and `replacements` (field to field, `[key=value]` list selectors). An
 * integration test compares the result with kubectl's. Why not run kubectl: `up` talks to the API with its
 * own client on every provider, and a VM lab has no kubectl on the host.
 */
export async function readKustomization(
  directory: string,
  extraImages: readonly ImageOverride[] = [],
): Promise<KubernetesObject[]> {
  const file = join(directory, "kustomization.yaml");
  const kustomization = parse(await readFile(file, "utf8")) as Kustomization & Record<string, unknown>;
  const unknown = Object.keys(kustomization).filter((key) => !KNOWN_FIELDS.has(key));
  if (unknown.length > 0) {
    throw new StateError(
      `${file}: bootstrap does not know the kustomization field(s) ${unknown.join(", ")}`,
      {
        hint: "bootstrap/kube/operator-install.ts reads the kustomizations of this checkout; teach it the new field",
      },
    );
  }
  const objects: KubernetesObject[] = [];
  for (const resource of kustomization.resources ?? []) {
    const path = resolve(directory, resource);
    if (resource.endsWith(".yaml") || resource.endsWith(".yml")) {
      objects.push(...parseManifests(await readFile(path, "utf8"), path));
    } else {
      objects.push(...(await readKustomization(path)));
    }
  }
  // `extraImages` after the file's own, as `kustomize edit set image` appends an entry, and before the
  // replacements, which copy images into other fields.
  for (const image of [...(kustomization.images ?? []), ...extraImages]) setImages(objects, image);
  for (const replacement of kustomization.replacements ?? []) replace(objects, replacement);
  return objects;
}

/** The kubelab.dev CRDs (crds/). */
export function readCrds(): Promise<KubernetesObject[]> {
  return readKustomization(INSTALL_DIRS.crds);
}

/**
 * manifests/ for a lab: everything but the CRDs (applied by their own step, Established first), with the
 * operator image set to `image` as `kustomize edit set image kubelab-operator=IMAGE` would, so the backup
 * Jobs (KUBELAB_AGENT_IMAGE, by the kustomization's replacement) run the same image. `withDeployment:
 * false` leaves the operator's Deployment out (a provider that runs the operator as a local process).
 */
export async function operatorManifests(options: {
  readonly image: string;
  readonly withDeployment: boolean;
  /**
   * The manifest digest of the image bootstrap built and loaded under `image`'s tag: stamped on the pod
   * template (OPERATOR_IMAGE_ANNOTATION), so a rebuilt image under the same tag rolls the Deployment.
   */
  readonly imageDigest?: string;
}): Promise<KubernetesObject[]> {
  const objects = await readKustomization(INSTALL_DIRS.manifests, [
    { name: OPERATOR_IMAGE_NAME, ...splitImage(options.image) },
  ]);
  const kept = objects.filter(
    (object) =>
      object.kind !== "CustomResourceDefinition" &&
      (options.withDeployment ||
        !(object.kind === "Deployment" && object.metadata?.name === OPERATOR_DEPLOYMENT)),
  );
  if (options.imageDigest !== undefined) {
    for (const object of kept) {
      if (object.kind !== "Deployment" || object.metadata?.name !== OPERATOR_DEPLOYMENT) continue;
      const template = (
        object as { spec?: { template?: { metadata?: { annotations?: Record<string, string> } } } }
      ).spec?.template;
      if (template === undefined) continue;
      template.metadata = {
        ...template.metadata,
        annotations: { ...template.metadata?.annotations, [OPERATOR_IMAGE_ANNOTATION]: options.imageDigest },
      };
    }
  }
  return kept;
}

/** On the operator's pod template: the digest of the image bootstrap loaded into the nodes. */
export const OPERATOR_IMAGE_ANNOTATION = "kubelab.dev/operator-image-digest";

/** An image reference as kustomize's `images` entry: newName, newTag or digest. */
export function splitImage(image: string): { newName: string; newTag?: string; digest?: string } {
  const at = image.indexOf("@");
  const withoutDigest = at === -1 ? image : image.slice(0, at);
  const digest = at === -1 ? undefined : image.slice(at + 1);
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  const hasTag = colon > slash;
  return {
    newName: hasTag ? withoutDigest.slice(0, colon) : withoutDigest,
    ...(hasTag ? { newTag: withoutDigest.slice(colon + 1) } : {}),
    ...(digest === undefined ? {} : { digest }),
  };
}

interface Container {
  name?: string;
  image?: string;
}

function containersOf(object: KubernetesObject): Container[] {
  const spec = (object as { spec?: { template?: { spec?: Record<string, unknown> } } }).spec;
  const pod = object.kind === "Pod" ? (spec as Record<string, unknown> | undefined) : spec?.template?.spec;
  if (pod === undefined) return [];
  return [...((pod.initContainers as Container[]) ?? []), ...((pod.containers as Container[]) ?? [])];
}

/** The image without tag and digest. */
function imageName(image: string | undefined): string {
  return image === undefined ? "" : splitImage(image).newName;
}

/** kustomize's image transformer: containers whose image name is `override.name` get the new name/tag/digest. */
function setImages(objects: readonly KubernetesObject[], override: ImageOverride): void {
  for (const object of objects) {
    for (const container of containersOf(object)) {
      if (container.image === undefined || imageName(container.image) !== override.name) continue;
      const current = splitImage(container.image);
      const name = override.newName ?? current.newName;
      if (override.digest !== undefined) container.image = `${name}@${override.digest}`;
      else if (override.newTag !== undefined) container.image = `${name}:${override.newTag}`;
      else
        container.image = `${name}${current.newTag === undefined ? "" : `:${current.newTag}`}${current.digest === undefined ? "" : `@${current.digest}`}`;
    }
  }
}

/** kustomize's replacements: the source field's value copied into each target field. */
function replace(objects: readonly KubernetesObject[], replacement: Replacement): void {
  const find = (kind: string, name: string): KubernetesObject => {
    const found = objects.find((object) => object.kind === kind && object.metadata?.name === name);
    if (found === undefined) throw new StateError(`kustomization replacement: no ${kind} ${name}`);
    return found;
  };
  const { source } = replacement;
  const value = fieldAt(find(source.kind, source.name), source.fieldPath);
  if (value === undefined)
    throw new StateError(
      `kustomization replacement: ${source.kind} ${source.name} has no ${source.fieldPath}`,
    );
  for (const target of replacement.targets) {
    const object = find(target.select.kind, target.select.name);
    for (const path of target.fieldPaths) setFieldAt(object, path, value);
  }
}

/** Path segments: `a.b.[name=x].c` -> ["a", "b", {name: x}, "c"]. */
function segments(path: string): (string | { key: string; value: string })[] {
  return path.split(".").map((segment) => {
    const match = /^\[([^=]+)=(.*)\]$/.exec(segment);
    return match === null ? segment : { key: match[1]!, value: match[2]! };
  });
}

function step(current: unknown, segment: string | { key: string; value: string }): unknown {
  if (typeof segment === "string") {
    return typeof current === "object" && current !== null
      ? (current as Record<string, unknown>)[segment]
      : undefined;
  }
  return Array.isArray(current)
    ? (current as Record<string, unknown>[]).find((item) => item[segment.key] === segment.value)
    : undefined;
}

function fieldAt(object: unknown, path: string): unknown {
  return segments(path).reduce(step, object);
}

function setFieldAt(object: unknown, path: string, value: unknown): void {
  const parts = segments(path);
  const last = parts.pop();
  const parent = parts.reduce(step, object);
  if (typeof last !== "string" || typeof parent !== "object" || parent === null) {
    throw new StateError(`kustomization replacement: no field ${path}`);
  }
  (parent as Record<string, unknown>)[last] = value;
}
