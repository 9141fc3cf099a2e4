// Reading a trace from the lab's API: the pod, its owners, its node, their Events, the CNI agent (client-node).
import { ApiException, type KubeConfig } from "@kubernetes/client-node";

import { UsageError } from "../../errors.ts";
import { RawJsonApi, startWatch } from "../raw.ts";
import type { TracedEvent, TracedNode, TracedObject, TracedPod, TraceInput } from "./objects.ts";
import { cniAgentOf, currentReplicaSet, newestOwnedPod, type ListedPod } from "./select.ts";

/** What can be traced from the command line. */
export type TraceKind = "Pod" | "Deployment";

interface List<T> {
  readonly metadata?: { readonly resourceVersion?: string };
  readonly items: T[];
}

/** API paths of the kinds that own pods (the chain is walked up through them). */
const OWNER_PATHS: Readonly<Record<string, string>> = {
  ReplicaSet: "/apis/apps/v1/namespaces/{ns}/replicasets/{name}",
  Deployment: "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
  StatefulSet: "/apis/apps/v1/namespaces/{ns}/statefulsets/{name}",
  DaemonSet: "/apis/apps/v1/namespaces/{ns}/daemonsets/{name}",
  Job: "/apis/batch/v1/namespaces/{ns}/jobs/{name}",
  CronJob: "/apis/batch/v1/namespaces/{ns}/cronjobs/{name}",
  ReplicationController: "/api/v1/namespaces/{ns}/replicationcontrollers/{name}",
};

function pathOf(template: string, namespace: string, name: string): string {
  return template.replace("{ns}", encodeURIComponent(namespace)).replace("{name}", encodeURIComponent(name));
}

/** Reads traces through one client; every method is a handful of GETs, cheap enough to repeat on each change. */
export class TraceReader {
  readonly #api: RawJsonApi;
  readonly #config: KubeConfig;

  constructor(config: KubeConfig) {
    this.#config = config;
    this.#api = RawJsonApi.forConfig(config);
  }

