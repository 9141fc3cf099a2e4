// Schema pieces shared by kubelab's API types: the API group, timestamps and metav1.Condition.
import { z } from "zod";

/** The API group of every kubelab resource. */
export const API_GROUP = "kubelab.dev";
/** The one served and stored version. Alpha: fields may still change between releases. */
export const API_VERSION = "v1alpha1";
/** `apiVersion` as written in objects. */
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

/**
 * An RFC 3339 timestamp as the API server writes it (`2026-01-02T03:04:05Z`, fractions allowed). The CRD
 * carries `format: date-time`; the API server normalises it, so the schema does not repeat zod's pattern.
 */
export function timestamp() {
  return z.iso.datetime({ offset: true });
}

/** A non-negative whole number (counts, generations); int64 on the server. */
export function count() {
  return z.number().int().min(0);
}

export const CONDITION_STATUSES = ["True", "False", "Unknown"] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

/**
 * metav1.Condition with the same validation as the upstream type (k8s.io/apimachinery), so that tools that
 * read conditions (kubectl wait --for=condition=Ready, kstatus) understand ours.
 */
export const conditionSchema = z
  .object({
    type: z
      .string()
      .max(316)
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
      )
      .describe("Type of condition in CamelCase, such as Ready or NodesHealthy."),
    status: z.enum(CONDITION_STATUSES).describe("Status of the condition: True, False or Unknown."),
    observedGeneration: count()
      .optional()
      .describe("The .metadata.generation the condition was computed from."),
    lastTransitionTime: timestamp().describe("When the condition last changed from one status to another."),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe("A programmatic identifier in CamelCase for the last transition."),
    message: z.string().max(32768).describe("A human-readable message with details of the transition."),
  })
  .describe("A standard Kubernetes condition (metav1.Condition).");

export type Condition = z.infer<typeof conditionSchema>;

/** Conditions as a list-map keyed by type, as in every upstream API. */
export function conditionList() {
  return z
    .array(conditionSchema)
    .max(32)
    .meta(listMap(["type"]));
}

/**
 * Marks an array as a list-map: server-side apply merges its items by these keys instead of replacing the
 * whole list, and the API server rejects duplicate keys.
 */
export function listMap(keys: readonly string[]): Record<string, unknown> {
  return { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [...keys] };
}

/** Standard object metadata as the operator reads it: only what it uses, unknown fields kept. */
export const objectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
