// A thin REST client for the Kubernetes API: JSON in and out, paged lists, watch streams, server-side apply.
import type { IncomingMessage } from "node:http";
import { Agent, request as httpsRequest } from "node:https";

import { ApiConnectionError, ApiError } from "../errors.ts";
import type { ClusterConnection } from "./kubeconfig.ts";

/**
 * Why a client of our own instead of @kubernetes/client-node's generated API classes: the operator needs raw
 * JSON (so it keeps only the fields it reads), paged lists, line-by-line watch streams and server-side apply
 * with one field manager, and loading client-node costs ~85 MB of memory (see kubeconfig.ts). node:https with
 * a keep-alive agent does all of it.
 */
export interface RequestOptions {
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly body?: unknown;
  /** Content type of the body; JSON unless a patch type says otherwise. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Per-request timeout; defaults to the client's. */
  readonly timeoutMs?: number;
}

/** One event of a watch stream, as the API server sends it. */
export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  readonly object: Record<string, unknown>;
}

/** A page of a list: the raw items and where the next page starts. */
export interface ListPage {
  readonly items: Record<string, unknown>[];
  readonly resourceVersion: string;
  readonly continueToken: string | undefined;
}

/** Where an object lives in the REST API. `group` "" is the core group. */
export interface ResourceRef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

export const ContentType = {
  json: "application/json",
  mergePatch: "application/merge-patch+json",
  jsonPatch: "application/json-patch+json",
  /** Server-side apply; a JSON body is valid YAML. */
  apply: "application/apply-patch+yaml",
} as const;

/** The REST path of a resource: `/api/v1/...` for the core group, `/apis/<group>/<version>/...` otherwise. */
export function resourcePath(ref: ResourceRef): string {
  const base = ref.group === "" ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const namespace = ref.namespace === undefined ? "" : `/namespaces/${encodeURIComponent(ref.namespace)}`;
  const name = ref.name === undefined ? "" : `/${encodeURIComponent(ref.name)}`;
  const subresource = ref.subresource === undefined ? "" : `/${ref.subresource}`;
  return `${base}${namespace}/${ref.plural}${name}${subresource}`;
}

/** The Kubernetes API over HTTPS with one connection's credentials, on one keep-alive connection pool. */
export class KubeClient {
  readonly server: string;
  readonly #connection: ClusterConnection;
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #userAgent: string;

