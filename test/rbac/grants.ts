// RBAC rules as single grants (one verb, one resource, one scope), and the comparison with recorded calls.
import { readFile } from "node:fs/promises";
import { parseAllDocuments } from "yaml";

import { describeAttributes, type RequestAttributes } from "./requests.ts";

/** One thing a subject may do: a verb on a resource, cluster-wide ("") or in one namespace, maybe one name. */
export interface Grant {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  /** "" for cluster-wide (a ClusterRole bound by a ClusterRoleBinding). */
  readonly namespace: string;
  /** Set when the rule names its objects (`resourceNames`). */
  readonly name?: string;
  /** Where it comes from, for messages: `ClusterRole kubelab-operator` or `Role kube-system/kubelab-operator`. */
  readonly source: string;
}

interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: {
    apiGroups?: string[];
    resources?: string[];
    verbs: string[];
    resourceNames?: string[];
    nonResourceURLs?: string[];
  }[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** The subject RBAC knows a ServiceAccount as. */
export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

/**
 * Every grant the ServiceAccount gets from the Roles, ClusterRoles and bindings in `files` (YAML, several
 * documents each). A ClusterRole bound by a RoleBinding grants in that binding's namespace only, as in the
 * server. Rules with non-resource URLs are returned apart.
 */
export async function grantsFromManifests(
  files: readonly string[],
  serviceAccount: ServiceAccountRef,
): Promise<Grant[]> {
  const objects: RbacObject[] = [];
  for (const file of files) {
    for (const document of parseAllDocuments(await readFile(file, "utf8"))) {
      const object = document.toJS() as RbacObject | null;
      if (object !== null) objects.push(object);
    }
  }
  return grantsOf(objects, serviceAccount);
}

/** The grants of `serviceAccount` from RBAC objects; see grantsFromManifests. */
export function grantsOf(objects: readonly RbacObject[], serviceAccount: ServiceAccountRef): Grant[] {
  const role = (kind: string, name: string, namespace: string | undefined) =>
    objects.find(
      (object) =>
        object.kind === kind &&
        object.metadata.name === name &&
        (kind === "ClusterRole" || object.metadata.namespace === namespace),
    );
  const grants: Grant[] = [];
  for (const binding of objects) {
    if (binding.kind !== "ClusterRoleBinding" && binding.kind !== "RoleBinding") continue;
    const bindsUs = (binding.subjects ?? []).some(
      (subject) =>
        subject.kind === "ServiceAccount" &&
        subject.name === serviceAccount.name &&
        subject.namespace === serviceAccount.namespace,
    );
    if (!bindsUs || binding.roleRef === undefined) continue;
    const scope = binding.kind === "ClusterRoleBinding" ? "" : (binding.metadata.namespace ?? "default");
    const bound = role(binding.roleRef.kind, binding.roleRef.name, binding.metadata.namespace);
    if (bound === undefined) {
      throw new Error(
        `${binding.kind} ${binding.metadata.name} refers to ${binding.roleRef.kind} ${binding.roleRef.name}, which the manifests do not define`,
      );
    }
    const source =
      bound.kind === "ClusterRole"
        ? `ClusterRole ${bound.metadata.name}`
        : `Role ${bound.metadata.namespace ?? ""}/${bound.metadata.name}`;
    for (const rule of bound.rules ?? []) {
      if (rule.nonResourceURLs !== undefined) continue;
      for (const group of rule.apiGroups ?? [])
        for (const resource of rule.resources ?? [])
          for (const verb of rule.verbs) {
            const names = rule.resourceNames ?? [undefined];
            for (const name of names) {
              grants.push({
                verb,
                group,
                resource,
                namespace: scope,
                ...(name === undefined ? {} : { name }),
                source,
              });
            }
          }
    }
  }
  return grants;
}

/** Whether `grant` authorizes a request with `attributes` (wildcards are not supported: the manifests have none). */
export function allows(grant: Grant, attributes: RequestAttributes): boolean {
  return (
    attributes.nonResourcePath === undefined &&
    grant.verb === attributes.verb &&
    grant.group === attributes.group &&
    grant.resource === attributes.resource &&
    (grant.namespace === "" || grant.namespace === attributes.namespace) &&
    (grant.name === undefined || grant.name === attributes.name)
  );
}

/** `verb group/resource [name] scope (source)`, for messages. */
export function describeGrant(grant: Grant): string {
  const resource = grant.group === "" ? grant.resource : `${grant.resource}.${grant.group}`;
  const where = grant.namespace === "" ? "cluster-wide" : `in ${grant.namespace}`;
  return `${grant.verb} ${resource}${grant.name === undefined ? "" : ` ${grant.name}`} ${where} (${grant.source})`;
}

export interface RbacComparison {
  /** Calls that no grant authorizes: the manifests miss a rule. */
  readonly ungranted: string[];
  /** Grants that no call (nor any check the server makes on a call) used: the manifests grant too much. */
  readonly unused: string[];
}

/**
 * Compares what the operator did with what the manifests grant. `calls` are the resource requests made
 * (non-resource requests, discovery, are every authenticated user's and are left out), `implied` the
 * checks the server makes on top of a request's own verb (escalate, bind: see recorder.ts).
 */
export function compareWithGrants(
  calls: readonly RequestAttributes[],
  implied: readonly RequestAttributes[],
  grants: readonly Grant[],
): RbacComparison {
  const resourceCalls = calls.filter((call) => call.nonResourcePath === undefined);
  const ungranted = unique(
    [...resourceCalls, ...implied]
      .filter((call) => !grants.some((grant) => allows(grant, call)))
      .map(describeAttributes),
  );
  const unused = unique(
    grants
      .filter((grant) => ![...resourceCalls, ...implied].some((call) => allows(grant, call)))
      .map(describeGrant),
  );
  return { ungranted, unused };
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}
