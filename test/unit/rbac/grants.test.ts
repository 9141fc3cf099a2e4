// RBAC grants of a ServiceAccount from Roles, ClusterRoles and bindings, and the comparison with recorded calls.
import { expect } from "chai";

import { allows, compareWithGrants, grantsOf } from "../../rbac/grants.ts";
import { requestAttributes } from "../../rbac/requests.ts";

const SA = { namespace: "ops", name: "operator" };
const subject = { kind: "ServiceAccount", name: "operator", namespace: "ops" };

const objects = [
  {
    kind: "ClusterRole",
    metadata: { name: "operator" },
    rules: [
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
      {
        apiGroups: ["rbac.authorization.k8s.io"],
        resources: ["clusterroles"],
        verbs: ["escalate"],
        resourceNames: ["a", "b"],
      },
    ],
  },
  {
    kind: "ClusterRoleBinding",
    metadata: { name: "operator" },
    roleRef: { kind: "ClusterRole", name: "operator" },
    subjects: [subject],
  },
  {
    kind: "Role",
    metadata: { name: "operator", namespace: "ops" },
    rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "update"] }],
  },
  {
    kind: "RoleBinding",
    metadata: { name: "operator", namespace: "ops" },
    roleRef: { kind: "Role", name: "operator" },
    subjects: [subject],
  },
  // A ClusterRole bound in one namespace grants there only.
  {
    kind: "ClusterRole",
    metadata: { name: "reader" },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["list"] }],
  },
  {
    kind: "RoleBinding",
    metadata: { name: "reader", namespace: "kube-system" },
    roleRef: { kind: "ClusterRole", name: "reader" },
    subjects: [subject],
  },
  // Bound to someone else: not ours.
  {
    kind: "Role",
    metadata: { name: "other", namespace: "ops" },
    rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }],
  },
  {
    kind: "RoleBinding",
    metadata: { name: "other", namespace: "ops" },
    roleRef: { kind: "Role", name: "other" },
    subjects: [{ kind: "ServiceAccount", name: "someone", namespace: "ops" }],
  },
];

describe("rbac/grants", () => {
  const grants = grantsOf(objects, SA);

  it("expands the bound rules into single grants, scoped as the bindings scope them", () => {
    expect(
      grants.map((g) => `${g.verb} ${g.group}/${g.resource} ${g.namespace || "*"} ${g.name ?? ""}`.trim()),
    ).to.have.members([
      "get /nodes *",
      "patch /nodes *",
      "escalate rbac.authorization.k8s.io/clusterroles * a",
      "escalate rbac.authorization.k8s.io/clusterroles * b",
      "get coordination.k8s.io/leases ops",
      "update coordination.k8s.io/leases ops",
      "list /configmaps kube-system",
    ]);
  });

  it("a namespaced grant allows that namespace only; a named grant that name only", () => {
    const lease = grants.find((g) => g.resource === "leases" && g.verb === "get")!;
    expect(
      allows(lease, requestAttributes("GET", "/apis/coordination.k8s.io/v1/namespaces/ops/leases/x")),
    ).to.equal(true);
    expect(
      allows(lease, requestAttributes("GET", "/apis/coordination.k8s.io/v1/namespaces/other/leases/x")),
    ).to.equal(false);
    const list = grants.find((g) => g.resource === "configmaps")!;
    expect(allows(list, requestAttributes("GET", "/api/v1/configmaps")), "not across namespaces").to.equal(
      false,
    );
    const escalateA = grants.find((g) => g.name === "a")!;
    const escalate = (name: string) => ({
      ...requestAttributes("PATCH", `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`),
      verb: "escalate",
    });
    expect(allows(escalateA, escalate("a"))).to.equal(true);
    expect(allows(escalateA, escalate("c"))).to.equal(false);
  });

  it("reports calls nothing grants and grants nothing used; discovery is nobody's business", () => {
    const calls = [
      requestAttributes("GET", "/api/v1/nodes/w1"),
      requestAttributes("PATCH", "/api/v1/nodes/w1"),
      requestAttributes("GET", "/apis/coordination.k8s.io/v1/namespaces/ops/leases/op"),
      requestAttributes("GET", "/api/v1/namespaces/kube-system/configmaps"),
      requestAttributes("DELETE", "/api/v1/nodes/w1"),
      requestAttributes("GET", "/apis/kubelab.dev/v1alpha1"),
    ];
    const implied = [
      {
        ...requestAttributes("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/a"),
        verb: "escalate",
      },
    ];
    expect(compareWithGrants(calls, implied, grants)).to.deep.equal({
      ungranted: ["delete nodes w1 (cluster-wide)"],
      unused: [
        "escalate clusterroles.rbac.authorization.k8s.io b cluster-wide (ClusterRole operator)",
        "update leases.coordination.k8s.io in ops (Role ops/operator)",
      ],
    });
  });

  it("a binding to a role the manifests do not define is an error, not an empty grant", () => {
    expect(() =>
      grantsOf(
        [
          {
            kind: "ClusterRoleBinding",
            metadata: { name: "x" },
            roleRef: { kind: "ClusterRole", name: "nope" },
            subjects: [subject],
          },
        ],
        SA,
      ),
    ).to.throw("ClusterRoleBinding x refers to ClusterRole nope, which the manifests do not define");
  });
});
