// What the API server's authorizer sees of a request: verb, API group, resource, namespace, name.
//
// The same decomposition as kube-apiserver's RequestInfoFactory (k8s.io/apiserver/pkg/endpoints/request),
// so a recorded call can be checked against RBAC rules exactly as the server checks it.

/** The attributes RBAC decides on, for a resource request; `nonResourcePath` for anything else (discovery). */
export interface RequestAttributes {
  readonly verb: string;
  /** "" for the core group. */
  readonly group: string;
  /** The plural, with its subresource after a slash: `pods/eviction`, `labclusters/status`. */
  readonly resource: string;
  /** The namespace of a namespaced request; "" for cluster-scoped ones and for lists across namespaces. */
  readonly namespace: string;
  /** The object's name; "" for collections (list, watch, create). */
  readonly name: string;
  /** Set instead of the above for a non-resource request (/api, /apis/group/version, /version). */
  readonly nonResourcePath?: string;
}

/** Namespace subresources (`/namespaces/x/status`) that are not a resource inside the namespace. */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

const VERBS: Record<string, string> = {
  GET: "get",
  HEAD: "get",
  POST: "create",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};

/**
 * The attributes of `method path?query`. GET of a collection is `list`, or `watch` with `watch=true`;
 * DELETE of a collection is `deletecollection`.
 */
export function requestAttributes(
  method: string,
  path: string,
  query: Readonly<Record<string, unknown>> = {},
): RequestAttributes {
  const url = new URL(path, "https://api.invalid");
  // Segments as the server reads them: `system%3Acoredns` is the object system:coredns.
  const parts = url.pathname
    .split("/")
    .filter((part) => part !== "")
    .map((part) => decodeURIComponent(part));
  const nonResource = (): RequestAttributes => ({
    verb: method.toLowerCase(),
    group: "",
    resource: "",
    namespace: "",
    name: "",
    nonResourcePath: url.pathname,
  });
  let rest: string[];
  let group: string;
  if (parts[0] === "api" && parts.length >= 3) {
    group = "";
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 4) {
    group = parts[1]!;
    rest = parts.slice(3);
  } else {
    return nonResource();
  }
  let namespace = "";
  if (rest[0] === "namespaces" && rest.length > 1) {
    namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  const [plural = "", name = "", subresource] = rest;
  // As in the server, GET /api/v1/namespaces/x carries namespace x too: a Role in x may grant it.
  let verb = VERBS[method.toUpperCase()] ?? method.toLowerCase();
  const watching = [url.searchParams.get("watch"), query.watch].some(
    (value) => value === true || value === "true" || value === "1",
  );
  if (name === "" && verb === "get") verb = watching ? "watch" : "list";
  if (name === "" && verb === "delete") verb = "deletecollection";
  return {
    verb,
    group,
    resource: subresource === undefined ? plural : `${plural}/${subresource}`,
    namespace,
    name,
  };
}

/** `verb group/resource [namespace/name]`, for messages. */
export function describeAttributes(attributes: RequestAttributes): string {
  if (attributes.nonResourcePath !== undefined) return `${attributes.verb} ${attributes.nonResourcePath}`;
  const resource =
    attributes.group === "" ? attributes.resource : `${attributes.resource}.${attributes.group}`;
  const where = attributes.namespace === "" ? "(cluster-wide)" : `in ${attributes.namespace}`;
  return `${attributes.verb} ${resource}${attributes.name === "" ? "" : ` ${attributes.name}`} ${where}`;
}
