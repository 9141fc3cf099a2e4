// kubeconfig files with the credentials embedded, so each file works on its own wherever it is copied.
import { readFile, writeFile } from "node:fs/promises";
import { stringify } from "yaml";

export interface KubeconfigIdentity {
  /** The API server URL, `https://127.0.0.1:<port>`. */
  readonly server: string;
  readonly caCertPath: string;
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  /** User and context name ("kubernetes-admin"). */
  readonly user: string;
  readonly clusterName: string;
}

/** The same identity with the PEM files' contents, base64 as kubeconfig embeds them. */
export interface KubeconfigData {
  readonly server: string;
  readonly caCertData: string;
  readonly clientCertData: string;
  readonly clientKeyData: string;
  readonly user: string;
  readonly clusterName: string;
}

/** Renders a kubeconfig for one client certificate; the private key is inside, so the file is 0600. */
export async function renderKubeconfig(identity: KubeconfigIdentity): Promise<string> {
  const base64 = async (path: string): Promise<string> => (await readFile(path)).toString("base64");
  return renderKubeconfigData({
    server: identity.server,
    caCertData: await base64(identity.caCertPath),
    clientCertData: await base64(identity.clientCertPath),
    clientKeyData: await base64(identity.clientKeyPath),
    user: identity.user,
    clusterName: identity.clusterName,
  });
}

/**
 * A kubeconfig of exactly one cluster (server, CA), one user (client certificate and key) and their context:
 * no exec plugin, token, proxy or TLS override can be in it.
 */
export function renderKubeconfigData(identity: KubeconfigData): string {
  const context = `${identity.user}@${identity.clusterName}`;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: identity.clusterName,
        cluster: { server: identity.server, "certificate-authority-data": identity.caCertData },
      },
    ],
    users: [
      {
        name: identity.user,
        user: {
          "client-certificate-data": identity.clientCertData,
          "client-key-data": identity.clientKeyData,
        },
      },
    ],
    contexts: [{ name: context, context: { cluster: identity.clusterName, user: identity.user } }],
    "current-context": context,
    preferences: {},
  });
}

/** Writes a kubeconfig with owner-only permissions (it holds a private key). */
export async function writeKubeconfig(path: string, identity: KubeconfigIdentity): Promise<void> {
  await writeFile(path, await renderKubeconfig(identity), { mode: 0o600 });
}
