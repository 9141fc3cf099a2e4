// A thin REST client for the Kubernetes API: JSON in and out, paged lists, watch streams, server-side apply.
import { KubeConfig, RequestContext, type HttpMethod } from "@kubernetes/client-node";
import { fetch, type Dispatcher } from "undici";

import { ApiConnectionError, ApiError, ConfigurationError } from "../errors.ts";

/**
 * Why a client of our own instead of the generated API classes: the operator needs raw JSON (so it can keep
 * only the fields it reads, for the memory target at 5,000 nodes), paged lists, line-by-line watch streams,
 * and server-side apply with one field manager. Authentication, TLS and kubeconfig loading stay with
 * @kubernetes/client-node's KubeConfig, so in-cluster tokens, client certificates and exec plugins all work.
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

/**
 * Loads the kubeconfig the operator runs with: the file given (flag or KUBECONFIG), else the in-cluster
 * ServiceAccount. Never skips CA verification: a kubeconfig that asks for it is refused.
 */
export function loadKubeConfig(file?: string): KubeConfig {
  const config = new KubeConfig();
  try {
    if (file !== undefined && file !== "") config.loadFromFile(file);
    else if (process.env.KUBECONFIG !== undefined && process.env.KUBECONFIG !== "") config.loadFromDefault();
    else if (process.env.KUBERNETES_SERVICE_HOST !== undefined) config.loadFromCluster();
    else throw new Error("no --kubeconfig, no KUBECONFIG and not running in a cluster");
  } catch (error) {
    throw new ConfigurationError(`cannot load a kubeconfig: ${(error as Error).message}`, { cause: error });
  }
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new ConfigurationError("the kubeconfig has no current cluster");
  if (cluster.skipTLSVerify) {
    throw new ConfigurationError(
      `the kubeconfig's cluster ${cluster.name} sets insecure-skip-tls-verify; give it the cluster CA instead`,
    );
  }
  return config;
}

/** The Kubernetes API over HTTPS with the kubeconfig's credentials. */
export class KubeClient {
  readonly server: string;
  readonly #config: KubeConfig;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  #dispatcher: Dispatcher | undefined;
  #dispatcherResolved = false;

  constructor(config: KubeConfig, options: { timeoutMs?: number; userAgent?: string } = {}) {
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new ConfigurationError("the kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/+$/, "");
    this.#config = config;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#userAgent = options.userAgent ?? "kubelab-operator";
  }

  /** Sends one request and returns the parsed JSON body; throws ApiError or ApiConnectionError. */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const response = await this.#send(method, path, options, options.timeoutMs ?? this.#timeoutMs);
    const text = await response.text();
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
    const response = await this.#send("GET", path, { query: { ...query, watch: true }, signal }, undefined);
    const body = response.body;
    if (body === null) return;
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of body) {
        onData();
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let newline = buffer.indexOf("\n");
        while (newline !== -1) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line !== "") yield JSON.parse(line) as WatchEvent;
          newline = buffer.indexOf("\n");
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      throw new ApiConnectionError("WATCH", path, error);
    }
  }

  async #send(method: string, path: string, options: RequestOptions, timeoutMs: number | undefined) {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const context = new RequestContext(url.toString(), method as HttpMethod);
    await this.#config.applySecurityAuthentication(context);
    const headers: Record<string, string> = {
      ...context.getHeaders(),
      Accept: "application/json",
      "User-Agent": this.#userAgent,
    };
    if (options.body !== undefined) headers["Content-Type"] = options.contentType ?? ContentType.json;
    const signals: AbortSignal[] = [];
    if (options.signal !== undefined) signals.push(options.signal);
    if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs));
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        dispatcher: this.#sharedDispatcher(context),
        signal: signals.length === 0 ? undefined : AbortSignal.any(signals),
      });
    } catch (error) {
      throw new ApiConnectionError(method, path, error);
    }
    if (response.status >= 400) {
      const text = await response.text().catch(() => "");
      throw apiErrorFrom(method, path, response.status, text, response.headers.get("retry-after"));
    }
    return response;
  }

  /**
   * KubeConfig builds a new connection pool for every request; keeping the first one lets requests share
   * TLS connections. The TLS material (CA, client certificate) does not change during the process's life;
   * tokens, which may, travel in headers that are computed per request.
   */
  #sharedDispatcher(context: RequestContext): Dispatcher | undefined {
    if (!this.#dispatcherResolved) {
      this.#dispatcher = context.getDispatcher();
      this.#dispatcherResolved = true;
    }
    return this.#dispatcher;
  }
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
