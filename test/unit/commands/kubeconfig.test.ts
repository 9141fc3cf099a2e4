// Merging the lab's kubeconfig into the user's: named entries replaced, others kept, current context switched.
import { expect } from "chai";
import { parse, stringify } from "yaml";

import { mergeKubeconfig, userKubeconfigPath } from "../../../bootstrap/commands/kubeconfig.ts";

const ADMIN = stringify({
  apiVersion: "v1",
  kind: "Config",
  clusters: [
    {
      name: "kubelab",
      cluster: { server: "https://192.168.56.10:6443", "certificate-authority-data": "Q0E=" },
    },
  ],
  users: [
    { name: "kubernetes-admin", user: { "client-certificate-data": "Y2VydA==", "client-key-data": "a2V5" } },
  ],
  contexts: [{ name: "kubernetes-admin@kubelab", context: { cluster: "kubelab", user: "kubernetes-admin" } }],
  "current-context": "kubernetes-admin@kubelab",
});

interface Config {
  clusters: { name: string; cluster: { server: string } }[];
  users: { name: string }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  "current-context": string;
  preferences?: unknown;
}

describe("commands/kubeconfig", () => {
  it("into nothing: a kubeconfig with the lab as cluster, user and current context kubelab-<name>", () => {
    const merged = parse(mergeKubeconfig(undefined, ADMIN, "kubelab-kubelab")) as Config;
    expect(merged.clusters.map((c) => c.name)).to.deep.equal(["kubelab-kubelab"]);
    expect(merged.clusters[0]?.cluster.server).to.equal("https://192.168.56.10:6443");
    expect(merged.users.map((u) => u.name)).to.deep.equal(["kubelab-kubelab-admin"]);
    expect(merged.contexts).to.deep.equal([
      { name: "kubelab-kubelab", context: { cluster: "kubelab-kubelab", user: "kubelab-kubelab-admin" } },
    ]);
    expect(merged["current-context"]).to.equal("kubelab-kubelab");
  });

  it("keeps the user's other entries and settings, and replaces an older copy of the lab", () => {
    const existing = stringify({
      apiVersion: "v1",
      kind: "Config",
      preferences: { colors: true },
      clusters: [
        { name: "prod", cluster: { server: "https://prod:6443" } },
        { name: "kubelab-kubelab", cluster: { server: "https://old:6443" } },
      ],
      users: [{ name: "me", user: { token: "t" } }],
      contexts: [{ name: "prod", context: { cluster: "prod", user: "me" } }],
      "current-context": "prod",
    });
    const merged = parse(mergeKubeconfig(existing, ADMIN, "kubelab-kubelab")) as Config;
    expect(merged.clusters.map((c) => [c.name, c.cluster.server])).to.deep.equal([
      ["prod", "https://prod:6443"],
      ["kubelab-kubelab", "https://192.168.56.10:6443"],
    ]);
    expect(merged.users.map((u) => u.name)).to.deep.equal(["me", "kubelab-kubelab-admin"]);
    expect(merged.contexts.map((c) => c.name)).to.deep.equal(["prod", "kubelab-kubelab"]);
    expect(merged.preferences).to.deep.equal({ colors: true });
  });

  it("writes where kubectl would: the first $KUBECONFIG entry, else ~/.kube/config", () => {
    expect(userKubeconfigPath({ KUBECONFIG: "/a/config:/b/config", HOME: "/home/u" })).to.equal("/a/config");
    expect(userKubeconfigPath({ HOME: "/home/u" })).to.equal("/home/u/.kube/config");
  });
});
