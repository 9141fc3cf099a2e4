// The sim operator's kubeconfig: the admin's credentials, impersonating the operator's ServiceAccount and its groups.
import { expect } from "chai";
import { parse, stringify } from "yaml";

import { connectionFromKubeconfig } from "../../../../operator/runtime/kubeconfig.ts";
import {
  impersonatingKubeconfig,
  serviceAccountIdentity,
} from "../../../../bootstrap/providers/sim/operator.ts";

const ADMIN = stringify({
  apiVersion: "v1",
  kind: "Config",
  clusters: [
    {
      name: "simlab",
      cluster: { server: "https://127.0.0.1:41293", "certificate-authority-data": "Q0EtUEVN" },
    },
  ],
  users: [
    {
      name: "kubernetes-admin",
      user: { "client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ" },
    },
    { name: "someone-else", user: { token: "unrelated" } },
  ],
  contexts: [
    { name: "admin@simlab", context: { cluster: "simlab", user: "kubernetes-admin" } },
    { name: "other", context: { cluster: "simlab", user: "someone-else" } },
  ],
  "current-context": "admin@simlab",
});

describe("sim operator kubeconfig", () => {
  it("acts as system:serviceaccount:kubelab-system:kubelab-operator with the ServiceAccount's groups", () => {
    expect(
      serviceAccountIdentity({ namespace: "kubelab-system", serviceAccount: "kubelab-operator" }),
    ).to.deep.equal({
      user: "system:serviceaccount:kubelab-system:kubelab-operator",
      groups: ["system:serviceaccounts", "system:serviceaccounts:kubelab-system"],
    });
  });

  it("keeps the admin's server, CA and client certificate and adds as / as-groups, as the operator reads them", () => {
    const { user, groups } = serviceAccountIdentity({
      namespace: "kubelab-system",
      serviceAccount: "kubelab-operator",
    });
    const text = impersonatingKubeconfig(ADMIN, user, groups);
    const connection = connectionFromKubeconfig([
      { file: "/lab/operator.kubeconfig", document: parse(text) },
    ]);
    expect(connection.server).to.equal("https://127.0.0.1:41293");
    expect(connection.ca).to.equal("CA-PEM");
    expect(connection.cert).to.equal("CERT");
    expect(connection.key).to.equal("KEY");
    expect(connection.impersonate).to.deep.equal({
      user: "system:serviceaccount:kubelab-system:kubelab-operator",
      groups: ["system:serviceaccounts", "system:serviceaccounts:kubelab-system"],
    });
  });

  it("holds only the current context's user: no other credential of the admin kubeconfig", () => {
    const document = parse(impersonatingKubeconfig(ADMIN, "system:serviceaccount:a:b", [])) as {
      users: { name: string; user: Record<string, unknown> }[];
      contexts: unknown[];
    };
    expect(document.users).to.have.length(1);
    expect(document.contexts).to.have.length(1);
    expect(JSON.stringify(document)).not.to.contain("unrelated");
  });
});
