// Talking to the lab's API server from the host: kubeconfig, server-side apply of manifests, waits, retries.
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  HttpMethod,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1Node,
} from "@kubernetes/client-node";

import { API_GROUP, API_VERSION } from "../../operator/api/common.ts";
import { ETCDSNAPSHOT_PLURAL } from "../../operator/api/etcdsnapshot.ts";
import { LABCLUSTER_PLURAL } from "../../operator/api/labcluster.ts";
import { InterruptedError, StepError } from "../errors.ts";
import { readinessOf, waitingLine, type LiveLabCluster } from "./labcluster.ts";
import { applyGroups } from "./manifests.ts";
import { abortReason } from "../process.ts";

/** The field manager of everything bootstrap applies; the operator uses `kubelab-operator`. */
export const FIELD_MANAGER = "kubelab-bootstrap";

/** Reads a kubeconfig file (the lab's admin kubeconfig). */
export function loadKubeConfig(path: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(path);
  return config;
}

export interface ApiWaitOptions {
  readonly signal: AbortSignal;
  /** How long to keep retrying before giving up. */
  readonly timeoutMs: number;
  /** Called with a short line while waiting ("API server not reachable yet"). */
  readonly progress?: (line: string) => void;
  /** Pause between attempts; default 2 s. */
  readonly intervalMs?: number;
}

/**
 * Server-side apply of objects exactly as given. client-node's KubernetesObjectApi.patch serialises a known
 * kind through its typed model, which silently drops every field the model names differently or not at all:
 * `enum`, `x-kubernetes-int-or-string`, `x-kubernetes-list-type`... of a CRD schema. Here the discovery (the
 * resource path) is still client-node's, but the body is the object's own JSON.
 */
class RawApplyApi extends KubernetesObjectApi {
  static forConfig(config: KubeConfig): RawApplyApi {
    const client = config.makeApiClient(RawApplyApi);
    client.setDefaultNamespace(config);
    return client;
  }

  /** PATCH application/apply-patch+yaml with the object's JSON, `fieldManager` and `force`. */
  async apply(object: KubernetesObject, fieldManager: string, force: boolean): Promise<void> {
    const path = await this.specUriPath(object, "patch");
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod.PATCH);
    request.setHeaderParam("Accept", "application/json");
    request.setHeaderParam("Content-Type", PatchStrategy.ServerSideApply);
    request.setQueryParam("fieldManager", fieldManager);
    if (force) request.setQueryParam("force", "true");
    request.setBody(JSON.stringify(object));
    await this.requestPromise(request);
  }
}

/**
 * Applies `objects` with server-side apply (field manager `kubelab-bootstrap`, force: bootstrap owns these
 * fields), each sent as given (no typed re-serialisation that could drop fields), CRDs and Namespaces first, then waits until the CRDs are Established before the rest (whose
 * kinds the CRDs may define). Transient failures (API server not up yet, 5xx, 429, a kind not yet in
 * discovery) are retried until `timeoutMs`; anything else fails at once. Names the object that failed.
 */
export async function applyManifests(
  config: KubeConfig,
  objects: readonly KubernetesObject[],
  options: ApiWaitOptions & { readonly step: string },
): Promise<void> {
  const client = RawApplyApi.forConfig(config);
  const deadline = Date.now() + options.timeoutMs;
  const [foundation, rest] = applyGroups(objects);
  const apply = async (object: KubernetesObject, retryUnknownKind: boolean): Promise<void> => {
    await retryUntil(
      deadline,
      options,
      () => client.apply(object, FIELD_MANAGER, true),
      (error) => isTransient(error) || (retryUnknownKind && isUnknownKind(error)),
      () => `${object.kind} ${describe(object)}`,
      options.step,
    );
  };
  for (const object of foundation) await apply(object, false);
  const crds = foundation.filter((object) => object.kind === "CustomResourceDefinition");
  if (crds.length > 0) {
    options.progress?.(`waiting for ${crds.length} CRDs to be Established`);
    await waitForCrdsEstablished(
      config,
      crds.map((crd) => crd.metadata?.name ?? ""),
      deadline,
      options,
    );
  }
  let applied = 0;
  for (const object of rest) {
    await apply(object, true);
    applied++;
    if (applied % 10 === 0)
      options.progress?.(`applied ${applied + foundation.length}/${objects.length} objects`);
  }
  options.progress?.(`applied ${objects.length} objects`);
}

