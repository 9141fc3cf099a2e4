// The host's kubeconfig of a podman lab, built from admin.conf's credentials only, with the server we choose.
import { parse } from "yaml";

import { renderEmbeddedKubeconfig } from "../../controlplane/kubeconfig.ts";
import { StateError } from "../../errors.ts";

interface NamedEntry<T> {
  readonly name?: unknown;
  readonly cluster?: T;
  readonly user?: T;
  readonly context?: T;
}

/**
 * A kubeconfig for the host from the text of a node's admin.conf: the CA of its current context's cluster
 * and the client certificate and key of its user, nothing else. The server is `server`, set by the
 * provider to the address the host reaches; exec plugins, proxy-url, tokens and insecure settings in the
 * node's file are never carried over. StateError when the file holds no embedded certificate and key.
 */
export function hostKubeconfig(adminConf: string, options: { server: string; clusterName: string }): string {
  const config = (parse(adminConf) ?? {}) as {
    "current-context"?: unknown;
    contexts?: NamedEntry<{ cluster?: unknown; user?: unknown }>[];
    clusters?: NamedEntry<Record<string, unknown>>[];
    users?: NamedEntry<Record<string, unknown>>[];
  };
  const named = <T>(list: NamedEntry<T>[] | undefined, name: unknown): NamedEntry<T> | undefined =>
    Array.isArray(list) ? list.find((entry) => entry.name === name) : undefined;
  const context = named(config.contexts, config["current-context"])?.context;
  const cluster = named(config.clusters, context?.cluster)?.cluster;
  const user = named(config.users, context?.user)?.user;
  const field = (entry: Record<string, unknown> | undefined, key: string): string => {
    const value = entry?.[key];
    if (typeof value !== "string" || !/^[A-Za-z0-9+/=\s]+$/.test(value) || value.trim() === "") {
      throw new StateError(`the control plane's admin.conf has no embedded ${key}`, {
        hint: "kubeadm writes it with embedded certificates; check /etc/kubernetes/admin.conf on the control plane",
      });
    }
    return value.replaceAll(/\s/g, "");
  };
  return renderEmbeddedKubeconfig({
    server: options.server,
    clusterName: options.clusterName,
    user: typeof context?.user === "string" ? context.user : "kubernetes-admin",
    caData: field(cluster, "certificate-authority-data"),
    clientCertData: field(user, "client-certificate-data"),
    clientKeyData: field(user, "client-key-data"),
  });
}
