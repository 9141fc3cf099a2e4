// Turns a zod schema into a CustomResourceDefinition with a structural OpenAPI v3 schema.
import { z } from "zod";

/** A printer column of `kubectl get` (apiextensions.k8s.io/v1 CustomResourceColumnDefinition). */
export interface PrinterColumn {
  readonly name: string;
  readonly type: "string" | "integer" | "number" | "boolean" | "date";
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

/** Everything the generator needs to write one CRD; each API type exports one. */
export interface CrdDefinition {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: "Cluster" | "Namespaced";
  readonly description: string;
  readonly spec: z.ZodType;
  /** With a status schema the CRD gets the status subresource (status only writable through /status). */
  readonly status?: z.ZodType;
  readonly printerColumns: readonly PrinterColumn[];
  /** CEL rules on the whole object (they may read metadata.name), checked by the API server at admission. */
  readonly validations?: readonly ValidationRule[];
}

/** A CEL validation rule (x-kubernetes-validations) and the message the API server answers with. */
export interface ValidationRule {
  readonly rule: string;
  readonly message: string;
}

/** A JSON Schema node as the generator manipulates it. */
type SchemaNode = Record<string, unknown>;

/** `default: {}` for an object that requires nothing, so that omitting it still applies its defaults. */
function withEmptyDefault(node: SchemaNode): SchemaNode {
  const required = node.required as unknown[] | undefined;
  return required === undefined || required.length === 0 ? { ...node, default: {} } : node;
}

/** The name of the file the CRD is written to, as kubebuilder names them: `<group>_<plural>.yaml`. */
export function crdFileName(definition: CrdDefinition): string {
  return `${definition.group}_${definition.plural}.yaml`;
}

/**
 * Builds the CRD object. The schema is structural (every node typed, no additionalProperties beside
 * properties), so the API server can prune unknown fields, apply defaults and validate before storing.
 * Throws when the zod schema uses something a structural schema cannot express: the generator fails
 * instead of writing a CRD the API server would reject or silently not enforce.
 */
export function buildCrd(definition: CrdDefinition): Record<string, unknown> {
  const properties: Record<string, SchemaNode> = {
    apiVersion: { type: "string", description: "APIVersion of this object: kubelab.dev/v1alpha1." },
    kind: { type: "string", description: `Kind of this object: ${definition.kind}.` },
    metadata: { type: "object" },
    // A LabCluster written without a spec still gets every default; a spec with required fields (an
    // EtcdSnapshot's) has none to give: the API server refuses a default that fails its own schema.
    spec: ordered(withEmptyDefault(toStructuralSchema(definition.spec, "spec"))),
  };
  if (definition.status !== undefined) properties.status = toStructuralSchema(definition.status, "status");
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${definition.plural}.${definition.group}`,
      labels: { "app.kubernetes.io/part-of": "kubelab" },
    },
    spec: {
      group: definition.group,
      names: {
        kind: definition.kind,
        listKind: `${definition.kind}List`,
        plural: definition.plural,
        singular: definition.singular,
        shortNames: [...definition.shortNames],
        categories: ["kubelab"],
      },
      scope: definition.scope,
      versions: [
        {
          name: definition.version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: definition.description,
              ...(definition.validations === undefined
                ? {}
                : { "x-kubernetes-validations": definition.validations.map((rule) => ({ ...rule })) }),
              properties,
            },
          },
          ...(definition.status === undefined ? {} : { subresources: { status: {} } }),
          additionalPrinterColumns: definition.printerColumns.map((column) => ({ ...column })),
        },
      ],
    },
  };
}

/** The zod schema as a structural OpenAPI v3 schema; `path` names the field in error messages. */
export function toStructuralSchema(schema: z.ZodType, path: string): SchemaNode {
  const json = z.toJSONSchema(schema, {
    target: "openapi-3.0",
    // Fields with a default are optional to the writer; the API server fills them in.
    io: "input",
    reused: "inline",
    unrepresentable: "throw",
  }) as SchemaNode;
  delete json.$schema;
  return structural(json, path);
}

const SAFE_INTEGER_LIMITS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function structural(node: SchemaNode, path: string): SchemaNode {
  const result: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    // Pruning replaces additionalProperties: false, and a structural schema may not combine it with properties.
    if (key === "additionalProperties" && value === false) continue;
    // zod's limits of a JavaScript safe integer say nothing to the API server (int64).
    if ((key === "maximum" || key === "minimum") && SAFE_INTEGER_LIMITS.has(value as number)) continue;
    // zod adds its own ISO pattern; format: date-time is what the API server checks.
    if (key === "pattern" && node.format === "date-time") continue;
    result[key] = value;
  }
  if (result["x-kubernetes-int-or-string"] === true) return ordered(intOrString(result, path));
  const { [MESSAGE_KEY]: message, ...withoutMessage } = result;
  if (message !== undefined) {
    if (typeof message !== "string" || typeof result.pattern !== "string") {
      throw new Error(`${path}: ${MESSAGE_KEY} is for int-or-string fields and strings with a pattern`);
    }
    return structural(patternAsRule(withoutMessage, message), path);
  }
  if (result.type === undefined) {
    throw new Error(`${path}: the schema has no single type (${JSON.stringify(node)}); not structural`);
  }
  if (result.type === "object" && result.properties !== undefined) {
    const properties = result.properties as Record<string, SchemaNode>;
    result.properties = Object.fromEntries(
      Object.entries(properties).map(([name, child]) => [name, structural(child, `${path}.${name}`)]),
    );
    if (Array.isArray(result.required) && result.required.length === 0) delete result.required;
  }
  if (result.type === "object" && typeof result.additionalProperties === "object") {
    result.additionalProperties = structural(result.additionalProperties as SchemaNode, `${path}.*`);
  }
  if (result.type === "array") {
    result.items = structural(result.items as SchemaNode, `${path}[*]`);
  }
  return ordered(result);
}

/** Keys in the order people read a schema: what it is, what it accepts, then its children. */
const KEY_ORDER = [
  "description",
  "type",
  "format",
  "x-kubernetes-int-or-string",
  "anyOf",
  "enum",
  "default",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "pattern",
  "maxItems",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-validations",
  "required",
  "properties",
  "additionalProperties",
  "items",
];

function ordered(node: SchemaNode): SchemaNode {
  const rank = (key: string): number => {
    const index = KEY_ORDER.indexOf(key);
    return index === -1 ? KEY_ORDER.length : index;
  };
  return Object.fromEntries(Object.entries(node).sort(([a], [b]) => rank(a) - rank(b)));
}

/**
 * Schema metadata (`.meta({ [MESSAGE_KEY]: "..." })`) giving the message of a validation rule the generator
 * writes (an int-or-string field's, or a string pattern's); consumed by the generator, never written to the
 * CRD.
 */
export const MESSAGE_KEY = "x-kubelab-message";

/**
 * A string pattern with a message of its own becomes a CEL rule: the API server then answers with the
 * message ("must be /var/lib/kubelab/<name>...") instead of the regular expression. Same language: both are
 * RE2 on the server.
 */
function patternAsRule(node: SchemaNode, message: string): SchemaNode {
  const { pattern, ...rest } = node;
  const rules = (rest["x-kubernetes-validations"] as ValidationRule[] | undefined) ?? [];
  return {
    ...rest,
    "x-kubernetes-validations": [...rules, { rule: `self.matches(${JSON.stringify(pattern)})`, message }],
  };
}

/**
 * An int-or-string field (`maxUnhealthy: 2` or `"40%"`). A structural schema may only say
 * `anyOf: [{type: integer}, {type: string}]` here, so the constraints of each branch (minimum, pattern) are
 * enforced by a CEL rule whose message names the accepted forms.
 */
function intOrString(node: SchemaNode, path: string): SchemaNode {
  const branches = node.anyOf as SchemaNode[] | undefined;
  const integer = branches?.find((branch) => branch.type === "integer");
  const string = branches?.find((branch) => branch.type === "string");
  if (branches?.length !== 2 || integer === undefined || string === undefined) {
    throw new Error(`${path}: x-kubernetes-int-or-string needs exactly an integer and a string branch`);
  }
  const hasMinimum = typeof integer.minimum === "number" && !SAFE_INTEGER_LIMITS.has(integer.minimum);
  const hasPattern = typeof string.pattern === "string";
  const { anyOf: _anyOf, [MESSAGE_KEY]: _message, ...rest } = node;
  const result: SchemaNode = { ...rest, anyOf: [{ type: "integer" }, { type: "string" }] };
  if (hasMinimum || hasPattern) {
    const integerRule = hasMinimum ? `self >= ${String(integer.minimum)}` : "true";
    const stringRule = hasPattern ? `self.matches(${JSON.stringify(string.pattern)})` : "true";
    const integerForm = hasMinimum ? `a whole number >= ${String(integer.minimum)}` : "a whole number";
    const stringForm = hasPattern ? `a string matching ${String(string.pattern)}` : "a string";
    const message =
      typeof node[MESSAGE_KEY] === "string" ? node[MESSAGE_KEY] : `must be ${integerForm} or ${stringForm}`;
    result["x-kubernetes-validations"] = [
      { rule: `type(self) == int ? ${integerRule} : ${stringRule}`, message },
    ];
  }
  return result;
}