async function waitForCrdsEstablished(
  config: KubeConfig,
  names: readonly string[],
  deadline: number,
  options: ApiWaitOptions & { readonly step: string },
): Promise<void> {
  const api = config.makeApiClient(ApiextensionsV1Api);
  for (const name of names) {
    await retryUntil(
      deadline,
      options,
      async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        const established = crd.status?.conditions?.some(
          (c) => c.type === "Established" && c.status === "True",
        );
        if (!established) throw new NotYet(`CRD ${name} is not Established yet`);
      },
      notYetOrTransient,
      () => `CRD ${name}`,
      options.step,
    );
  }
}

/** Waits until every name in `nodeNames` is registered and Ready; reports who is still missing. */
export async function waitForNodesReady(
  config: KubeConfig,
  nodeNames: readonly string[],
  options: ApiWaitOptions & { readonly step: string },
): Promise<void> {
  const api = config.makeApiClient(CoreV1Api);
  const deadline = Date.now() + options.timeoutMs;
  const report = changesOnly(options.progress);
  await retryUntil(
    deadline,
    options,
    async () => {
      const nodes = await api.listNode();
      const ready = new Set(nodes.items.filter(isNodeReady).map((node) => node.metadata?.name));
      const waiting = nodeNames.filter((name) => !ready.has(name));
      if (waiting.length > 0) {
        const line = `${nodeNames.length - waiting.length}/${nodeNames.length} nodes Ready, waiting for ${waiting.join(", ")}`;
        report(line);
        throw new NotYet(line);
      }
    },
    notYetOrTransient,
    () => "nodes",
    options.step,
  );
}

/** Ready condition of a Node. */
export function isNodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Best-effort node readiness for `bootstrap status`: name -> Ready, or undefined when the API is unreachable. */
export async function readNodeReadiness(
  config: KubeConfig,
  timeoutMs: number,
): Promise<Map<string, boolean> | undefined> {
  const api = config.makeApiClient(CoreV1Api);
  try {
    const nodes = await withTimeout(api.listNode(), timeoutMs);
    return new Map(nodes.items.map((node) => [node.metadata?.name ?? "", isNodeReady(node)]));
  } catch {
    return undefined;
  }
}

/** A LabCluster (cluster-scoped) as the API server has it, or undefined when there is none (404). */
async function getLabCluster(config: KubeConfig, name: string): Promise<LiveLabCluster | undefined> {
  const api = config.makeApiClient(CustomObjectsApi);
  try {
    return (await api.getClusterCustomObject({
      group: API_GROUP,
      version: API_VERSION,
      plural: LABCLUSTER_PLURAL,
      name,
    })) as LiveLabCluster;
  } catch (error) {
    if (error instanceof ApiException && Number(error.code) === 404) return undefined;
    throw error;
  }
}

/**
 * Waits until LabCluster `name` is Ready for its current generation, reporting each change of what is not
 * true yet. On timeout the StepError names the conditions that are not True and how to look closer
 * (`kubectl describe labcluster NAME`, and `operatorLogs`: where the operator's log is).
 */
export async function waitForLabClusterReady(
  config: KubeConfig,
  name: string,
  options: ApiWaitOptions & { readonly step: string; readonly operatorLogs: string },
): Promise<LiveLabCluster> {
  const deadline = Date.now() + options.timeoutMs;
  const report = changesOnly(options.progress);
  return retryUntil(
    deadline,
    options,
    async () => {
      const labCluster = await getLabCluster(config, name);
      if (labCluster === undefined) throw new NotYet(`LabCluster ${name} does not exist`);
      const readiness = readinessOf(labCluster);
      if (readiness.ready) return labCluster;
      const line = waitingLine(readiness);
      report(line);
      throw new NotYet(line);
    },
    notYetOrTransient,
    () => `LabCluster ${name}`,
    options.step,
    `kubectl describe labcluster ${name} shows the conditions and Events; the operator's log: ${options.operatorLogs}; raise the wait with KUBELAB_READY_TIMEOUT_SECONDS`,
  );
}

/**
 * Waits until the API serves the kubelab.dev resources (LabClusters and EtcdSnapshots) again: after etcd was
 * restored, nodes are Ready from the watch cache before a custom resource's storage is (429 "storage is
 * (re)initializing").
 */