  constructor(connection: ClusterConnection, options: { timeoutMs?: number; userAgent?: string } = {}) {
    this.server = connection.server;
    this.#connection = connection;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#userAgent = options.userAgent ?? "kubelab-operator";
    this.#agent = new Agent({
      keepAlive: true,
      // Watches hold a connection each; requests share the rest.
      maxSockets: 64,
      ...(connection.ca === undefined ? {} : { ca: connection.ca }),
      ...(connection.cert === undefined ? {} : { cert: connection.cert }),
      ...(connection.key === undefined ? {} : { key: connection.key }),
      ...(connection.serverName === undefined ? {} : { servername: connection.serverName }),
    });
  }

  /** Closes idle connections; in-flight requests finish. */
  close(): void {
    this.#agent.destroy();
  }

  /** Sends one request and returns the parsed JSON body; throws ApiError or ApiConnectionError. */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const signal = withTimeout(options.signal, options.timeoutMs ?? this.#timeoutMs);
    const response = await this.#send(method, path, options, signal);
    let text: string;
    try {
      text = await readAll(response);
    } catch (error) {
      throw new ApiConnectionError(method, path, error);
    }
    return (text === "" ? {} : JSON.parse(text)) as T;
  }

  get<T = Record<string, unknown>>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("GET", path, options);
  }

  create<T = Record<string, unknown>>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>("POST", path, { ...options, body });
  }

  /** PUT with the object's resourceVersion: optimistic concurrency, 409 when someone else wrote first. */
  replace<T = Record<string, unknown>>(
    path: string,
    body: unknown,
    options: RequestOptions = {},
  ): Promise<T> {
    return this.request<T>("PUT", path, { ...options, body });
  }

  mergePatch<T = Record<string, unknown>>(path: string, patch: unknown, options: RequestOptions = {}) {
    return this.request<T>("PATCH", path, { ...options, body: patch, contentType: ContentType.mergePatch });
  }

  /**
   * Server-side apply: the body is the complete intent of `fieldManager`; fields it applied before and
   * leaves out are removed. `force` takes over fields another manager owns (for status we are the writer).
   */
  apply<T = Record<string, unknown>>(
    path: string,
    body: unknown,
    fieldManager: string,
    options: RequestOptions & { force?: boolean } = {},
  ): Promise<T> {
    return this.request<T>("PATCH", path, {
      ...options,
      query: { ...options.query, fieldManager, force: options.force ?? true },
      body,
      contentType: ContentType.apply,
    });
  }

  /** DELETE; a 404 counts as success (it is gone either way). Returns false when it was already gone. */
  async delete(path: string, options: RequestOptions = {}): Promise<boolean> {
    try {
      await this.request("DELETE", path, options);
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 404) return false;
      throw error;
    }
  }

  /** One page of a list (`limit` items at most), so a list of 5,000 Nodes never sits in memory at once. */
  async listPage(
    path: string,
    options: { limit: number; continueToken?: string; query?: RequestOptions["query"]; signal?: AbortSignal },
  ): Promise<ListPage> {
    const body = await this.get<{
      items?: Record<string, unknown>[] | null;
      metadata?: { resourceVersion?: string; continue?: string };
    }>(path, {
      query: { ...options.query, limit: options.limit, continue: options.continueToken },
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const next = body.metadata?.continue;
    return {
      items: body.items ?? [],
      resourceVersion: body.metadata?.resourceVersion ?? "",
      continueToken: next === undefined || next === "" ? undefined : next,
    };
  }

  /**
   * Opens a watch and yields its events as they arrive. Ends when the server closes the stream (its
   * timeoutSeconds) or `signal` aborts; throws ApiError for an error status on open. `onData` is called for
   * every chunk received, bookmarks included: the caller's stall detector.
   */
  async *watch(
    path: string,
    query: RequestOptions["query"],
    signal: AbortSignal,
    onData: () => void = () => {},
  ): AsyncGenerator<WatchEvent> {
    const response = await this.#send("GET", path, { query: { ...query, watch: true } }, signal);
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of response) {
        onData();
        buffer += decoder.decode(chunk as Buffer, { stream: true });
        // One event per line; scan by offset and keep only the unfinished tail.
        let start = 0;
        let newline = buffer.indexOf("\n", start);
        while (newline !== -1) {
          const line = buffer.slice(start, newline);
          start = newline + 1;
          if (line.trim() !== "") yield JSON.parse(line) as WatchEvent;
          newline = buffer.indexOf("\n", start);
        }
        buffer = buffer.slice(start);
      }
    } catch (error) {
      if (signal.aborted) return;
      throw new ApiConnectionError("WATCH", path, error);
    } finally {
      response.destroy();
    }
  }

  #send(
    method: string,
    path: string,
    options: RequestOptions,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string | string[]> = {
      Accept: "application/json",
      "User-Agent": this.#userAgent,
    };
    const token = this.#connection.token();
    if (token !== undefined && token !== "") headers.Authorization = `Bearer ${token}`;
    const impersonation = this.#connection.impersonate;
    if (impersonation !== undefined) {
      headers["Impersonate-User"] = impersonation.user;
      if (impersonation.groups.length > 0) headers["Impersonate-Group"] = [...impersonation.groups];
    }
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (body !== undefined) {
      headers["Content-Type"] = options.contentType ?? ContentType.json;
      headers["Content-Length"] = String(Buffer.byteLength(body));
    }
    return new Promise((resolvePromise, reject) => {
      const outgoing = httpsRequest(url, {
        method,
        headers,
        agent: this.#agent,
        ...(signal === undefined ? {} : { signal }),
      });
      outgoing.on("error", (error) => reject(new ApiConnectionError(method, path, error)));
      outgoing.on("response", (response) => {
        const status = response.statusCode ?? 0;
        if (status < 400) {
          resolvePromise(response);
          return;
        }
        readAll(response).then(
          (text) => reject(apiErrorFrom(method, path, status, text, header(response, "retry-after"))),
          (error: unknown) => reject(new ApiConnectionError(method, path, error)),
        );
      });
      outgoing.end(body);
    });
  }
}

function header(response: IncomingMessage, name: string): string | null {
  const value = response.headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

async function readAll(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** `signal` and a timeout combined; undefined timeout: only `signal`. */
function withTimeout(
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): AbortSignal | undefined {
  const signals: AbortSignal[] = [];
  if (signal !== undefined) signals.push(signal);
  if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs));
  return signals.length === 0 ? undefined : AbortSignal.any(signals);
}

function apiErrorFrom(
  method: string,
  path: string,
  statusCode: number,
  text: string,
  retryAfter: string | null,
): ApiError {
  let reason = "";
  let message = text.slice(0, 500);
  let retryAfterSeconds = retryAfter === null ? undefined : Number(retryAfter) || undefined;
  try {
    const status = JSON.parse(text) as {
      reason?: string;
      message?: string;
      details?: { retryAfterSeconds?: number };
    };
    reason = status.reason ?? "";
    message = status.message ?? message;
    retryAfterSeconds = status.details?.retryAfterSeconds ?? retryAfterSeconds;
  } catch {
    // Not a metav1.Status: keep the raw text.
  }
  return new ApiError(
    method,
    path,
    statusCode,
    reason === "" ? `HTTP${statusCode}` : reason,
    message,
    retryAfterSeconds,
  );
}
