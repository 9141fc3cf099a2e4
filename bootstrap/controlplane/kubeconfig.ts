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

/** Renders a kubeconfig for one client certificate; the private key is inside, so the file is 0600. */
export async function renderKubeconfig(identity: KubeconfigIdentity): Promise<string> {
  const base64 = async (path: string): Promise<string> => (await readFile(path)).toString("base64");
  const context = `${identity.user}@${identity.clusterName}`;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: identity.clusterName,
        cluster: {
          server: identity.server,
          "certificate-authority-data": await base64(identity.caCertPath),
        },
      },
    ],
    users: [
      {
        name: identity.user,
        user: {
          "client-certificate-data": await base64(identity.clientCertPath),
          "client-key-data": await base64(identity.clientKeyPath),
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
