// The checks the API server makes besides a request's own verb, which the recorded calls must carry.
import { expect } from "chai";

import { ContentType } from "../../../operator/runtime/client.ts";
import { impliedChecks } from "../../rbac/recorder.ts";
import { describeAttributes, requestAttributes } from "../../rbac/requests.ts";

const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const implied = (method: string, path: string, body: unknown, contentType?: string) =>
  impliedChecks(requestAttributes(method, path), body, contentType).map(describeAttributes);

describe("rbac/recorder", () => {
  it("a server-side apply may create the object: create of that name is checked too; not for a subresource", () => {
    expect(
      implied("PATCH", "/apis/batch/v1/namespaces/kube-system/cronjobs/backup", {}, ContentType.apply),
    ).to.deep.equal(["create cronjobs.batch backup in kube-system"]);
    expect(
      implied("PATCH", "/apis/kubelab.dev/v1alpha1/labclusters/lab/status", {}, ContentType.apply),
    ).to.deep.equal([]);
    expect(implied("PATCH", "/api/v1/nodes/w1", {}, ContentType.mergePatch)).to.deep.equal([]);
  });

  it("writing a role checks escalate by the request's name (none on a create); a binding checks bind on its role", () => {
    expect(implied("POST", `${RBAC}/clusterroles`, { metadata: { name: "calico-node" } })).to.deep.equal([
      "escalate clusterroles.rbac.authorization.k8s.io (cluster-wide)",
    ]);
    expect(implied("PATCH", `${RBAC}/clusterroles/calico-node`, {}, ContentType.apply)).to.deep.equal([
      "create clusterroles.rbac.authorization.k8s.io calico-node (cluster-wide)",
      "escalate clusterroles.rbac.authorization.k8s.io calico-node (cluster-wide)",
    ]);
    const binding = { roleRef: { kind: "ClusterRole", name: "system:coredns" } };
    expect(implied("POST", `${RBAC}/clusterrolebindings`, binding)).to.deep.equal([
      "bind clusterroles.rbac.authorization.k8s.io system:coredns (cluster-wide)",
    ]);
    expect(implied("GET", `${RBAC}/clusterroles/calico-node`, undefined)).to.deep.equal([]);
  });
});
