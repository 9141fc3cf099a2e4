// API discovery for bundled kinds: which REST resource serves a kind, and whether it is namespaced.
import { isNotFound } from "../../errors.ts";
import { resourcePath, type KubeClient } from "../../runtime/client.ts";

/** How a kind is served. */
export interface ResourceInfo {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The REST resource name: `daemonsets`. */
  readonly plural: string;
  readonly namespaced: boolean;
}

interface ApiResourceList {
  resources?: { name: string; kind: string; namespaced: boolean }[];
}

/**
 * Resolves kinds through the API server's discovery documents (`/api/v1`, `/apis/<group>/<version>`), so a
 * bundle may hold any kind the cluster serves, CRD-defined ones included, without a table to keep up to
 * date. One request per group-version, cached; a kind not found is looked up again next time (its CRD may
 * have been created since).
 */
export class ResourceResolver {
  readonly #client: KubeClient;
  readonly #cache = new Map<string, ApiResourceList>();

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /** The resource serving `kind` in `group`/`version`; undefined when the cluster does not serve it. */
  async resolve(
    group: string,
    version: string,
    kind: string,
    signal?: AbortSignal,
  ): Promise<ResourceInfo | undefined> {
    const groupVersion = group === "" ? version : `${group}/${version}`;
    const find = (list: ApiResourceList) =>
      list.resources?.find((resource) => resource.kind === kind && !resource.name.includes("/"));
    const cached = this.#cache.get(groupVersion);
    let found = cached === undefined ? undefined : find(cached);
    if (found === undefined) {
      const path = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
      let list: ApiResourceList;
      try {
        list = await this.#client.get<ApiResourceList>(path, signal === undefined ? {} : { signal });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      this.#cache.set(groupVersion, list);
      found = find(list);
    }
    return found === undefined
      ? undefined
      : { group, version, kind, plural: found.name, namespaced: found.namespaced };
  }
}

/** The REST path of one object served by `resource` (its namespace ignored when cluster-scoped). */
export function objectPath(
  resource: ResourceInfo,
  ref: { readonly namespace?: string | undefined; readonly name: string },
): string {
  return resourcePath({
    group: resource.group,
    version: resource.version,
    plural: resource.plural,
    namespace: resource.namespaced ? ref.namespace : undefined,
    name: ref.name,
  });
}
