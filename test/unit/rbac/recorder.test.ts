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

  it("writing a role or a binding implies no rule of its own: the escalation check compares rights, not verbs", () => {
    expect(implied("PATCH", `${RBAC}/clusterroles/calico-node`, {}, ContentType.apply)).to.deep.equal([
      "create clusterroles.rbac.authorization.k8s.io calico-node (cluster-wide)",
    ]);
    const binding = { roleRef: { kind: "ClusterRole", name: "system:coredns" } };
    expect(
      implied("PATCH", `${RBAC}/clusterrolebindings/system:coredns`, binding, ContentType.apply),
    ).to.deep.equal(["create clusterrolebindings.rbac.authorization.k8s.io system:coredns (cluster-wide)"]);
    expect(implied("GET", `${RBAC}/clusterroles/calico-node`, undefined)).to.deep.equal([]);
  });
});