export async function waitForKubelabResources(
  config: KubeConfig,
  options: ApiWaitOptions & { readonly step: string },
): Promise<void> {
  const api = config.makeApiClient(CustomObjectsApi);
  await retryUntil(
    Date.now() + options.timeoutMs,
    options,
    async () => {
      for (const plural of [LABCLUSTER_PLURAL, ETCDSNAPSHOT_PLURAL]) {
        await api.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural, limit: 1 });
      }
    },
    isTransient,
    () => "the kubelab.dev resources",
    options.step,
  );
}

/** Best-effort LabCluster for `status` and the end of `up`: undefined when absent or the API does not answer. */
export async function readLabCluster(
  config: KubeConfig,
  name: string,
  timeoutMs: number,
): Promise<LiveLabCluster | undefined> {
  try {
    return await withTimeout(getLabCluster(config, name), timeoutMs);
  } catch {
    return undefined;
  }
}

/** A condition that is not met yet; retried like a transient error. */
class NotYet extends Error {}

/** What the waits retry: a condition not met yet, or a transient API error. */
function notYetOrTransient(error: unknown): boolean {
  return error instanceof NotYet || isTransient(error);
}

/** A progress reporter that passes a line on only when it differs from the last one. */
function changesOnly(progress: ((line: string) => void) | undefined): (line: string) => void {
  let last = "";
  return (line) => {
    if (line !== last) progress?.(line);
    last = line;
  };
}

/** `promise`, or a rejection after `timeoutMs` (the best-effort reads of `status`). */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), timeoutMs).unref()),
  ]);
}

async function retryUntil<T>(
  deadline: number,
  options: ApiWaitOptions,
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean,
  what: () => string,
  step: string,
  hint = "is the control plane up? `bootstrap status` shows the nodes; raise the wait with KUBELAB_API_TIMEOUT_SECONDS",
): Promise<T> {
  const interval = options.intervalMs ?? 2000;
  for (;;) {
    if (options.signal.aborted) throw new InterruptedError(abortReason(options.signal));
    try {
      return await attempt();
    } catch (error) {
      if (options.signal.aborted) throw new InterruptedError(abortReason(options.signal));
      if (!retryable(error)) {
        throw new StepError(step, `${what()}: ${explain(error)}`, { cause: error });
      }
      if (Date.now() + interval > deadline) {
        throw new StepError(
          step,
          `${what()}: gave up after ${Math.round(options.timeoutMs / 1000)}s: ${explain(error)}`,
          { cause: error, hint },
        );
      }
      await sleep(interval, options.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Errors worth retrying: the API server is not reachable yet, overloaded, or failing for now. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ApiException) {
    const code = Number(error.code);
    return code === 429 || code >= 500;
  }
  if (!(error instanceof Error)) return false;
  const codes = [error, error.cause].map((e) => (e as NodeJS.ErrnoException | undefined)?.code);
  if (codes.some((code) => code !== undefined && TRANSIENT_NETWORK_CODES.has(code))) return true;
  return /fetch failed|socket hang up|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH/i.test(error.message);
}

const TRANSIENT_NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);

/** KubernetesObjectApi's error for a kind that discovery does not list (yet). */
function isUnknownKind(error: unknown): boolean {
  return (
    (error instanceof Error && /Unrecognized API version and kind/i.test(error.message)) ||
    (error instanceof ApiException && Number(error.code) === 404)
  );
}

function describe(object: KubernetesObject): string {
  const namespace = object.metadata?.namespace;
  return namespace === undefined
    ? (object.metadata?.name ?? "?")
    : `${namespace}/${object.metadata?.name ?? "?"}`;
}

/** One line about an API error: the status message when the server sent one. */
function explain(error: unknown): string {
  if (error instanceof ApiException) {
    const body: unknown = error.body;
    let message: string | undefined;
    if (typeof body === "string") {
      try {
        message = (JSON.parse(body) as { message?: string }).message;
      } catch {
        message = body;
      }
    } else if (typeof body === "object" && body !== null) {
      message = (body as { message?: string }).message;
    }
    return `HTTP ${error.code}${message ? `: ${message}` : ""}`;
  }
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return `${error.message.split("\n")[0] ?? error.message}${cause}`;
  }
  return String(error);
}
