// Where the API server is and how to authenticate: kubeconfig files and the in-cluster ServiceAccount.
import { readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { dirname, isAbsolute, resolve } from "node:path";

import { ConfigurationError } from "../errors.ts";

/** The in-cluster ServiceAccount files the kubelet mounts. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * A connection to one API server. Why not @kubernetes/client-node's KubeConfig: importing it loads the whole
 * generated API (about 85 MB of resident memory before the first request), over half of the operator's
 * 150 MB budget at 5,000 nodes. The operator needs only what runs it: the in-cluster ServiceAccount, or a
 * kubeconfig with a client certificate or a token (plus impersonation, which the sim lab uses to run the
 * operator as its ServiceAccount). Exec and auth-provider plugins are refused with a clear message.
 */
export interface ClusterConnection {
  /** https://host:port, no trailing slash. */
  readonly server: string;
  /** PEM CA bundle to verify the server with; undefined: the system's roots. Verification is never skipped. */
  readonly ca: string | undefined;
  /** Client certificate and key (PEM), for certificate authentication. */
  readonly cert: string | undefined;
  readonly key: string | undefined;
  /** TLS server name when it differs from the server's host. */
  readonly serverName: string | undefined;
  /** The bearer token for the next request (re-read from its file when it has one, as tokens rotate). */
  token(): string | undefined;
  /** Impersonation headers (kubeconfig `as`, `as-groups`). */
  readonly impersonate: { readonly user: string; readonly groups: readonly string[] } | undefined;
  /** Where it came from, for logs: the file and context, or "in-cluster". */
  readonly source: string;
}

interface NamedEntry<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

interface KubeconfigCluster {
  server?: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "tls-server-name"?: string;
  "proxy-url"?: string;
}

interface KubeconfigUser {
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  token?: string;
  tokenFile?: string;
  as?: string;
  "as-groups"?: string[];
  exec?: unknown;
  "auth-provider"?: unknown;
  username?: string;
}

interface KubeconfigDocument {
  "current-context"?: string;
  clusters?: NamedEntry<KubeconfigCluster>[];
  users?: NamedEntry<KubeconfigUser>[];
  contexts?: NamedEntry<{ cluster?: string; user?: string }>[];
}

/**
 * The connection the operator runs with: `file` (the --kubeconfig flag), else KUBECONFIG, else the in-cluster
 * ServiceAccount. `context` picks a context other than the current one.
 */
export async function loadConnection(
  options: { file?: string; context?: string } = {},
): Promise<ClusterConnection> {
  const files =
    options.file !== undefined && options.file !== ""
      ? [options.file]
      : (process.env.KUBECONFIG ?? "").split(":").filter((path) => path !== "");
  if (files.length > 0) return fromKubeconfigFiles(files, options.context);
  if (process.env.KUBERNETES_SERVICE_HOST !== undefined) return inCluster();
  throw new ConfigurationError("no --kubeconfig, no KUBECONFIG and not running in a cluster");
}

/** The in-cluster ServiceAccount: KUBERNETES_SERVICE_HOST/PORT, its CA and its (rotating) token file. */
export function inCluster(directory = SERVICE_ACCOUNT_DIR): ClusterConnection {
  const host = process.env.KUBERNETES_SERVICE_HOST ?? "";
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  return {
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    ca: readText(`${directory}/ca.crt`, "the in-cluster CA"),
    cert: undefined,
    key: undefined,
    serverName: undefined,
    token: rotatingToken(`${directory}/token`),
    impersonate: undefined,
    source: "in-cluster",
  };
}

/**
 * Reads and parses kubeconfig files. The YAML parser is loaded only here: an operator in the cluster (the
 * usual case) never needs it, and it costs ~10 MB of memory.
 */
export async function fromKubeconfigFiles(
  files: readonly string[],
  context?: string,
): Promise<ClusterConnection> {
  const { parse } = await import("yaml");
  const documents = files.map((file) => {
    try {
      return { file, document: parse(readFileSync(file, "utf8")) as unknown };
    } catch (error) {
      throw new ConfigurationError(`cannot read kubeconfig ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  });
  return connectionFromKubeconfig(documents, context);
}

/**
 * Parsed kubeconfig documents merged as kubectl merges KUBECONFIG: the first file that defines a name wins,
 * and the first current-context set wins. Relative paths are relative to the file that names them.
 */
export function connectionFromKubeconfig(
  documents: readonly { readonly file: string; readonly document: unknown }[],
  context?: string,
): ClusterConnection {
  const files = documents.map(({ file }) => file);
  const clusters = new Map<string, { value: KubeconfigCluster; file: string }>();
  const users = new Map<string, { value: KubeconfigUser; file: string }>();
  const contexts = new Map<string, { cluster?: string; user?: string }>();
  let current: string | undefined;
  for (const { file, document: parsed } of documents) {
    const document = (parsed ?? {}) as KubeconfigDocument;
    current ??= document["current-context"] || undefined;
    for (const entry of document.clusters ?? []) {
      if (entry.name !== undefined && entry.cluster !== undefined && !clusters.has(entry.name)) {
        clusters.set(entry.name, { value: entry.cluster, file });
      }
    }
    for (const entry of document.users ?? []) {
      if (entry.name !== undefined && !users.has(entry.name))
        users.set(entry.name, { value: entry.user ?? {}, file });
    }
    for (const entry of document.contexts ?? []) {
      if (entry.name !== undefined && entry.context !== undefined && !contexts.has(entry.name)) {
        contexts.set(entry.name, entry.context);
      }
    }
  }
  const contextName = context ?? current;
  const where = files.join(":");
  if (contextName === undefined) throw new ConfigurationError(`kubeconfig ${where} has no current-context`);
  const chosen = contexts.get(contextName);
  if (chosen === undefined) throw new ConfigurationError(`kubeconfig ${where} has no context ${contextName}`);
  const cluster = chosen.cluster === undefined ? undefined : clusters.get(chosen.cluster);
  const server = cluster?.value.server;
  if (cluster === undefined || server === undefined) {
    throw new ConfigurationError(
      `kubeconfig ${where}: context ${contextName} names no cluster with a server`,
    );
  }
  const spec = cluster.value;
  if (spec["insecure-skip-tls-verify"] === true) {
    throw new ConfigurationError(
      `kubeconfig ${where}: cluster ${chosen.cluster} sets insecure-skip-tls-verify; give it the cluster CA instead`,
    );
  }
  if (spec["proxy-url"] !== undefined) {
    throw new ConfigurationError(
      `kubeconfig ${where}: cluster ${chosen.cluster} uses proxy-url, which the operator does not support`,
    );
  }
  if (!server.startsWith("https://")) {
    throw new ConfigurationError(`kubeconfig ${where}: the server ${server} is not https`);
  }
  const user = (chosen.user === undefined ? undefined : users.get(chosen.user)) ?? {
    value: {},
    file: cluster.file,
  };
  const auth = user.value;
  if (auth.exec !== undefined || auth["auth-provider"] !== undefined) {
    throw new ConfigurationError(
      `kubeconfig ${where}: user ${chosen.user} authenticates through an exec or auth-provider plugin, which the ` +
        "operator does not run; run it in the cluster (ServiceAccount) or give it a certificate or token kubeconfig",
    );
  }
  if (auth.username !== undefined) {
    throw new ConfigurationError(`kubeconfig ${where}: basic authentication (username) is not supported`);
  }
  const data = (inline: string | undefined, path: string | undefined, file: string, what: string) => {
    if (inline !== undefined) return Buffer.from(inline, "base64").toString("utf8");
    if (path !== undefined) return readText(isAbsolute(path) ? path : resolve(dirname(file), path), what);
    return undefined;
  };
  const tokenFile =
    auth.tokenFile === undefined
      ? undefined
      : isAbsolute(auth.tokenFile)
        ? auth.tokenFile
        : resolve(dirname(user.file), auth.tokenFile);
  return {
    server: server.replace(/\/+$/, ""),
    ca: data(
      spec["certificate-authority-data"],
      spec["certificate-authority"],
      cluster.file,
      "the cluster CA",
    ),
    cert: data(
      auth["client-certificate-data"],
      auth["client-certificate"],
      user.file,
      "the client certificate",
    ),
    key: data(auth["client-key-data"], auth["client-key"], user.file, "the client key"),
    serverName: spec["tls-server-name"],
    token: tokenFile !== undefined ? rotatingToken(tokenFile) : () => auth.token,
    impersonate: auth.as === undefined ? undefined : { user: auth.as, groups: auth["as-groups"] ?? [] },
    source: `${where} (context ${contextName})`,
  };
}

/** A copy of `connection` that acts as `user` (and groups) through impersonation. */
export function impersonate(
  connection: ClusterConnection,
  user: string,
  groups: readonly string[] = [],
): ClusterConnection {
  return { ...connection, token: () => connection.token(), impersonate: { user, groups } };
}

/** A token read from a file, re-read at most once a minute: bound ServiceAccount tokens rotate. */
function rotatingToken(path: string): () => string {
  let token = readText(path, "the token file").trim();
  let readAt = Date.now();
  return () => {
    if (Date.now() - readAt > 60_000) {
      try {
        token = readFileSync(path, "utf8").trim();
        readAt = Date.now();
      } catch {
        // Keep the last token; the API server says 401 if it really expired.
      }
    }
    return token;
  };
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigurationError(`cannot read ${what} (${path}): ${(error as Error).message}`, {
      cause: error,
    });
  }
}
