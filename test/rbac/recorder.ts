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
   * apply that finds no object creates it and needs `create` (authorized with the object's name). Writing
   * a role or a binding is also checked against the writer's own rights (escalation), which no rule names:
   * a write that fails it is a 403 like any other.
   */
  readonly implied: readonly RequestAttributes[];
}

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
 * create of that name).
 */
export function impliedChecks(
  attributes: RequestAttributes,
  _body: unknown,
  contentType: string | undefined,
): RequestAttributes[] {
  const applies = contentType === ContentType.apply && attributes.verb === "patch";
  return applies && !attributes.resource.includes("/") ? [{ ...attributes, verb: "create" }] : [];
}
