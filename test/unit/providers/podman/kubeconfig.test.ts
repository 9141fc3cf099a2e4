// The host kubeconfig of a podman lab: admin.conf's certificate and key only, the server ours.
import { expect } from "chai";
import { parse, stringify } from "yaml";

import { StateError } from "../../../../bootstrap/errors.ts";
import { hostKubeconfig } from "../../../../bootstrap/providers/podman/kubeconfig.ts";

const CA = Buffer.from("-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n").toString("base64");
const CERT = Buffer.from("-----BEGIN CERTIFICATE-----\nadmin\n-----END CERTIFICATE-----\n").toString(
  "base64",
);
const KEY = Buffer.from("-----BEGIN RSA PRIVATE KEY-----\nkey\n-----END RSA PRIVATE KEY-----\n").toString(
  "base64",
);

/** admin.conf as kubeadm writes it, with what a tampered node file could add. */
function adminConf(
  extra: { user?: Record<string, unknown>; cluster?: Record<string, unknown> } = {},
): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "other",
        cluster: { server: "https://203.0.113.9:6443", "certificate-authority-data": "b3RoZXI=" },
      },
      {
        name: "kubelab",
        cluster: { server: "https://192.168.56.10:6443", "certificate-authority-data": CA, ...extra.cluster },
      },
    ],
    contexts: [
      { name: "kubernetes-admin@kubelab", context: { cluster: "kubelab", user: "kubernetes-admin" } },
    ],
    "current-context": "kubernetes-admin@kubelab",
    users: [
      {
        name: "kubernetes-admin",
        user: { "client-certificate-data": CERT, "client-key-data": KEY, ...extra.user },
      },
    ],
  });
}

describe("providers/podman/kubeconfig", () => {
  it("keeps the current context's CA, certificate and key, with the server the provider names", () => {
    const text = hostKubeconfig(adminConf(), { server: "https://192.168.56.10:6443", clusterName: "demo" });
    const config = parse(text) as Record<string, unknown>;
    expect(config.clusters).to.deep.equal([
      { name: "demo", cluster: { server: "https://192.168.56.10:6443", "certificate-authority-data": CA } },
    ]);
    expect(config.users).to.deep.equal([
      { name: "kubernetes-admin", user: { "client-certificate-data": CERT, "client-key-data": KEY } },
    ]);
    expect(config["current-context"]).to.equal("kubernetes-admin@demo");
  });

  it("never carries over an exec plugin, token, proxy or insecure setting from the node's file", () => {
    const tampered = adminConf({
      user: { exec: { command: "/bin/steal", apiVersion: "client.authentication.k8s.io/v1" }, token: "abc" },
      cluster: {
        "proxy-url": "http://203.0.113.9:3128",
        "insecure-skip-tls-verify": true,
        server: "https://evil",
      },
    });
    const text = hostKubeconfig(tampered, { server: "https://192.168.56.10:6443", clusterName: "demo" });
    expect(text).not.to.match(/exec|steal|token|proxy|insecure|evil/);
  });

  it("is a StateError when admin.conf has no embedded client certificate or key", () => {
    const noKey = stringify({
      ...(parse(adminConf()) as Record<string, unknown>),
      users: [{ name: "kubernetes-admin", user: { "client-certificate": "/etc/x.crt" } }],
    });
    expect(() => hostKubeconfig(noKey, { server: "https://x:6443", clusterName: "demo" })).to.throw(
      StateError,
      /client-certificate-data/,
    );
    expect(() => hostKubeconfig("", { server: "https://x:6443", clusterName: "demo" })).to.throw(StateError);
  });
});