  /**
   * The trace input of `kind` `namespace/name`: for a Pod, the pod and the controllers above it; for a
   * Deployment, its current ReplicaSet and that one's newest pod (none yet is a valid answer). A UsageError
   * (exit 2) when the object does not exist.
   */
  async read(kind: TraceKind, namespace: string, name: string): Promise<TraceInput> {
    if (kind === "Pod") {
      const pod = await this.#api.getIfExists<TracedPod>(
        pathOf("/api/v1/namespaces/{ns}/pods/{name}", namespace, name),
      );
      if (pod === undefined) throw notFound(kind, namespace, name);
      return this.#forPod(pod, await this.#ownersOf(pod));
    }
    const deployment = await this.#api.getIfExists<TracedObject>(
      pathOf(OWNER_PATHS.Deployment!, namespace, name),
    );
    if (deployment === undefined) throw notFound(kind, namespace, name);
    const replicaSets = await this.#api.get<List<TracedObject>>(
      `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets`,
    );
    const current = currentReplicaSet(replicaSets.items, deployment.metadata.uid);
    // Items of a list carry no kind.
    const replicaSet = current === undefined ? undefined : { ...current, kind: "ReplicaSet" };
    if (replicaSet === undefined) return this.#withEvents({ owners: [deployment], events: [] });
    const hash = replicaSet.metadata.labels?.["pod-template-hash"];
    const pods = await this.#api.get<List<TracedPod>>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      {
        labelSelector: hash === undefined ? undefined : `pod-template-hash=${hash}`,
      },
    );
    const pod = newestOwnedPod(pods.items, replicaSet.metadata.uid);
    if (pod === undefined) return this.#withEvents({ owners: [deployment, replicaSet], events: [] });
    return this.#forPod(pod, [deployment, replicaSet]);
  }

  /** The controllers above `object`, the top one first, as far as their kinds are known and readable. */
  async #ownersOf(object: TracedObject): Promise<TracedObject[]> {
    const owners: TracedObject[] = [];
    let current = object;
    for (let depth = 0; depth < 4; depth++) {
      const reference = current.metadata.ownerReferences?.find((owner) => owner.controller === true);
      const template = reference === undefined ? undefined : OWNER_PATHS[reference.kind];
      if (reference === undefined || template === undefined || current.metadata.namespace === undefined)
        break;
      const owner = await this.#api.getIfExists<TracedObject>(
        pathOf(template, current.metadata.namespace, reference.name),
      );
      if (owner === undefined || owner.metadata.uid !== reference.uid) break;
      owners.unshift({ ...owner, kind: reference.kind });
      current = owner;
    }
    return owners;
  }

  async #forPod(pod: TracedPod, owners: TracedObject[]): Promise<TraceInput> {
    const nodeName = pod.spec.nodeName;
    const [node, nodePods] =
      nodeName === undefined
        ? [undefined, undefined]
        : await Promise.all([
            this.#api.getIfExists<TracedNode>(`/api/v1/nodes/${encodeURIComponent(nodeName)}`),
            this.#api.get<List<ListedPod>>("/api/v1/pods", { fieldSelector: `spec.nodeName=${nodeName}` }),
          ]);
    const cniAgent = nodePods === undefined ? undefined : cniAgentOf(nodePods.items);
    return this.#withEvents({
      owners,
      pod: { ...pod, kind: "Pod" },
      ...(node === undefined ? {} : { node }),
      ...(cniAgent === undefined ? {} : { cniAgent }),
      events: [],
    });
  }

  /** Adds the Events about the pod and each owner (events.k8s.io/v1, selected by the object's uid). */
  async #withEvents(input: TraceInput): Promise<TraceInput> {
    const objects = [...input.owners, ...(input.pod === undefined ? [] : [input.pod])];
    const lists = await Promise.all(
      objects.map((object) =>
        this.#api.get<List<TracedEvent>>(
          `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(object.metadata.namespace ?? "default")}/events`,
          { fieldSelector: `regarding.uid=${object.metadata.uid}` },
        ),
      ),
    );
    return { ...input, events: lists.flatMap((list) => list.items) };
  }

  /**
   * Calls `onChange` whenever a pod or an Event of `namespace` changes (two watches), until the returned
   * function is called. A watch the server ends is started again; `onError` hears about failures to start.
   */
  async watchNamespace(
    namespace: string,
    onChange: () => void,
    onError: (error: unknown) => void,
  ): Promise<() => void> {
    let stopped = false;
    const stops: (() => void)[] = [];
    const follow = async (path: string): Promise<void> => {
      if (stopped) return;
      try {
        const stop = await startWatch(
          this.#config,
          path,
          {},
          () => onChange(),
          () => {
            // The server closes watches after a while: start again (and re-read, in case something was missed).
            if (!stopped) setTimeout(() => void follow(path).then(onChange), 500).unref();
          },
        );
        stops.push(stop);
      } catch (error) {
        onError(error);
      }
    };
    const ns = encodeURIComponent(namespace);
    await Promise.all([
      follow(`/api/v1/namespaces/${ns}/pods`),
      follow(`/apis/events.k8s.io/v1/namespaces/${ns}/events`),
    ]);
    return () => {
      stopped = true;
      for (const stop of stops) stop();
    };
  }

  /** Creates `namespace` unless it exists; true when it was created here. */
  async ensureNamespace(namespace: string, labels: Readonly<Record<string, string>>): Promise<boolean> {
    if ((await this.#api.getIfExists(`/api/v1/namespaces/${encodeURIComponent(namespace)}`)) !== undefined) {
      return false;
    }
    await this.#api.request("POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels } },
      query: { fieldManager: TRACE_FIELD_MANAGER },
    });
    return true;
  }

  /** Creates a Deployment (POST, field manager kubelab-bootstrap). */
  async createDeployment(namespace: string, deployment: object): Promise<void> {
    await this.#api.request("POST", `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`, {
      body: deployment,
      query: { fieldManager: TRACE_FIELD_MANAGER },
    });
  }

  /** Deletes a Deployment and, in the background, what it owns; a missing one is fine. */
  async deleteDeployment(namespace: string, name: string): Promise<void> {
    try {
      await this.#api.request("DELETE", pathOf(OWNER_PATHS.Deployment!, namespace, name), {
        query: { propagationPolicy: "Background" },
      });
    } catch (error) {
      if (!(error instanceof ApiException && Number(error.code) === 404)) throw error;
    }
  }
}

/** The field manager of what `trace --new` creates: bootstrap's own. */
export const TRACE_FIELD_MANAGER = "kubelab-bootstrap";

function notFound(kind: TraceKind, namespace: string, name: string): UsageError {
  return new UsageError(`${kind} ${namespace}/${name} not found`, {
    hint: `list them with \`kubectl -n ${namespace} get ${kind === "Pod" ? "pods" : "deployments"}\`, or pick another namespace with -n`,
  });
}
