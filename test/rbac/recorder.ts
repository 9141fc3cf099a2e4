// A KubeClient that records every request the operator makes (and how the server answered), for the RBAC test.
import { ApiError } from "../../operator/errors.ts";
import {
  ContentType,
  KubeClient,
  type RequestOptions,
  type WatchEvent,
} from "../../operator/runtime/client.ts";
import { requestAttributes, type RequestAttributes } from "./requests.ts";

/** One request as the authorizer saw it, with the server's status (0: no answer, connection failed). */
export interface RecordedCall {
  readonly attributes: RequestAttributes;
  readonly status: number;
  /**
   * Checks the server makes besides the request's verb, which RBAC rules must grant too: a server-side
   * apply that finds no object creates it and needs `create`; writing a ClusterRole or Role needs
   * `escalate` on it when it grants more than the writer holds, and writing a binding needs `bind` on the
   * role it refers to (the operator restores Calico's and CoreDNS's RBAC).
   */
  readonly implied: readonly RequestAttributes[];
}

const ROLE_RESOURCES: Record<string, string> = {
  clusterroles: "clusterroles",
  roles: "roles",
  clusterrolebindings: "clusterroles",
  rolebindings: "roles",
};

/**
 * The operator's own client, unchanged, with a log of every request: `request` carries everything but
 * watches (get, list pages, create, update, patch, apply, delete all go through it), `watch` the rest.
 * Construct it like KubeClient; read `calls` afterwards.
 */
export class RecordingKubeClient extends KubeClient {
  readonly calls: RecordedCall[] = [];

  override async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const attributes = requestAttributes(method, path, options.query);
    const implied = impliedChecks(attributes, options.body, options.contentType);
    try {
      const result = await super.request<T>(method, path, options);
      this.calls.push({ attributes, status: 200, implied });
      return result;
    } catch (error) {
      this.calls.push({ attributes, status: statusOf(error), implied });
      throw error;
    }
  }

  override async *watch(
    path: string,
    query: RequestOptions["query"],
    signal: AbortSignal,
    onData?: () => void,
  ): AsyncGenerator<WatchEvent> {
    const attributes = requestAttributes("GET", path, { ...query, watch: true });
    let status = 200;
    try {
      yield* super.watch(path, query, signal, onData);
    } catch (error) {
      status = statusOf(error);
      throw error;
    } finally {
      // Also when the consumer stops early: a watch that opened is a watch that was authorized.
      this.calls.push({ attributes, status, implied: [] });
    }
  }

  /** Calls the server refused as forbidden (403): each is a rule the manifests miss. */
  forbidden(): RecordedCall[] {
    return this.calls.filter((call) => call.status === 403);
  }
}

function statusOf(error: unknown): number {
  return error instanceof ApiError ? error.statusCode : 0;
}

/**
 * The checks the server makes besides the request's own verb (see RecordedCall.implied): `create` for a
 * server-side apply of an object (it creates the object when missing; the server authorizes that as a
 * create of that name), escalate on a written role, bind on the role a written binding refers to.
 */
export function impliedChecks(
  attributes: RequestAttributes,
  body: unknown,
  contentType: string | undefined,
): RequestAttributes[] {
  const checks: RequestAttributes[] = [];
  if (
    contentType === ContentType.apply &&
    attributes.verb === "patch" &&
    !attributes.resource.includes("/")
  ) {
    checks.push({ ...attributes, verb: "create" });
  }
  return [...checks, ...rbacWriteChecks(attributes, body)];
}

function rbacWriteChecks(attributes: RequestAttributes, body: unknown): RequestAttributes[] {
  if (!["create", "update", "patch"].includes(attributes.verb)) return [];
  if (attributes.group !== "rbac.authorization.k8s.io") return [];
  const target = ROLE_RESOURCES[attributes.resource];
  if (target === undefined) return [];
  const object = (body ?? {}) as { roleRef?: { kind?: string; name?: string } };
  if (attributes.resource.endsWith("bindings")) {
    const roleRef = object.roleRef;
    if (roleRef?.name === undefined) return [];
    const resource = roleRef.kind === "ClusterRole" ? "clusterroles" : "roles";
    return [{ ...attributes, verb: "bind", resource, name: roleRef.name }];
  }
  // As the server checks it: by the request's name, which a create (POST to the collection) does not have.
  return [{ ...attributes, verb: "escalate", resource: target }];
}
