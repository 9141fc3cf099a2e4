// Kubernetes manifests as data: multi-document YAML to objects, and the order to apply them in.
import type { KubernetesObject } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";

/**
 * Parses multi-document YAML into objects: empty documents are dropped and `kind: List` is flattened.
 * Throws on YAML errors or documents without apiVersion/kind/metadata.name, naming the document.
 */
export function parseManifests(text: string, source: string): KubernetesObject[] {
  const objects: KubernetesObject[] = [];
  parseAllDocuments(text).forEach((document, index) => {
    if (document.errors.length > 0) {
      throw new Error(`${source}: document ${index + 1}: ${document.errors[0]?.message ?? "invalid YAML"}`);
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return;
    const object = value as KubernetesObject & { items?: KubernetesObject[] };
    if (object.kind === "List" && Array.isArray(object.items)) {
      objects.push(...object.items);
      return;
    }
    if (typeof object.apiVersion !== "string" || typeof object.kind !== "string" || !object.metadata?.name) {
      throw new Error(
        `${source}: document ${index + 1} is not a Kubernetes object (apiVersion, kind, metadata.name)`,
      );
    }
    objects.push(object);
  });
  return objects;
}

/**
 * The order objects are applied in: CustomResourceDefinitions and Namespaces first (everything else may
 * depend on them), then the rest in manifest order. Returns the two groups.
 */
export function applyGroups(objects: readonly KubernetesObject[]): [KubernetesObject[], KubernetesObject[]] {
  const isFoundation = (object: KubernetesObject) =>
    object.kind === "CustomResourceDefinition" || object.kind === "Namespace";
  return [objects.filter(isFoundation), objects.filter((object) => !isFoundation(object))];
}
