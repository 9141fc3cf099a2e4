// Request attributes as kube-apiserver's authorizer sees them: verb, group, resource/subresource, namespace, name.
import { expect } from "chai";

import { describeAttributes, requestAttributes } from "../../rbac/requests.ts";

describe("rbac/requests", () => {
  const attributes = (method: string, path: string, query: Record<string, unknown> = {}) => {
    const { verb, group, resource, namespace, name } = requestAttributes(method, path, query);
    return [verb, group, resource, namespace, name];
  };

  it("reads core and named groups, namespaces, names and subresources from the path", () => {
    expect(attributes("GET", "/api/v1/nodes/w1-k8s")).to.deep.equal(["get", "", "nodes", "", "w1-k8s"]);
    expect(attributes("PATCH", "/apis/kubelab.dev/v1alpha1/labclusters/lab/status")).to.deep.equal([
      "patch",
      "kubelab.dev",
      "labclusters/status",
      "",
      "lab",
    ]);
    expect(attributes("POST", "/api/v1/namespaces/default/pods/web-1/eviction")).to.deep.equal([
      "create",
      "",
      "pods/eviction",
      "default",
      "web-1",
    ]);
    expect(
      attributes("PUT", "/apis/coordination.k8s.io/v1/namespaces/kubelab-system/leases/op"),
    ).to.deep.equal(["update", "coordination.k8s.io", "leases", "kubelab-system", "op"]);
  });

  it("a GET of a collection is list, or watch with watch=true in the query or the URL; DELETE of one is deletecollection", () => {
    expect(attributes("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dw1")).to.deep.equal([
      "list",
      "",
      "pods",
      "",
      "",
    ]);
    expect(
      attributes("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets", { watch: true }),
    ).to.deep.equal(["watch", "apps", "daemonsets", "kube-system", ""]);
    expect(attributes("GET", "/api/v1/nodes?watch=1")[0]).to.equal("watch");
    expect(attributes("GET", "/api/v1/nodes", { watch: false })[0]).to.equal("list");
    expect(attributes("DELETE", "/api/v1/namespaces/x/configmaps")[0]).to.equal("deletecollection");
    expect(attributes("DELETE", "/api/v1/namespaces/x/configmaps/y")[0]).to.equal("delete");
  });

  it("namespaces are their own resource: a namespace's status and finalize are its subresources", () => {
    expect(attributes("GET", "/api/v1/namespaces")).to.deep.equal(["list", "", "namespaces", "", ""]);
    expect(attributes("GET", "/api/v1/namespaces/kube-system")).to.deep.equal([
      "get",
      "",
      "namespaces",
      "kube-system",
      "kube-system",
    ]);
    expect(attributes("PUT", "/api/v1/namespaces/gone/finalize")).to.deep.equal([
      "update",
      "",
      "namespaces/finalize",
      "gone",
      "gone",
    ]);
  });

  it("discovery and other non-resource paths are marked as such", () => {
    for (const path of ["/api", "/apis", "/api/v1", "/apis/kubelab.dev/v1alpha1", "/version", "/healthz"]) {
      expect(requestAttributes("GET", path).nonResourcePath, path).to.equal(path);
    }
    expect(describeAttributes(requestAttributes("GET", "/apis/apps/v1"))).to.equal("get /apis/apps/v1");
    expect(
      describeAttributes(requestAttributes("POST", "/apis/events.k8s.io/v1/namespaces/default/events")),
    ).to.equal("create events.events.k8s.io in default");
  });

  it("reads an escaped name as the server does (system%3Acoredns is system:coredns)", () => {
    expect(
      requestAttributes("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Acoredns").name,
    ).to.equal("system:coredns");
  });
});
