// The API as plain JSON, exactly as the server sends it: for reads that must keep every field and time as served.
import {
  ApiException,
  HttpMethod,
  KubernetesObjectApi,
  Watch,
  type KubeConfig,
} from "@kubernetes/client-node";

/**
 * GET/POST/DELETE of any API path with the kubeconfig's credentials and CA, returning the parsed JSON body.
 * client-node's typed models turn times into Dates (eventTime loses its microseconds) and drop fields they
 * do not name; the trace reads what the API server said, so it takes the body as is. Transport and auth
 * are client-node's (the same path as RawApplyApi in client.ts); non-2xx answers throw its ApiException.
 */
export class RawJsonApi extends KubernetesObjectApi {
  static forConfig(config: KubeConfig): RawJsonApi {
    return config.makeApiClient(RawJsonApi);
  }

  async request<T>(
    method: "GET" | "POST" | "DELETE",
    path: string,
    options: { query?: Readonly<Record<string, string | undefined>>; body?: unknown } = {},
  ): Promise<T> {
    const response = await this.#send(method, path, options);
    if (response.status < 200 || response.status > 299) {
      throw new ApiException(response.status, `${method} ${path}`, response.text, response.headers);
    }
    return JSON.parse(response.text) as T;
  }

  get<T>(path: string, query?: Readonly<Record<string, string | undefined>>): Promise<T> {
    return this.request<T>("GET", path, query === undefined ? {} : { query });
  }

  /** GET of a path, or undefined when the API answers 404. */
  async getIfExists<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (error) {
      if (error instanceof ApiException && Number(error.code) === 404) return undefined;
      throw error;
    }
  }

  /** The text of a non-resource path (/metrics, /version), or undefined when the server refuses it. */
  async getText(path: string): Promise<string | undefined> {
    const response = await this.#send("GET", path, {});
    return response.status >= 200 && response.status <= 299 ? response.text : undefined;
  }

  async #send(
    method: "GET" | "POST" | "DELETE",
    path: string,
    options: { query?: Readonly<Record<string, string | undefined>>; body?: unknown },
  ): Promise<{ status: number; text: string; headers: Record<string, string> }> {
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod[method]);
    request.setHeaderParam("Accept", "application/json, */*;q=0.8");
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) request.setQueryParam(name, value);
    }
    if (options.body !== undefined) {
      request.setHeaderParam("Content-Type", "application/json");
      request.setBody(JSON.stringify(options.body));
    }
    await this.configuration.authMethods.default?.applySecurityAuthentication(request);
    const response = await this.configuration.httpApi.send(request).toPromise();
    return { status: response.httpStatusCode, text: await response.body.text(), headers: response.headers };
  }
}

/** One change a watch delivered: ADDED, MODIFIED, DELETED or BOOKMARK, and the object as JSON. */
export type WatchHandler = (type: string, object: unknown) => void;

/**
 * Starts a watch on `path` (client-node's Watch: the objects arrive as the server's JSON) and resolves with
 * a function that stops it. `onDone` is called once when the server or an error ends it.
 */
export async function startWatch(
  config: KubeConfig,
  path: string,
  query: Readonly<Record<string, string>>,
  onChange: WatchHandler,
  onDone: (error: unknown) => void,
): Promise<() => void> {
  const request = await new Watch(config).watch(path, query, onChange, onDone);
  return () => request.abort();
}
